"""Harness overhead for MDD: one ResNet-18 MDD training step through the ``mdd`` plugin vs a hand-written loop.

A step is a source and a target batch (32 each by default) of 64×64 RGB images through the same :class:`MDDNet`
(normalisation → ResNet-18 → bottleneck 1024 → f, and f′ behind the gradient reversal layer), the MDD loss
(class-weighted source cross-entropy + η·[γ·CE(f′_s, ŷ_s) − log(1 − f′_t[ŷ_t])]), backward and an SGD step
(Nesterov momentum 0.9, weight decay 5e-4, the step schedule). Three variants, interleaved round by round (the order
rotates):

* "hand-written loop": the model built by the plugin, everything else written directly in PyTorch (batches sliced
  from one permutation, its own gradient reversal, the loss inline);
* "dabench MDD.fit": the plugin's real training loop (index batches, learning-rate and GRL schedules, the
  divergence guard, progress, checkpoint offer, the step function) on a task of exactly ``steps`` source batches,
  with augmentation off (``augment=False``: the hand-written loop has none) and the model build (timed just before,
  in the same round) subtracted — the ratio reported;
* "dabench MDDStep": the plugin's step function alone on the hand-written loop's batches.

The paper's augmentation of both batches (``PaperAugment``) is timed on its own and shown for scale; it is not part
of either side of the ratio. Median time per step over rounds; one torch thread unless ``--threads``. Target: ratio
≤ 1.05.

    python tools/bench/mdd_overhead.py [--steps 10] [--rounds 7] [--size 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from tabulate import tabulate

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench.nn.training import prepare_model
from dabench_mdd import DEFAULTS
from dabench_mdd.augment import PaperAugment
from dabench_mdd.method import MDD, MDDStep, build_model, class_weights, grl_coefficient, mdd_optimizer

CPU = torch.device("cpu")
CLASSES = 5


def make_task(n: int, size: int) -> AdaptationTask:
    """``n`` random RGB source images with imbalanced labels and ``n`` target images."""
    g = torch.Generator().manual_seed(0)
    labels = torch.minimum(torch.floor(torch.rand(n, generator=g) ** 2 * CLASSES), torch.tensor(CLASSES - 1)).long()
    return AdaptationTask(
        source=LabeledSplit(images=torch.rand(n, 3, size, size, generator=g), labels=labels),
        unlabeled={"target": UnlabeledSplit(images=torch.rand(n, 3, size, size, generator=g))},
        num_classes=CLASSES,
        input_shape=(3, size, size),
    )


class Reverse(torch.autograd.Function):
    """The hand-written loop's own gradient reversal."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, c: float) -> torch.Tensor:
        ctx.c = c
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.c * grad, None


