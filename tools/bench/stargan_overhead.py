"""Harness overhead for StarGAN: one training iteration through the ``stargan`` plugin vs a hand-written loop.

An iteration (Valliani et al. §5.3.2, StarGAN's schedule) is ``n_critic`` = 5 discriminator steps, each on its own
batch (WGAN-GP critic loss + domain classification, Adam), one generator step on the last batch (adversarial, domain
classification, cycle L1 and the CyCADA semantic loss through the frozen F_S and F_T) and one step of F_T on the
translated source images. The batch is ``--batch`` images (the method's ``gan_batch``: split evenly, ``batch // 3``
per domain) of 32×32 RGB from 3 domains, the paper's G (width 64, 4 residual blocks) and D (4 stride-2 layers at
32 px), LeNet classifiers. Three variants, interleaved round by round (the order rotates), each on networks built
the same way (the plugin's ``build_networks`` and the harness's LeNet, built before the clock starts):

* "hand-written loop": everything else written directly in PyTorch — batches sliced from one permutation per
  domain, random target domains and interpolation weights from one generator, the losses and the gradient penalty
  inline, the learning-rate schedule inline;
* "dabench train_gan": the plugin's stage-2 loop (``BatchSampler``, the schedule, ``train_iteration``, the
  divergence guard, progress and the loss history) — the ratio reported;
* "dabench train_iteration": the plugin's iteration function alone, on the hand-written loop's batches.

Median seconds per iteration over rounds; one torch thread unless ``--threads``. Target: ratio ≤ 1.05.

    python tools/bench/stargan_overhead.py [--steps 2] [--rounds 5] [--batch 32] [--size 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from tabulate import tabulate

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench.nn.training import build_classifier
from dabench_stargan import DEFAULTS
from dabench_stargan.iteration import BatchSampler, CriticBatch, GanState, IterationBatch, train_gan, train_iteration
from dabench_stargan.networks import build_networks

CPU = torch.device("cpu")
CLASSES, DOMAINS = 10, 3


def make_task(n: int, size: int) -> AdaptationTask:
    """``n`` random RGB source images (10 classes) and two unlabelled domains of ``n`` images."""
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(n, 3, size, size, generator=g) for _ in range(DOMAINS)]
    return AdaptationTask(
        source=LabeledSplit(images=images[0], labels=torch.randint(0, CLASSES, (n,), generator=g)),
        unlabeled={"target": UnlabeledSplit(images=images[1]), "third": UnlabeledSplit(images=images[2])},
        num_classes=CLASSES,
        input_shape=(3, size, size),
    )


def domains_of(task: AdaptationTask) -> list[torch.Tensor]:
    return [task.source.images, task.unlabeled["target"].images, task.unlabeled["third"].images]


def networks(task: AdaptationTask, params: dict[str, Any]) -> GanState:
    """G, D, F_S (and F_T, the optimisers) as the plugin builds them."""
    _, size, _ = task.input_shape
    g, d = build_networks(3, size, size, DOMAINS, g_width=64, g_res_blocks=4, d_width=64, d_layers=0, seed=0)
    with torch.random.fork_rng(devices=[]):
        f_s = build_classifier(task, params, Seeds(0)).eval()
    return GanState.create(g, d, f_s, params)


def hand_batches(task: AdaptationTask, per_domain: int, steps: int) -> list[IterationBatch]:
    """``steps`` iterations' batches: slices of one permutation per domain, codes and weights from one generator."""
    g = torch.Generator().manual_seed(1)
    domains = domains_of(task)
    orders = [torch.randperm(len(x), generator=g) for x in domains]
    ids = torch.arange(DOMAINS).repeat_interleave(per_domain)
    out, k = [], 0
    for _ in range(steps):
        critic = []
        for _ in range(5):
            index = [o[k * per_domain : (k + 1) * per_domain] for o in orders]
            images = torch.cat([x[i] for x, i in zip(domains, index, strict=True)]) * 2 - 1
            targets = (ids + torch.randint(1, DOMAINS, (len(ids),), generator=g)) % DOMAINS
            alpha = torch.rand(len(ids), generator=g)
            critic.append(CriticBatch(images, ids, targets, alpha, task.source.labels[index[0]]))
            k += 1
        out.append(IterationBatch(critic))
    return out


