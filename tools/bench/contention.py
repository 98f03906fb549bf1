"""Contention: a LeNet training step idle vs beside one busy CPU-bound process, under torch's default threads and
under dabench's thread rule (:mod:`dabench.run.threads`).

The default model (``dabench.nn.models.lenet``) on 28×28 inputs, 128 source + 128 target images per step (one
forward pass over both, cross-entropy on the source half), SGD. For each round and load (idle, then busy: a
``python -c 'while True: pass'`` subprocess, killed after), each policy sets its thread count — dabench's rule
samples the load at that moment, as a run does at process start — and the median step time is taken. Ratios are
against idle times of the same run. On a shared machine a block is repeated when other processes' load came or
went during it (sampled from ``/proc/stat`` before and after). Target: dabench's busy/idle ratio ≤ 1.3.

    python tools/bench/contention.py [--steps 20] [--rounds 3]

Last line: ``RESULT contention_slowdown <dabench busy / dabench idle>``.
"""

from __future__ import annotations

import os

# torch's default must be its own (one thread per core), not one inherited from the environment
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DABENCH_THREADS"):
    os.environ.pop(_var, None)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402
from torch import nn  # noqa: E402

from dabench.nn.models import init_parameters, lenet  # noqa: E402
from dabench.run.threads import available_cpus, busy_cpus, choose_threads  # noqa: E402

BATCH, N = 128, 2048
TORCH_DEFAULT = torch.get_num_threads()


@contextlib.contextmanager
def busy_process(present: bool) -> Iterator[None]:
    """One spinning CPU-bound subprocess while inside (nothing when ``present`` is false)."""
    if not present:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def step_times(steps: int, warmup: int = 3) -> list[float]:
    """Seconds per LeNet training step (``warmup`` steps dropped)."""
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.rand(N, 1, 28, 28, generator=g), torch.rand(N, 1, 28, 28, generator=g)
    ys = torch.randint(0, 10, (N,), generator=g)
    model = lenet(1, 10, (28, 28))
    init_parameters(model, torch.Generator().manual_seed(1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    times = []
    for step in range(warmup + steps):
        i = torch.randint(0, N, (BATCH,), generator=g)
        j = torch.randint(0, N, (BATCH,), generator=g)
        t0 = time.perf_counter()
        logits = model(torch.cat([xs[i], xt[j]]))
        loss = loss_fn(logits[:BATCH], ys[i])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def torch_default() -> tuple[int, str]:
    return TORCH_DEFAULT, "torch default"


def dabench_rule() -> tuple[int, str]:
    choice = choose_threads()
    busy = f", busy {choice.busy:.2f}" if choice.busy is not None else ""
    return choice.threads, f"{choice.rule}{busy}"


def one_thread() -> tuple[int, str]:
    return 1, "fixed"


POLICIES: dict[str, Callable[[], tuple[int, str]]] = {
    "torch default": torch_default,
    "dabench rule": dabench_rule,
    "1 thread": one_thread,
}


def background_ok(condition: str) -> bool:
    """Whether the machine is in the state ``condition`` means: no other load (idle) or exactly the spinner's."""
    busy = busy_cpus(0.2)
    if busy is None:
        return True
    return busy < 0.3 if condition == "idle" else 0.7 < busy < 1.3


def measure_block(condition: str, steps: int) -> dict[str, tuple[float, str]] | None:
    """Each policy's median step time under ``condition``, or None when other processes' load changed the
    condition before or during the block (the block is then repeated)."""
    with busy_process(condition == "busy"):
        if not background_ok(condition):
            return None
        block = {}
        for policy, choose in POLICIES.items():
            threads, why = choose()
            torch.set_num_threads(threads)
            block[policy] = (statistics.median(step_times(steps)), f"{threads} ({why})")
        if not background_ok(condition):
            return None
    return block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for a quiet machine")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"available CPUs {available_cpus()}, torch default threads {TORCH_DEFAULT}, load average {load[0]:.2f}")
    medians: dict[tuple[str, str], list[float]] = {}
    chosen: dict[tuple[str, str], list[str]] = {}
    discarded = 0
    deadline = time.monotonic() + args.max_wait
    for _ in range(args.rounds):
        for condition in ("idle", "busy"):
            while True:
                block = measure_block(condition, args.steps)
                if block is not None:
                    break
                discarded += 1
                if time.monotonic() > deadline:
                    sys.exit(f"the machine never stayed quiet for a block within {args.max_wait:.0f} s; retry later")
                time.sleep(2.0)
            for policy, (median, why) in block.items():
                medians.setdefault((policy, condition), []).append(median)
                chosen.setdefault((policy, condition), []).append(why)
    print(f"blocks discarded because other load came or went: {discarded}")
    idle = {policy: statistics.median(medians[(policy, "idle")]) for policy in POLICIES}
    rows = []
    for (policy, condition), values in medians.items():
        med = statistics.median(values)
        rows.append(
            [
                policy,
                condition,
                "; ".join(sorted(set(chosen[(policy, condition)]))),
                f"{1000 * med:.1f}",
                f"{1000 * min(values):.1f}",
                f"{1000 * max(values):.1f}",
                f"{med / idle[policy]:.2f}",
                f"{med / idle['torch default']:.2f}",
            ]
        )
    headers = ["policy", "load", "threads (rule)", "median ms", "min ms", "max ms", "vs own idle", "vs torch idle"]
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    busy_rule = statistics.median(medians[("dabench rule", "busy")])
    ratio = busy_rule / idle["dabench rule"]
    if all(c.startswith("1 ") for c in chosen[("dabench rule", "busy")]):
        # the contention penalty itself: the rule's busy step against an idle step with the same (1) thread
        print(f"dabench rule busy / idle at the same thread count (1): {busy_rule / idle['1 thread']:.2f}")
    torch_busy = statistics.median(medians[("torch default", "busy")])
    print(f"torch default busy / idle: {torch_busy / idle['torch default']:.2f}")
    print(f"RESULT contention_slowdown {ratio:.3f}")


if __name__ == "__main__":
    main()
