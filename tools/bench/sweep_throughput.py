"""Benchmark: sweep throughput of 2 worker processes x 1 torch thread (``dabench sweep --jobs 2``, the ``pool``
executor) against one process x 2 torch threads (the ``local`` executor), on the same small sweep, in one run.

What is measured: the wall time of a whole sweep of ``--runs`` small runs (``source_only`` on ``digits``, seeds x
epochs from ``--epochs``, ``n_bootstrap`` small), each variant in a fresh child process on a fresh store, so
everything a user waits for is in it: starting Python and importing torch, spawning the workers (each worker
imports torch and loads the data once), training and evaluating every run, and writing the records. Variants
alternate order over ``--repeats`` repeats; the table gives each repeat's wall seconds, the median, runs per
minute and the ratio ``baseline wall / pool wall`` (> 1: the pool is faster), with the spread over the repeats. The
thread count each run actually used is read back from the records (``provenance``), and the CPUs other processes
kept busy just before each measurement are sampled (``/proc/stat``), so the table says what ran and beside what:
torch's threads wait for each other at every barrier, so 2 threads on 2 cores slow down badly beside any other
busy process, while 1-thread workers do not.

Expect > 1 only where runs are small: then a run is dominated by serial work (data preparation, Python overhead,
small matrix products that do not scale to 2 threads), which 2 processes overlap and 2 threads do not; for big runs
2 threads on one run approach 2 processes on two, and the pool pays its worker start-up on top.

Run: ``python tools/bench/sweep_throughput.py`` (16 runs, 2 repeats). Ends ``RESULT sweep_throughput_ratio <x>``
(the median ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

VARIANTS = {"local": "1 process x 2 threads (baseline)", "pool": "2 workers x 1 thread (--jobs 2)"}


def sweep_text(runs: int, epochs: list[int], n_bootstrap: int) -> str:
    """A sweep of ``runs`` specs: seeds x the epoch values (``runs`` must be a multiple of their number)."""
    if runs % len(epochs):
        raise SystemExit(f"--runs {runs} must be a multiple of the number of --epochs values ({len(epochs)})")
    seeds = list(range(runs // len(epochs)))
    return (
        f'name = "throughput"\n[grid]\nmethod = ["source_only"]\ndataset = ["digits"]\nshift = ["noise:0.5"]\n'
        f"seed = {seeds}\n[grid.params]\nepochs = {epochs}\n[options]\nn_bootstrap = {n_bootstrap}\n"
    )


def child(variant: str, sweep_file: Path, store: Path) -> int:
    """Run the sweep once in this (fresh) process with ``variant``'s executor."""
    from dabench.registry import build_registry
    from dabench.run.executors import Executor
    from dabench.run.executors.local import LocalExecutor
    from dabench.run.executors.pool import PoolExecutor
    from dabench.run.store import ResultStore
    from dabench.run.sweep import count_outcomes, load_sweep, run_sweep

    registry = build_registry()
    sweep = load_sweep(sweep_file, registry)
    result_store = ResultStore(store)
    result_store.ensure_writable()
    executor: Executor = PoolExecutor(2, threads=1) if variant == "pool" else LocalExecutor(registry)
    with executor:
        outcomes = run_sweep(sweep, registry, result_store, data_root=None, device="cpu", executor=executor)
    counts = count_outcomes(outcomes)
    if counts.ran != len(sweep.specs):
        print(f"{variant}: {counts.summary()}", file=sys.stderr)
        return 1
    return 0


def measure(variant: str, sweep_file: Path, store: Path) -> tuple[float, list[int]]:
    """Wall seconds of one sweep in a child process, and the torch threads its runs recorded."""
    env = {k: v for k, v in os.environ.items() if k not in ("DABENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if variant == "local":
        env |= {"DABENCH_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    command = [sys.executable, __file__, "--child", variant, "--sweep", str(sweep_file), "--store", str(store)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    wall = time.perf_counter() - started
    threads = []
    for path in store.glob("records/*/*.json"):
        record = json.loads(path.read_text())
        threads.append(int(record["provenance"]["hardware"]["threads"]))
    return wall, threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--epochs", default="1,2", help="comma-separated epoch values of the grid (default 1,2)")
    parser.add_argument("--n-bootstrap", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--sweep", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.sweep, args.store)

    epochs = [int(e) for e in args.epochs.split(",")]
    from dabench.run.threads import busy_cpus

    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    load: dict[str, list[float]] = {v: [] for v in VARIANTS}
    threads: dict[str, set[int]] = {v: set() for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="dabench-throughput-") as tmp:
        sweep_file = Path(tmp) / "throughput.toml"
        sweep_file.write_text(sweep_text(args.runs, epochs, args.n_bootstrap))
        for repeat in range(args.repeats):
            order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                load[variant].append(busy_cpus(0.5) or 0.0)  # CPUs other processes keep busy, just before
                wall, used = measure(variant, sweep_file, Path(tmp) / f"{variant}-{repeat}")
                walls[variant].append(wall)
                threads[variant].update(used)
                print(f"repeat {repeat + 1}/{args.repeats} {variant}: {wall:.1f} s", file=sys.stderr, flush=True)
    base = statistics.median(walls["local"])
    ratios = [b / p for b, p in zip(walls["local"], walls["pool"], strict=True)]  # per repeat
    rows = []
    for variant, label in VARIANTS.items():
        median = statistics.median(walls[variant])
        rows.append(
            [
                label,
                ",".join(map(str, sorted(threads[variant]))),
                " / ".join(f"{w:.1f}" for w in walls[variant]),
                " / ".join(f"{b:.1f}" for b in load[variant]),
                f"{median:.1f}",
                f"{max(walls[variant]) - min(walls[variant]):.1f}",
                f"{60 * args.runs / median:.1f}",
                f"{base / median:.2f}",
            ]
        )
    headers = ["variant", "threads/run", "wall s per repeat", "busy CPUs before", "median wall s", "spread s"]
    headers += ["runs/min", "ratio"]
    print(
        f"{args.runs} runs of source_only on digits (epochs {args.epochs}, n_bootstrap {args.n_bootstrap}), "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs visible"
    )
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    ratio = statistics.median(ratios)
    print(
        f"throughput ratio (baseline wall / pool wall) per repeat: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {ratio:.2f}, spread {max(ratios) - min(ratios):.2f}"
    )
    print(f"RESULT sweep_throughput_ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
