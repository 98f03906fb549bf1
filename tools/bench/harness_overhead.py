"""Harness overhead: one DANN training step through dabench vs a hand-written PyTorch loop of the same model.

LeNet-size network on 28×28 inputs, 128 labelled source + 128 unlabelled target images per step, SGD with Ganin's
learning-rate and λ schedules. The two are interleaved in one process (rounds alternate which goes first) and the
median time per step is compared. Target: ratio ≤ 1.05.

    python tools/bench/harness_overhead.py [--steps 60] [--rounds 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from tabulate import tabulate
from torch import nn

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench_dann import DEFAULTS
from dabench_dann.method import DANN

N, BATCH = 2048, 128


def make_task() -> AdaptationTask:
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.rand(N, 1, 28, 28, generator=g), torch.rand(N, 1, 28, 28, generator=g)
    ys = torch.randint(0, 10, (N,), generator=g)
    return AdaptationTask(
        source=LabeledSplit(images=xs, labels=ys),
        unlabeled={"target": UnlabeledSplit(images=xt)},
        num_classes=10,
        input_shape=(1, 28, 28),
    )


class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):  # type: ignore[no-untyped-def]
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        return -ctx.lambd * grad, None


def hand_written(task: AdaptationTask, steps: int) -> float:
    """The same DANN, written directly in PyTorch; returns seconds for ``steps`` steps (model build excluded)."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 32, 5),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5),
        nn.BatchNorm2d(48),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    classifier = nn.Sequential(
        nn.Linear(48 * 16, 100),
        nn.BatchNorm1d(100),
        nn.ReLU(),
        nn.Linear(100, 100),
        nn.BatchNorm1d(100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )
    domain = nn.Sequential(nn.Linear(48 * 16, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 2))
    params = [*features.parameters(), *classifier.parameters(), *domain.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    xs, ys, xt = task.source.images, task.source.labels, task.unlabeled["target"].images
    ce = nn.CrossEntropyLoss()
    labels = torch.cat([torch.zeros(BATCH, dtype=torch.long), torch.ones(BATCH, dtype=torch.long)])
    start = time.perf_counter()
    perm_s, perm_t = torch.randperm(N), torch.randperm(N)
    for step in range(steps):
        p = step / steps
        for group in optimizer.param_groups:
            group["lr"] = 0.01 / (1 + 10 * p) ** 0.75
        lambd = 2 / (1 + math.exp(-10 * p)) - 1
        i = perm_s[(step * BATCH) % N : (step * BATCH) % N + BATCH]
        j = perm_t[(step * BATCH) % N : (step * BATCH) % N + BATCH]
        f = features(torch.cat([xs[i], xt[j]]))
        loss = ce(classifier(f[:BATCH]), ys[i]) + ce(domain(Reverse.apply(f, lambd)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def through_harness(task: AdaptationTask, steps: int) -> float:
    """``DANN.fit`` with an epoch budget of exactly ``steps`` steps; returns seconds (including model build)."""
    params = {**DEFAULTS, "batch_size": BATCH, "epochs": 1}
    sub = AdaptationTask(
        source=task.source.subset(torch.arange(steps * BATCH) % N),
        unlabeled=task.unlabeled,
        num_classes=10,
        input_shape=(1, 28, 28),
    )
    start = time.perf_counter()
    DANN(params).fit(sub, seeds=Seeds(0), device=torch.device("cpu"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    task = make_task()
    hand_written(task, 5), through_harness(task, 5)  # warm-up
    times: dict[str, list[float]] = {"hand-written loop": [], "dabench DANN.fit": []}
    for r in range(args.rounds):
        order = [("hand-written loop", hand_written), ("dabench DANN.fit", through_harness)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            times[name].append(fn(task, args.steps) / args.steps * 1000)
    base = statistics.median(times["hand-written loop"])
    rows = [
        [name, f"{statistics.median(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}", f"{statistics.median(v) / base:.3f}"]
        for name, v in times.items()
    ]
    print(
        f"DANN step, LeNet on 28×28, {BATCH} source + {BATCH} target, {args.steps} steps × {args.rounds} rounds, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        tabulate(rows, headers=["variant", "median ms/step", "min", "max", "ratio vs hand-written"], tablefmt="github")
    )
    print(f"RESULT harness_overhead {statistics.median(times['dabench DANN.fit']) / base:.3f}")


if __name__ == "__main__":
    main()
