"""The multi-level adversarial segmentation study's picture: target test images, their ground truth and the
predictions of Origin and of UDA-sed (issue 14; paper 003, Fig. 1 style).

Models are not kept in the store, so this re-runs two specs of the study's sweep file — Origin
(``discriminators=none``) and UDA-sed (``sed``) of one seed and pair — with the test images kept
(``run(..., examples=k)``) and draws them side by side. Each run is the sweep's spec itself (same key), so the two
columns are the committed records' models retrained on this machine: their scores are printed next to the records'
for a check (equal on the machine that made the records; within the intervals elsewhere).

    DABENCH_DATA=../shared/data python tools/mlan_examples.py sweeps/mlan_wbc.toml \
        --out leaderboards/mlan_wbc/examples_target.png [--seed 0] [--count 4]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dabench.registry import build_registry
from dabench.report.segmentation_grid import write_prediction_grid
from dabench.run.runner import run
from dabench.run.sweepfile import load_sweep

COLUMNS = {"none": "Origin", "sed": "UDA-sed"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=4)
    args = parser.parse_args(argv)
    registry = build_registry()
    specs = [
        s
        for s in load_sweep(args.sweep, registry).specs
        if s.method.name == "mlan" and s.seed == args.seed and s.target is not None and s.target != s.dataset
    ]
    chosen = {s.params.get("discriminators"): s for s in specs if s.params.get("discriminators") in COLUMNS}
    if set(chosen) != set(COLUMNS):
        print(f"error: {args.sweep} has no Origin and UDA-sed specs of seed {args.seed}.", file=sys.stderr)
        return 2
    data_root = Path(os.environ["DABENCH_DATA"]) if os.environ.get("DABENCH_DATA") else None
    predictions, examples = {}, None
    for disc, column in COLUMNS.items():
        result = run(chosen[disc], registry, data_root=data_root, examples=args.count)
        assert result.examples is not None
        examples = result.examples
        predictions[column] = next(iter(result.examples.predictions.values()))
        dice = result.metrics["target"]["dice"].value
        print(f"{column}: key {result.key}, target Dice {dice:.3f}", file=sys.stderr)
    assert examples is not None
    spec = chosen["sed"]
    title = (
        f"{spec.dataset.label()} → {spec.target.label() if spec.target else ''} · target test images · seed {spec.seed}"
    )
    write_prediction_grid(
        args.out, examples.images, examples.masks, predictions, title=title, class_names=("background", "foreground")
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
