"""Valliani et al.'s pixel-level adaptation (§5.3.2): StarGAN translation with CyCADA semantic consistency, then a
classifier fine-tuned on the source translated into the target domain. Three stages:

1. F_S, the harness's LeNet (:func:`~dabench.nn.training.build_classifier`: ``width``, ``hidden``), is trained on the
   labelled source with cross-entropy, Adam (``cls_lr``, the paper's 1e-3), batches of ``cls_batch`` (128) for
   ``cls_epochs`` epochs. The paper trains for 200 epochs or stops early when the validation AUC has not improved
   for ten epochs; a method sees no validation split, so there is no early stopping here.
2. One G and one D (:mod:`dabench_stargan.networks`) for all domains, and F_T (a copy of F_S), are trained for
   ``gan_iters`` iterations (:mod:`dabench_stargan.iteration`); batches of ``gan_batch`` images split evenly across
   the domains (``gan_batch // n_domains`` each, the paper's 200 = 100 source + 100 target). The loss history is
   kept on the predictor (``gan_losses``).
3. The source training images are translated into ``task.adapt_domain`` by G; a copy of F_S is fine-tuned on them
   with the source labels (Adam ``cls_lr``, batch ``cls_batch``, ``finetune_epochs`` epochs; an epoch's model is
   offered as a checkpoint when the run asks for them), and that model is the method's predictor.

Domains (:func:`stargan_domains`): ``source`` (the labelled source images) and every unlabelled domain other than
``source``, in sorted order — the plain ``uda`` protocol gives 2 domains, a protocol handing several unlabelled
domains (MNIST, USPS, MNIST-M) as many more; G and D are conditioned on a one-hot code of them. The classifiers take
``[0, 1]`` images like every dabench model (the paper normalises their inputs with mean and std 0.5 as well; for a
LeNet whose first layer is a convolution this is only an affine change of its input); G and D work in ``[−1, 1]``.

The returned :class:`StarGANPredictor` also carries ``source_predictor`` (F_S, unadapted), ``semantic_retention``
(F_S's accuracy on the translated source training images ÷ its accuracy on the untranslated ones) and ``figures()``
(a PNG grid of a few images of every domain and their translations into every domain).

Randomness comes from ``seeds`` only: G and D are built in :func:`torch.random.fork_rng` (seed ``init-gan``), F_S
from the ``init`` seed, batches, target domains and interpolation weights from their own generators.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dabench import AdaptationTask, Seeds, SpecError
from dabench.nn.training import (
    DivergenceGuard,
    IndexBatches,
    ModelPredictor,
    build_classifier,
    device_context,
    offer_checkpoint,
    prepare_model,
    steps_per_epoch,
    wants_checkpoint,
)
from dabench_stargan.iteration import BatchSampler, GanState, train_gan
from dabench_stargan.networks import build_networks, from_gan, to_gan

GRID_PER_DOMAIN = 3  # images of each domain in the translation grid
TRANSLATE_PIXELS = 1 << 18  # pixels per translation chunk: 256 images of 32 px


def stargan_domains(task: AdaptationTask) -> tuple[list[str], list[torch.Tensor]]:
    """The StarGAN domains of ``task``: ``source`` (the labelled source images) first, then every unlabelled domain
    other than ``source`` in sorted order; their names and images. A :class:`~dabench.SpecError` when there is no
    other domain or ``task.adapt_domain`` is not one of them."""
    others = sorted(name for name in task.unlabeled if name != "source")
    if not others:
        raise SpecError(
            "stargan translates between the labelled source and at least one unlabelled domain, but this task has "
            "none besides the source: use a protocol that hands the method target images (e.g. uda)."
        )
    if task.adapt_domain not in others:
        raise SpecError(
            f"stargan adapts to task.adapt_domain={task.adapt_domain!r}, which is not one of the unlabelled domains "
            f"{others}: the protocol must name one of them (not the source)."
        )
    return ["source", *others], [task.source.images, *(task.unlabeled[name].images for name in others)]


def display_name(task: AdaptationTask, name: str) -> str:
    """How the picture labels a domain: ``source`` / ``target`` by the dataset domain the protocol says they are
    (``task.info["source"]``, ``task.info["target"]``, e.g. ``mnist``, ``usps``), other names as they are."""
    if name in ("source", "target") and task.info.get(name):
        return f"{task.info[name]} ({name})"
    return name


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    device: torch.device,
    checkpoints: bool = False,
) -> None:
    """Cross-entropy with Adam (``lr``) on ``images`` (``[0, 1]``, on ``device``) for ``epochs`` epochs of
    ``batch``-image batches (stages 1 and 3); with ``checkpoints``, each epoch's model is offered to the runner.
    The model is left in eval mode."""
    batches = iter(IndexBatches(len(images), batch, generator, device))
    per_epoch = steps_per_epoch(len(images), batch)
    total = epochs * per_epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    guard = DivergenceGuard(total)
    model.train()
    for step in range(total):
        index = next(batches)
        with device_context(device):
            loss = F.cross_entropy(model(images[index]).float(), labels[index])
        guard.check(loss, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        epoch = (step + 1) // per_epoch
        if checkpoints and (step + 1) % per_epoch == 0 and wants_checkpoint(epoch):
            guard.finish(model)  # a kept checkpoint must be finite
            offer_checkpoint(epoch, model, device)
            model.train()
    guard.finish(model)
    model.eval()


@torch.no_grad()
def translate(
    generator: nn.Module, images: torch.Tensor, domain: int, n_domains: int, device: torch.device
) -> torch.Tensor:
    """``images`` (``[0, 1]``) translated by G into ``domain``, in ``[0, 1]``, on ``device``, in chunks of at most
    :data:`TRANSLATE_PIXELS` pixels."""
    generator.eval()
    code = torch.eye(n_domains, device=device)[domain]
    chunk = max(1, TRANSLATE_PIXELS // max(1, images.shape[-2] * images.shape[-1]))
    parts = []
    for i in range(0, len(images), chunk):
        x = to_gan(images[i : i + chunk].to(device))
        parts.append(from_gan(generator(x, code.expand(len(x), -1))))
    return torch.cat(parts)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    """``model``'s top-1 accuracy on ``images`` (eval mode)."""
    logits = ModelPredictor(model, device).predict(images)
    return float((logits.argmax(dim=1) == labels.cpu()).float().mean())


