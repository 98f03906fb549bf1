"""What benefit predictors add to a source-only run, as a share of the run's evaluation time.

Each round runs one source-only spec through the runner twice per dataset, in rotating order: once with every
benefit predictor but the peer-needing one (``agreement`` trains a second model: its cost is a second fit, reported
apart), once with all of them. From the runs' own timings: ``predictors_s`` (source and target forward passes on at
most 2,000 images a side, temperature scaling, every estimator, the latent distances) against ``evaluate_s`` (the
evaluation it rides on: every test domain's forward pass, metrics and their bootstrap) of the same run — the
baseline is measured in the same run. Datasets: MNIST (``noise:0.6``, 5,000 labelled source images, 1 epoch, the
10,000-image test split, 1,000 bootstrap replicates: a representative classification run; needs ``DABENCH_DATA``)
and the embedded digits (a tiny evaluation, where fixed costs dominate). Target ≤ 0.10 on MNIST; the last line is
``RESULT predictor_cost_share <fraction>`` (MNIST when available, else digits). Each dataset gets an untimed
warm-up run first (the first import of POT and scipy.optimize is a once-per-process cost of about a second).

    DABENCH_DATA=../shared/data python tools/bench/predictor_cost.py [--rounds 3] [--threads 1]
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


def spec_for(registry: object, dataset: str, predictors: tuple[str, ...]) -> object:
    request = RunRequest(
        method="source_only",
        dataset=dataset,
        shift="noise:0.6",
        params={"epochs": 1},
        metrics=("accuracy",),
        n_bootstrap=1000,
        predictors=predictors,
    )
    return resolve(request, registry)  # type: ignore[arg-type]


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
    cheap = tuple(p.name for p in registry.benefit_predictors if "classification" in p.task_types and not p.needs_peer)
    variants = {"all but agreement": cheap, "all (agreement's peer model)": ("all",)}
    rows, shares = [], {}
    for dataset in datasets:  # a warm-up run first: imports (POT, scipy.optimize) are a once-per-process cost
        run(spec_for(registry, dataset, ("all",)), registry, data_root=root)
        samples: dict[str, dict[str, list[float]]] = {v: {"p": [], "e": [], "f": [], "peer": []} for v in variants}
        for r in range(args.rounds):
            names = list(variants)
            for name in names[r % 2 :] + names[: r % 2]:
                t = run(spec_for(registry, dataset, variants[name]), registry, data_root=root).timings  # type: ignore[arg-type]
                samples[name]["p"].append(t["predictors_s"])
                samples[name]["e"].append(t["evaluate_s"])
                samples[name]["f"].append(t["fit_s"])
                samples[name]["peer"].append(t.get("predictors_peer_fit_s", 0.0))
        for name, s in samples.items():
            ratios = [p / e for p, e in zip(s["p"], s["e"], strict=True)]
            share = statistics.median(ratios)
            if name == "all but agreement":
                shares[dataset] = share
            rows.append(
                [
                    dataset,
                    name,
                    f"{statistics.median(s['e']):.2f}",
                    f"{statistics.median(s['p']):.3f}",
                    f"{share:.3f}",
                    f"{min(ratios):.3f}–{max(ratios):.3f}",
                    f"{statistics.median(s['peer']):.2f}",
                    f"{statistics.median(s['f']):.2f}",
                ]
            )
    print(f"benefit-predictor cost in source-only runs, {args.rounds} rounds, {torch.get_num_threads()} thread(s)")
    headers = ["dataset", "predictors", "evaluate s", "predictors s", "share", "spread", "peer fit s", "fit s"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(f"RESULT predictor_cost_share {shares.get('mnist', shares['digits']):.3f}")


if __name__ == "__main__":
    main()
