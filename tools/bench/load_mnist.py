"""Time loading MNIST from its IDX gz files (decompress + numpy frombuffer + tensors); target < 1 s.

Usage: ``DABENCH_DATA=/path/to/data python tools/bench/load_mnist.py [--repeats 5]``. Prints a table of the timings
and, last, ``RESULT mnist_load_seconds <median>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("DABENCH_DATA"), help="data root (default $DABENCH_DATA)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.data_root:
        print("error: set DABENCH_DATA or pass --data-root", file=sys.stderr)
        return 2

    import numpy as np
    import torch  # imported before timing: the benchmark measures reading, not library start-up

    from dabench import LoadContext
    from dabench_datasets.mnist import load_mnist

    ctx = LoadContext(root=Path(args.data_root), rng=np.random.default_rng(0))
    times, splits = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        splits = load_mnist(ctx)
        times.append(time.perf_counter() - start)
    assert splits is not None
    print(f"torch {torch.__version__}, {args.repeats} repeats, data root {args.data_root}")
    print("| split | images | shape |")
    print("|---|---|---|")
    for name in ("train", "test"):
        split = getattr(splits, name)
        print(f"| {name} | {len(split)} | {tuple(split.images.shape[1:])} |")
    print("| timing | seconds |")
    print("|---|---|")
    for label, value in (("min", min(times)), ("median", statistics.median(times)), ("max", max(times))):
        print(f"| {label} | {value:.3f} |")
    print(f"RESULT mnist_load_seconds {statistics.median(times):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