def hand_written(task: AdaptationTask, params: dict[str, Any], steps: int, per_domain: int) -> float:
    """The same iterations written directly in PyTorch; seconds (network build and batches excluded)."""
    state = networks(task, params)
    g, d, f_s, f_t = state.generator, state.discriminator, state.source_classifier, state.target_classifier
    opt_g, opt_d, opt_t = state.opt_g, state.opt_d, state.opt_t
    batches = hand_batches(task, per_domain, steps)
    eye = torch.eye(DOMAINS)
    g.train()
    d.train()
    start = time.perf_counter()
    for step, batch in enumerate(batches):
        lr = 1e-4 if step < steps // 2 else 1e-4 * (steps - step) / (steps - steps // 2)
        for opt in (opt_g, opt_d, opt_t):
            for group in opt.param_groups:
                group["lr"] = lr
        for b in batch.critic:
            with torch.no_grad():
                fake = g(b.images, eye[b.targets])
            src, cls = d(torch.cat([b.images, fake]))
            n = len(b.images)
            a = b.alpha.view(-1, 1, 1, 1)
            mixed = (a * b.images + (1 - a) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(mixed)[0].sum(), mixed, create_graph=True)
            gp = ((grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()
            loss_d = -src[:n].mean() + src[n:].mean() + 10 * gp + F.cross_entropy(cls[:n], b.domains)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        b = batch.critic[-1]
        ns, n = len(b.labels), len(b.images)
        d.requires_grad_(False)
        f_t.requires_grad_(False)
        out = g(torch.cat([b.images, b.images[ns:]]), torch.cat([eye[b.targets], eye[[0] * (n - ns)]]))
        fake, to_source = out[:n], out[n:]
        rec = g(fake, eye[b.domains])
        src, cls = d(fake)
        with torch.no_grad():
            pseudo = f_t((b.images[ns:] + 1) / 2).argmax(1)
        sem = (
            F.cross_entropy(f_s((rec[:ns] + 1) / 2), b.labels)
            + F.cross_entropy(f_t((fake[:ns] + 1) / 2), b.labels)
            + F.cross_entropy(f_s((to_source + 1) / 2), pseudo)
        )
        loss_g = -src.mean() + F.cross_entropy(cls, b.targets) + 10 * (b.images - rec).abs().mean() + sem
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)
        f_t.requires_grad_(True)
        f_t.train()
        loss_t = F.cross_entropy(f_t((fake[:ns].detach() + 1) / 2), b.labels)
        opt_t.zero_grad(set_to_none=True)
        loss_t.backward()
        opt_t.step()
        f_t.eval()
        if not torch.isfinite(loss_d + loss_g + loss_t):
            raise RuntimeError("diverged")
    return time.perf_counter() - start


def through_harness(task: AdaptationTask, params: dict[str, Any], steps: int, per_domain: int) -> float:
    """The plugin's ``train_gan`` for ``steps`` iterations; seconds (network build excluded)."""
    state = networks(task, params)
    sampler = BatchSampler(domains_of(task), task.source.labels, per_domain=per_domain, n_critic=5, seeds=Seeds(0),
                           device=CPU)  # fmt: skip
    start = time.perf_counter()
    train_gan(state, sampler, iterations=steps, lr=1e-4, log_every=100)
    return time.perf_counter() - start


def iteration_only(task: AdaptationTask, params: dict[str, Any], steps: int, per_domain: int) -> float:
    """``train_iteration`` on the hand-written loop's batches; seconds (network build and batches excluded)."""
    state = networks(task, params)
    batches = hand_batches(task, per_domain, steps)
    state.generator.train()
    state.discriminator.train()
    start = time.perf_counter()
    for batch in batches:
        train_iteration(state, batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="iterations per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="gan_batch: images per step, split across 3 domains")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    per_domain = args.batch // DOMAINS
    params = dict(DEFAULTS)
    task = make_task(per_domain * 5 * args.steps, args.size)
    variants: list[tuple[str, Callable[[AdaptationTask, dict[str, Any], int, int], float]]] = [
        ("hand-written loop", hand_written),
        ("dabench train_gan", through_harness),
        ("dabench train_iteration", iteration_only),
    ]
    for _, fn in variants:
        fn(task, params, 1, per_domain)  # warm-up
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(args.rounds):
        for name, fn in variants[r % 3 :] + variants[: r % 3]:
            times[name].append(fn(task, params, args.steps, per_domain) / args.steps)
    base = statistics.median(times["hand-written loop"])
    rows = [
        [name, f"{statistics.median(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}", f"{statistics.median(v) / base:.3f}"]
        for name, v in times.items()
    ]
    print(
        f"StarGAN iteration (5 critic steps + generator step + F_T step), {DOMAINS} domains × {per_domain} images of "
        f"{args.size}×{args.size} RGB (gan_batch {args.batch}), G width 64 / 4 residual blocks, D 4 layers, "
        f"{args.steps} iterations × {args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    print(
        tabulate(rows, headers=["variant", "median s/iter", "min", "max", "ratio vs hand-written"], tablefmt="github")
    )
    for name in ("dabench train_gan", "dabench train_iteration"):
        ratios = [h / b for h, b in zip(times[name], times["hand-written loop"], strict=True)]
        spread = f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}"
        print(f"{name} per-round ratio: {spread}")
    print(f"RESULT stargan_overhead {statistics.median(times['dabench train_gan']) / base:.3f}")


if __name__ == "__main__":
    main()
