"""What checkpoint-based model selection adds to a run, as a share of the run's evaluation time.

Each round runs one source-only spec with ``checkpoint_every`` = 1 over 5 epochs (epochs 1–4 and the final model,
which is epoch 5's, scored under every rule) and reads the run's own timings: ``checkpoints_s`` (per candidate and
target domain: a pass over the ≤ 200-image test subsample and one over the ≤ 200-image unlabelled subsample, every
validator, EnsV, every metric with a 200-replicate bootstrap) against ``evaluate_s`` (the evaluation it rides on:
every test domain's full forward pass, metrics and their 1,000-replicate bootstrap), both from the same run.
Datasets: MNIST (``noise:0.6``, 5,000 labelled source images, the 10,000-image test split; needs
``DABENCH_DATA``) and the embedded digits. Target ≤ 0.10; the last line is
``RESULT checkpoint_selection_share <fraction>`` (MNIST when available, else digits). An untimed warm-up run
comes first.

    DABENCH_DATA=../shared/data python tools/bench/checkpoint_selection.py [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch
from tabulate import tabulate

from dabench.registry import build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.run.runner import run

EPOCHS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("DABENCH_THREADS", str(args.threads))
    registry = build_registry()
    root = Path(os.environ["DABENCH_DATA"]) if os.environ.get("DABENCH_DATA") else None
    datasets = ["digits"] + (["mnist"] if root is not None and (root / "mnist").is_dir() else [])
    rows, shares = [], {}
    for dataset in datasets:
        request = RunRequest(
            method="source_only",
            dataset=dataset,
            shift="noise:0.6",
            params={"epochs": EPOCHS},
            metrics=("accuracy", "macro_f1"),
            n_bootstrap=1000,
            checkpoint_every=1,
        )
        spec = resolve(request, registry)
        run(spec, registry, data_root=root)  # warm-up
        ratios, evaluate, scoring, candidates = [], [], [], 0
        for _ in range(args.rounds):
            result = run(spec, registry, data_root=root)
            t, candidates = result.timings, len(result.checkpoints["entries"])
            ratios.append(t["checkpoints_s"] / t["evaluate_s"])
            evaluate.append(t["evaluate_s"])
            scoring.append(t["checkpoints_s"])
        shares[dataset] = statistics.median(ratios)
        rows.append(
            [
                dataset,
                candidates,
                f"{statistics.median(evaluate):.2f}",
                f"{statistics.median(scoring):.3f}",
                f"{shares[dataset]:.3f}",
                f"{min(ratios):.3f}–{max(ratios):.3f}",
            ]
        )
    print(f"checkpoint selection cost, {args.rounds} rounds, {torch.get_num_threads()} thread(s)")
    headers = ["dataset", "candidates", "evaluate s", "checkpoint scoring s", "share", "spread"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(f"RESULT checkpoint_selection_share {shares.get('mnist', shares['digits']):.3f}")


if __name__ == "__main__":
    main()
