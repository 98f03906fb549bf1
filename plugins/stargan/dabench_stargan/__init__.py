"""StarGAN pixel-level adaptation with CyCADA semantic consistency, as Valliani et al. use it (plugin ``stargan``).

Cheap to import: the spec and hook only; the torch implementation lives in :mod:`dabench_stargan.networks` (G, D),
:mod:`dabench_stargan.losses` (eqs. 1–9), :mod:`dabench_stargan.iteration` (one training iteration, stage 2),
:mod:`dabench_stargan.method` (the three stages, the predictor) and :mod:`dabench_stargan.grid` (the picture).

References
----------
Choi, Choi, Kim, Ha, Kim & Choo (2018), StarGAN: Unified Generative Adversarial Networks for Multi-Domain
Image-to-Image Translation, CVPR: one generator G(x, c) conditioned on a target-domain code, a PatchGAN
discriminator with a real/fake and a domain-classification head, WGAN-GP, cycle reconstruction, n_critic = 5.
Hoffman, Tzeng, Park, Zhu, Isola, Saenko, Efros & Darrell (2018), CyCADA: Cycle-Consistent Adversarial Domain
Adaptation, ICML: semantic consistency through a frozen source classifier and a target classifier.
Valliani et al., Deploying deep learning models on unseen medical imaging using adversarial domain adaptation,
PLOS ONE (shared/papers/stargan-adversarial-da-chest-xray.txt), §5.3: the combination, its architecture and
training settings (LeNet classifiers, Adam (0.5, 0.999), lr 1e-4 decayed linearly after half of 200K iterations,
batch 200 split evenly across domains, 4 residual blocks for digits; λ_gp = 10, λ_cls = 1, λ_cyc = 10; the weight
of the semantic loss is not given: ``lambda_sem``, default 1), then fine-tuning the source classifier on the source
translated into the target domain.

Deviations, documented where they are made: the discriminator's depth is adapted to the image size (the paper's six
stride-2 layers need 128 px; 32 px digits get four, :mod:`dabench_stargan.networks`); no early stopping of the
classifiers (a method sees no validation split). ``gan_iters`` counts generator updates, each after ``n_critic``
discriminator updates on batches of their own: if the paper's "200K iterations" are StarGAN's loop iterations (one
discriminator update each, the generator every fifth), its schedule is ``gan_iters = 40000`` here.
``gan_iters = 0`` is stage 1 alone: the paper's baseline CNN (its weights equal the F_S a run with the same seed and
classifier parameters adapts), the study's local, bespoke and global models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dabench
from dabench.nn.hyperparams import ParamRange

PAPER = dabench.Citation(
    authors="Yunjey Choi, Minje Choi, Munyoung Kim, Jung-Woo Ha, Sunghun Kim, Jaegul Choo",
    title="StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation",
    year=2018,
    venue="CVPR",
    url="https://openaccess.thecvf.com/content_cvpr_2018/html/Choi_StarGAN_Unified_Generative_CVPR_2018_paper.html",
)

CYCADA = dabench.Citation(
    authors="Judy Hoffman, Eric Tzeng, Taesung Park, Jun-Yan Zhu, Phillip Isola, Kate Saenko, Alexei Efros, "
    "Trevor Darrell",
    title="CyCADA: Cycle-Consistent Adversarial Domain Adaptation",
    year=2018,
    venue="ICML",
    url="https://proceedings.mlr.press/v80/hoffman18a.html",
)

VALLIANI = dabench.Citation(
    authors="Aly A. Valliani, Faris F. Gulamali, Young Joon Kwon, Michael L. Martini, Chiatse Wang, Douglas "
    "Kondziolka, Viola J. Chen, Weichung Wang, Anthony B. Costa, Eric K. Oermann",
    title="Deploying deep learning models on unseen medical imaging using adversarial domain adaptation",
    year=2022,  # the stored text states no date; it cites work from 2022
    venue="PLOS ONE (shared/papers/stargan-adversarial-da-chest-xray.txt)",
)

DEFAULTS: dict[str, Any] = {
    # the classifiers F_S, F_T and the fine-tuned model: the harness's LeNet, Adam 1e-3, batch 128 (§5.3.1)
    "width": 32,
    "hidden": 100,
    "cls_epochs": 200,  # the paper: 200 epochs or early stopping on validation AUC (not available to a method)
    "cls_lr": 1e-3,
    "cls_batch": 128,
    "finetune_epochs": 200,  # stage 3 trains "as described in Baseline CNN classification"
    # stage 2 (§5.3.2)
    "gan_iters": 200_000,  # generator updates (see the module docstring)
    "gan_batch": 200,  # images per critic / generator step, split evenly across the domains
    "lr_gan": 1e-4,  # G, D and F_T; constant for the first half of gan_iters, then linearly toward 0
    "beta1": 0.5,
    "beta2": 0.999,
    "n_critic": 5,
    "lambda_gp": 10.0,
    "lambda_cls": 1.0,
    "lambda_cyc": 10.0,
    "lambda_sem": 1.0,  # not stated in the paper
    "task_every": 1,  # F_T steps every this many generator updates (the paper: 10 for MNIST-M → USPS)
    "g_width": 64,
    "g_res_blocks": 4,  # digits; 9 for the chest x-rays
    "d_width": 64,
    "d_layers": 0,  # 0: adapted to the image size (32 px → 4 stride-2 layers → 2×2 patches)
    "log_every": 100,  # iterations per point of the loss history
}

RANGES: dict[str, ParamRange] = {
    "width": ParamRange(1),
    "hidden": ParamRange(1),
    "cls_epochs": ParamRange(1),
    "cls_lr": ParamRange(0, low_open=True),
    "cls_batch": ParamRange(2),
    "finetune_epochs": ParamRange(1),
    "gan_iters": ParamRange(0),
    "gan_batch": ParamRange(4),
    "lr_gan": ParamRange(0, low_open=True),
    "beta1": ParamRange(0, 1, high_open=True),
    "beta2": ParamRange(0, 1, high_open=True),
    "n_critic": ParamRange(1),
    "lambda_gp": ParamRange(0),
    "lambda_cls": ParamRange(0),
    "lambda_cyc": ParamRange(0),
    "lambda_sem": ParamRange(0),
    "task_every": ParamRange(1),
    "g_width": ParamRange(1),
    "g_res_blocks": ParamRange(0),
    "d_width": ParamRange(1),
    "d_layers": ParamRange(0),
    "log_every": ParamRange(1),
}

TEST_PARAMS: Mapping[str, Any] = {
    "width": 4,
    "hidden": 8,
    "cls_epochs": 1,
    "cls_batch": 32,
    "finetune_epochs": 1,
    "gan_iters": 2,
    "gan_batch": 8,
    "n_critic": 2,
    "g_width": 4,
    "g_res_blocks": 1,
    "d_width": 4,
    "log_every": 1,
}
"""Parameters that shrink a fit on :func:`dabench.testing.toy_task` to about a second (contract tests)."""


def build(params: Mapping[str, Any]) -> dabench.Method:
    from dabench_stargan.method import StarGAN

    return StarGAN(params)


@dabench.hookimpl
def register_methods() -> Iterable[dabench.MethodSpec]:
    return [
        dabench.MethodSpec(
            name="stargan",
            build=build,
            paper=PAPER,
            defaults=DEFAULTS,
            param_ranges=RANGES,
            version="1",
            description="Pixel-level adaptation as Valliani et al. (PLOS ONE): one StarGAN G(x, c) / PatchGAN D for "
            "all domains (WGAN-GP, domain classification, cycle L1) with CyCADA semantic consistency through a "
            "frozen source LeNet F_S and a target LeNet F_T; then the source translated into the target domain "
            "fine-tunes a copy of F_S. Adam (0.5, 0.999), lr 1e-4 decayed linearly over the second half, "
            "n_critic 5; D's depth adapted to the image size.",
        )
    ]
