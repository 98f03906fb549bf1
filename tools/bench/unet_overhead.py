"""Harness overhead for segmentation: one U-Net training step through dabench vs a hand-written PyTorch loop.

The CPU configuration of the BN-adaptation study by default (U-Net width 8, depth 3, BatchNorm after every 3×3
convolution) on 64×64 single-channel images with binary masks, 16 images per step, SGD (momentum 0.9, weight decay
5e-4) with Ganin's learning-rate schedule and pixel-wise cross-entropy. "dabench" is ``SupervisedTraining.fit`` on a
segmentation :class:`~dabench.AdaptationTask` (the real fit loop: index batches, divergence guard, progress), with
the model build (``unet_for``, timed in the same round) subtracted; "hand-written" is the same model, batch,
optimiser and loss written directly in PyTorch. Rounds interleave the two (alternating which goes first); the
median time per step is compared. One torch thread unless ``--threads``. Target: ratio ≤ 1.05.

    python tools/bench/unet_overhead.py [--steps 40] [--rounds 7] [--width 8] [--depth 3] [--size 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from tabulate import tabulate
from torch import nn

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench.nn.hyperparams import SEGMENTATION_DEFAULTS, TRAINING_DEFAULTS
from dabench.nn.training import SupervisedTraining, prepare_model
from dabench.nn.unet import UNet, unet_for

CPU = torch.device("cpu")


def make_task(n: int, size: int) -> AdaptationTask:
    """``n`` noisy images whose mask is where a smooth random field is positive (Perlin-like, cheap to make)."""
    g = torch.Generator().manual_seed(0)
    field = nn.functional.interpolate(torch.randn(n, 1, 8, 8, generator=g), size=(size, size), mode="bilinear")
    masks = (field[:, 0] > 0).long()
    images = (0.3 + 0.4 * masks.unsqueeze(1) + 0.1 * torch.randn(n, 1, size, size, generator=g)).clamp(0, 1)
    return AdaptationTask(
        source=LabeledSplit(images=images, labels=masks),
        unlabeled={"target": UnlabeledSplit(images=images)},
        num_classes=2,
        input_shape=(1, size, size),
        task_type="segmentation",
    )


def hand_written(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """The same training written directly in PyTorch; seconds for ``steps`` steps (model build excluded)."""
    torch.manual_seed(0)
    model = UNet(1, 2, width=int(params["width"]), depth=int(params["depth"]))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=params["lr"], momentum=params["momentum"], weight_decay=params["weight_decay"]
    )
    loss_fn = nn.CrossEntropyLoss()
    x, y, batch = task.source.images, task.source.labels, int(params["batch_size"])
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = params["lr"] / (1 + params["lr_alpha"] * step / steps) ** params["lr_beta"]
        index = order[step * batch : (step + 1) * batch]
        loss = loss_fn(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def through_harness(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """``SupervisedTraining.fit`` with a budget of exactly ``steps`` steps (one epoch of ``steps`` batches); seconds
    for the fit minus one model build timed just before it."""
    sub = AdaptationTask(
        source=task.source.subset(torch.arange(steps * int(params["batch_size"])) % len(task.source)),
        unlabeled=task.unlabeled,
        num_classes=2,
        input_shape=task.input_shape,
        task_type="segmentation",
    )
    start = time.perf_counter()
    prepare_model(unet_for(sub, params, Seeds(0)), CPU)
    build = time.perf_counter() - start
    start = time.perf_counter()
    SupervisedTraining({**params, "epochs": 1}).fit(sub, seeds=Seeds(0), device=CPU)
    return time.perf_counter() - start - build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = {
        **TRAINING_DEFAULTS,
        **SEGMENTATION_DEFAULTS,
        "width": args.width,
        "depth": args.depth,
        "batch_size": args.batch,
    }
    task = make_task(args.steps * args.batch, args.size)
    hand_written(task, params, 3), through_harness(task, params, 3)  # warm-up
    names = ("hand-written loop", "dabench SupervisedTraining.fit")
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = [(names[0], hand_written), (names[1], through_harness)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            times[name].append(fn(task, params, args.steps) / args.steps * 1000)
    base = statistics.median(times[names[0]])
    rows = [
        [name, f"{statistics.median(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}", f"{statistics.median(v) / base:.3f}"]
        for name, v in times.items()
    ]
    print(
        f"U-Net segmentation step, width {args.width}, depth {args.depth}, {args.batch} images of {args.size}×"
        f"{args.size} per step, {args.steps} steps × {args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    print(
        tabulate(rows, headers=["variant", "median ms/step", "min", "max", "ratio vs hand-written"], tablefmt="github")
    )
    ratios = [h / b for h, b in zip(times[names[1]], times[names[0]], strict=True)]
    print(f"per-round ratio: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
    print(f"RESULT unet_overhead {statistics.median(times[names[1]]) / base:.3f}")


if __name__ == "__main__":
    main()
