"""BatchNorm re-estimation (AdaBN) on a target set vs one evaluation forward pass over it.

A U-Net in its CPU configuration (base width 8, depth 3: 14 BN layers) on 1,000 target images of 64×64, one torch
thread by default. Variants, interleaved in one process (each round rotates which goes first), median over rounds:

* ``evaluation pass`` (the baseline): ``ModelPredictor.predict`` over the target set, as the runner evaluates
  (chunks of at most 2^20 pixels: 256 images at 64²); for reference also the same pass in chunks of the adaptation
  batch size;
* ``running``: ``adapt_batchnorm(..., estimator="running")``: one train-mode pass, cumulative BN averages;
* ``exact``: layer-sequential population statistics, each pass stopped after the layer being estimated;
* ``exact, no early stop``: the same numbers with a full pass per layer (L full passes).

Adaptation batches hold ``adapt_batch_size`` (256, adabn's default) images. Also checks that ``exact`` with and
without the early stop store identical statistics. Targets: ``running`` ≤ 1.1× the evaluation pass; ``exact``
costs ≈ Σ_k cost(up to layer k), reported. The last lines are ``RESULT bn_reestimation_running <ratio>`` and
``RESULT bn_reestimation_exact <ratio>``.

    python tools/bench/bn_reestimation.py [--images 1000] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from tabulate import tabulate

from dabench.nn.training import ModelPredictor
from dabench.nn.unet import UNet
from dabench_adabn import DEFAULTS
from dabench_adabn.estimators import adapt_batchnorm, bn_layers
from dabench_adabn.method import bn_statistics

CPU = torch.device("cpu")
BATCH = int(DEFAULTS["adapt_batch_size"])


def make_model() -> UNet:
    """The CPU U-Net with non-trivial source statistics (a few train-mode passes over random images)."""
    torch.manual_seed(0)
    model = UNet(1, 2, width=8, depth=3)
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.rand(16, 1, 64, 64))
    return model.eval()


Variant = Callable[[UNet, torch.Tensor], object]

VARIANTS: dict[str, Variant] = {
    "evaluation pass": lambda model, images: ModelPredictor(model, CPU).predict(images),
    f"evaluation pass, {BATCH}-image chunks": lambda model, images: ModelPredictor(model, CPU, BATCH).predict(images),
    "running": lambda model, images: adapt_batchnorm(model, images, BATCH, CPU, estimator="running"),
    "exact": lambda model, images: adapt_batchnorm(model, images, BATCH, CPU),
    "exact, no early stop": lambda model, images: adapt_batchnorm(model, images, BATCH, CPU, early_stop=False),
}


def timed(fn: Variant, model: UNet, images: torch.Tensor) -> float:
    """Seconds for ``fn`` on a fresh copy of ``model`` (the copy is not timed)."""
    fresh = copy.deepcopy(model)
    start = time.perf_counter()
    fn(fresh, images)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = make_model()
    images = torch.rand(args.images, 1, 64, 64, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.3
    early, full = copy.deepcopy(model), copy.deepcopy(model)
    adapt_batchnorm(early, images[:300], BATCH, CPU)
    adapt_batchnorm(full, images[:300], BATCH, CPU, early_stop=False)
    a, b = bn_statistics(early), bn_statistics(full)
    identical = all(torch.equal(a[k], b[k]) for k in a)

    names = list(VARIANTS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(timed(VARIANTS[name], model, images))
    base = statistics.median(times["evaluation pass"])
    rows = [
        [
            name,
            f"{statistics.median(v):.3f}",
            f"{min(v):.3f}",
            f"{max(v):.3f}",
            f"{(max(v) - min(v)) / statistics.median(v) * 100:.0f}%",
            f"{statistics.median(v) / base:.2f}",
        ]
        for name, v in times.items()
    ]
    print(
        f"BN re-estimation, U-Net width 8 depth 3 ({len(bn_layers(model))} BN layers), {args.images} images of "
        f"64×64, adapt batch {BATCH}, {args.rounds} rounds, {torch.get_num_threads()} thread(s)"
    )
    print(
        tabulate(
            rows,
            headers=["variant", "median s", "min", "max", "spread", "ratio vs evaluation pass"],
            tablefmt="github",
        )
    )
    print(f"exact with and without early stop store identical statistics: {'yes' if identical else 'NO'}")
    print(f"RESULT bn_reestimation_running {statistics.median(times['running']) / base:.3f}")
    print(f"RESULT bn_reestimation_exact {statistics.median(times['exact']) / base:.3f}")


if __name__ == "__main__":
    main()
