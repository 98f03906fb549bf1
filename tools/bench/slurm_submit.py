"""Submission overhead of ``dabench sweep --executor slurm`` on a sweep whose 32 specs are all cached.

A store is filled once with the 32 runs (``source_only`` on the embedded digits, 1 epoch). Then, interleaved in
each repeat, three commands run on it as fresh processes (wall time, including interpreter start and plugin
loading): the baseline ``dabench sweep FILE`` (local, in-process), ``--executor slurm --slurm-cluster debug``
(submitit's in-process backend: the target, ≤ 2 s) and ``--executor slurm`` on the real backend with stand-in
``sbatch``/``srun`` scripts on PATH (the path a SLURM login node takes; a stand-in that is ever called fails the
benchmark). Every command must find all 32 specs cached and submit nothing.

    python tools/bench/slurm_submit.py [--repeats 5] [--specs 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

SWEEP = """
name = "bench_submit"
[grid]
method = ["source_only"]
dataset = ["digits"]
seed = {seeds}
[params]
epochs = 1
[options]
n_bootstrap = 5
"""
STAND_IN = '#!/bin/sh\necho "$0 was called: the benchmark must submit nothing" >&2\nexit 1\n'


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of ``command`` and its stdout; a non-zero exit stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def check_nothing_submitted(name: str, out: str, specs: int) -> None:
    if "submitted" in out or (f"0 ran, {specs} cached" not in out and "nothing to submit" not in out):
        raise SystemExit(f"{name}: expected every spec cached and nothing submitted, got:\n{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--specs", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dabench-slurm-bench-") as tmp:
        root = Path(tmp)
        sweep, store, bin_dir = root / "bench.toml", root / "store", root / "bin"
        sweep.write_text(SWEEP.format(seeds=list(range(args.specs))))
        bin_dir.mkdir()
        for tool in ("sbatch", "srun"):
            (bin_dir / tool).write_text(STAND_IN)
            (bin_dir / tool).chmod(0o755)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        slurm_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
        base = [sys.executable, "-m", "dabench", "sweep", str(sweep), "--store", str(store)]
        fill_s, _ = timed(base, env)
        print(f"filled the store with {args.specs} runs in {fill_s:.1f} s", flush=True)
        variants = {
            "dabench sweep (local, baseline)": (base, env),
            "--executor slurm --slurm-cluster debug": ([*base, "--executor", "slurm", "--slurm-cluster", "debug"], env),
            "--executor slurm (sbatch on PATH)": ([*base, "--executor", "slurm"], slurm_env),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, (command, variant_env) in variants.items():
                seconds, out = timed(command, variant_env)
                check_nothing_submitted(name, out, args.specs)
                times[name].append(seconds)
        if (store / "slurm").exists() and any((store / "slurm").iterdir()):
            raise SystemExit(f"submitit wrote job files under {store / 'slurm'}: something was submitted")
    baseline = statistics.median(times["dabench sweep (local, baseline)"])
    rows = [
        [
            name,
            f"{statistics.median(t):.3f}",
            f"{min(t):.3f}",
            f"{max(t):.3f}",
            f"{statistics.median(t) / baseline:.2f}",
        ]
        for name, t in times.items()
    ]
    print(f"{args.specs} cached specs, {args.repeats} repeats, wall seconds per command (fresh process)")
    print(tabulate(rows, headers=["command", "median s", "min s", "max s", "× baseline"], tablefmt="github"))
    target = statistics.median(times["--executor slurm --slurm-cluster debug"])
    print(f"target: <= 2 s; {'met' if target <= 2.0 else 'NOT met'}")
    print(f"RESULT slurm_submit_overhead_s {target:.3f}")


if __name__ == "__main__":
    main()