def hand_written(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """The same training written directly in PyTorch; seconds for ``steps`` steps (model build excluded)."""
    model = build_model(task, params, Seeds(0))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=params["lr"], momentum=0.9, weight_decay=params["weight_decay"], nesterov=True
    )
    counts = torch.bincount(task.source.labels, minlength=CLASSES).double()
    weights = (1 / counts) / (1 / counts).mean()
    weights = weights.float()
    xs, ys, xt = task.source.images, task.source.labels, task.unlabeled["target"].images
    batch = int(params["batch_size"])
    model.train()
    start = time.perf_counter()
    order_s, order_t = torch.randperm(len(xs)), torch.randperm(len(xt))
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = params["lr"] * params["lr_gamma"] ** ((step // steps) // params["lr_step"])
        c = 0.2 / (1 + math.exp(-step / 1000)) - 0.1
        i_s, i_t = order_s[step * batch : (step + 1) * batch], order_t[step * batch : (step + 1) * batch]
        features = model.features(torch.cat([xs[i_s], xt[i_t]]))
        logits = model.classifier(features)
        adv = model.adversary(Reverse.apply(features, c))
        pseudo = logits.detach().argmax(dim=1)
        loss = F.cross_entropy(logits[:batch], ys[i_s], weight=weights)
        transfer = 4.0 * F.cross_entropy(adv[:batch], pseudo[:batch])
        p_t = F.softmax(adv[batch:], dim=1).gather(1, pseudo[batch:, None]).squeeze(1)
        loss = loss + 1.0 * (transfer - torch.log((1 - p_t).clamp(min=1e-6)).mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def step_only(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """``MDDStep`` on the hand-written loop's batches; seconds for ``steps`` steps (model build excluded)."""
    model = build_model(task, params, Seeds(0))
    step_fn = MDDStep(
        model,
        mdd_optimizer(model, params),
        class_weights(task.source.labels, CLASSES),
        trade_off=params["trade_off"],
        margin=params["margin"],
        device=CPU,
    )
    xs, ys, xt = task.source.images, task.source.labels, task.unlabeled["target"].images
    batch = int(params["batch_size"])
    model.train()
    start = time.perf_counter()
    order_s, order_t = torch.randperm(len(xs)), torch.randperm(len(xt))
    for step in range(steps):
        i_s, i_t = order_s[step * batch : (step + 1) * batch], order_t[step * batch : (step + 1) * batch]
        step_fn(xs[i_s], ys[i_s], xt[i_t], grl_coefficient(step))
    return time.perf_counter() - start


def through_harness(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """``MDD.fit`` with a budget of exactly ``steps`` steps (one epoch of ``steps`` source batches); seconds for
    the fit minus one model build timed just before it."""
    start = time.perf_counter()
    prepare_model(build_model(task, params, Seeds(0)), CPU)
    build = time.perf_counter() - start
    start = time.perf_counter()
    MDD({**params, "epochs": 1}).fit(task, seeds=Seeds(0), device=CPU)
    return time.perf_counter() - start - build


def augmentation(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """The paper's augmentation of one source and one target batch per step; seconds for ``steps`` steps."""
    augment_s, augment_t = (
        PaperAugment(torch.Generator().manual_seed(0)),
        PaperAugment(torch.Generator().manual_seed(1)),
    )
    xs, xt = task.source.images, task.unlabeled["target"].images
    batch = int(params["batch_size"])
    start = time.perf_counter()
    for step in range(steps):
        augment_s(xs[step * batch : (step + 1) * batch]), augment_t(xt[step * batch : (step + 1) * batch])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = {**DEFAULTS, "batch_size": args.batch, "augment": False}
    task = make_task(args.steps * args.batch, args.size)
    variants: list[tuple[str, Callable[[AdaptationTask, dict[str, Any], int], float]]] = [
        ("hand-written loop", hand_written),
        ("dabench MDD.fit", through_harness),
        ("dabench MDDStep", step_only),
    ]
    for _, fn in variants:
        fn(task, params, 2)  # warm-up
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(args.rounds):
        for name, fn in variants[r % 3 :] + variants[: r % 3]:
            times[name].append(fn(task, params, args.steps) / args.steps * 1000)
    augment_ms = [augmentation(task, params, args.steps) / args.steps * 1000 for _ in range(args.rounds)]
    base = statistics.median(times["hand-written loop"])
    rows = [
        [name, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}", f"{statistics.median(v) / base:.3f}"]
        for name, v in times.items()
    ]
    rows.append(
        ["(paper augmentation, 2 batches; not in the ratio)", f"{statistics.median(augment_ms):.1f}",
         f"{min(augment_ms):.1f}", f"{max(augment_ms):.1f}", f"{statistics.median(augment_ms) / base:.3f}"]
    )  # fmt: skip
    print(
        f"MDD step, ResNet-18, {args.batch} source + {args.batch} target images of {args.size}×{args.size} per step, "
        f"{args.steps} steps × {args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    print(
        tabulate(rows, headers=["variant", "median ms/step", "min", "max", "ratio vs hand-written"], tablefmt="github")
    )
    for name in ("dabench MDD.fit", "dabench MDDStep"):
        ratios = [h / b for h, b in zip(times[name], times["hand-written loop"], strict=True)]
        spread = f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}"
        print(f"{name} per-round ratio: {spread}")
    print(f"RESULT mdd_overhead {statistics.median(times['dabench MDD.fit']) / base:.3f}")


if __name__ == "__main__":
    main()