class StarGANPredictor(ModelPredictor):
    """The fine-tuned classifier, with what the study reports besides: ``source_predictor`` (F_S unadapted),
    ``gan_losses`` (stage 2's loss history), ``semantic_retention`` and ``figures()``."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        source_predictor: ModelPredictor,
        gan_losses: dict[str, list[float]],
        semantic_retention: float,
        domains: list[str],
        grid: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        super().__init__(model, device)
        self.source_predictor, self.gan_losses = source_predictor, gan_losses
        self.semantic_retention, self.domains, self.grid = semantic_retention, domains, grid

    def training_report(self) -> dict[str, object]:
        """Recorded as the run's ``training``: stage 2's loss history and the semantic retention."""
        return {"gan_losses": self.gan_losses, "semantic_retention": self.semantic_retention}

    def figures(self) -> dict[str, bytes]:
        """``{"translations": PNG}``: a few images of every domain (rows) and their translations into every domain
        (columns), :func:`dabench_stargan.grid.translation_grid`."""
        from dabench_stargan.grid import translation_grid

        return {"translations": translation_grid(self.grid, self.domains)}


def grid_samples(
    generator: nn.Module, domains: list[torch.Tensor], seeds: Seeds, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per domain: up to :data:`GRID_PER_DOMAIN` of its images (a seeded choice, ``grid`` seed) and their
    translations into every domain, ``([k, C, H, W], [k, n_domains, C, H, W])`` on the CPU in ``[0, 1]``."""
    g = seeds.torch("grid")
    samples = []
    for images in domains:
        picked = images[torch.randperm(len(images), generator=g)[:GRID_PER_DOMAIN].to(images.device)]
        outputs = [translate(generator, picked, j, len(domains), device).cpu() for j in range(len(domains))]
        samples.append((picked.cpu(), torch.stack(outputs, dim=1)))
    return samples


class StarGAN:
    """The ``stargan`` method; see the module docstring."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> ModelPredictor:
        p = self.params
        if task.task_type != "classification":
            raise SpecError(f"stargan is a classification method; this task is {task.task_type!r}.")
        names, images = stargan_domains(task)
        per_domain = int(p["gan_batch"]) // len(names)
        if per_domain < 2:
            raise SpecError(
                f"stargan parameter gan_batch={p['gan_batch']} gives {per_domain} image(s) per domain for "
                f"{len(names)} domains; the classifiers' BatchNorm needs at least 2: set gan_batch >= {2 * len(names)}."
            )
        if len(task.source) < 2:
            raise SpecError(f"stargan needs at least 2 labelled source images; this task has {len(task.source)}.")
        channels, height, width = task.input_shape
        g, d = build_networks(
            channels, height, width, len(names),
            g_width=int(p["g_width"]), g_res_blocks=int(p["g_res_blocks"]),
            d_width=int(p["d_width"]), d_layers=int(p["d_layers"]), seed=seeds.int("init-gan"),
        )  # fmt: skip
        g, d = prepare_model(g, device), prepare_model(d, device)
        xs, ys = task.source.images.to(device), task.source.labels.to(device)
        domains = [xs, *(x.to(device) for x in images[1:])]
        lr, batch = float(p["cls_lr"]), int(p["cls_batch"])

        # stage 1: the source classifier F_S
        with torch.random.fork_rng(devices=[]):  # the LeNet's constructors draw defaults before the seeded init
            f_s = prepare_model(build_classifier(task, p, seeds), device)
        train_classifier(
            f_s, xs, ys, epochs=int(p["cls_epochs"]), batch=batch, lr=lr,
            generator=seeds.torch("loader-classifier"), device=device,
        )  # fmt: skip
        if int(p["gan_iters"]) == 0:  # stage 1 alone: the paper's baseline CNN (the study's local / ceiling rows)
            return ModelPredictor(f_s, device)
        adapted = copy.deepcopy(f_s)  # stage 3 fine-tunes F_S as stage 1 left it

        # stage 2: G, D and F_T
        state = GanState.create(g, d, f_s, p)
        sampler = BatchSampler(
            domains, ys, per_domain=per_domain, n_critic=int(p["n_critic"]), seeds=seeds, device=device
        )
        history = train_gan(
            state, sampler, iterations=int(p["gan_iters"]), lr=float(p["lr_gan"]), log_every=int(p["log_every"])
        )

        # stage 3: translate the source into the adaptation domain, fine-tune a copy of F_S on it
        translated = translate(g, xs, names.index(task.adapt_domain), len(names), device)
        train_classifier(
            adapted, translated, ys, epochs=int(p["finetune_epochs"]), batch=batch, lr=lr,
            generator=seeds.torch("loader-finetune"), device=device, checkpoints=True,
        )  # fmt: skip
        original = accuracy(f_s, xs, ys, device)
        retention = accuracy(f_s, translated, ys, device) / original if original > 0 else float("nan")
        return StarGANPredictor(
            adapted,
            device,
            source_predictor=ModelPredictor(f_s, device),
            gan_losses=history,
            semantic_retention=retention,
            domains=[display_name(task, name) for name in names],
            grid=grid_samples(g, domains, seeds, device),
        )
