"""The DANN study's analysis (``AnalysisSpec`` ``dann_decomposition``): records -> ``analysis.md``,
``analysis.json``, ``paper_comparison.md`` and the paper's figures.

Files written under the output folder:

- ``analysis.md`` / ``analysis.json`` — the decomposition of every DA group (reference, degradation, cost, gain,
  net benefit, gain over control, collapse flags, computed significance), the fits, the key-claim test and the
  colour-domain table (:mod:`~dabench_dann_study.report`, :mod:`~dabench_dann_study.serialise`);
- ``paper_comparison.md`` — the paper's values beside dabench's, generated from the ``analysis.json`` just written
  (:mod:`~dabench_dann_study.paper`);
- ``accuracy_vs_test_intensity.{png,svg}`` (Fig. 5a/7a: DA intensity equal to the test intensity),
  ``gain_heatmap_<group>.*`` and ``gain_surface_<group>.*`` (Fig. 5b/c, 7b/c) for groups with at least two test
  and two DA intensities, ``accuracy_per_colour_domain.*`` (Fig. 9) when the records have colour domains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dabench
from dabench_dann_study import figures, paper, report, serialise
from dabench_dann_study.claims import key_claim
from dabench_dann_study.curves import accuracy_curves
from dabench_dann_study.decomposition import decompose
from dabench_dann_study.domain_groups import colour_records, domain_rows, per_domain_groups
from dabench_dann_study.fits import fit_all
from dabench_dann_study.records import ok_records

DEFAULT_METRIC = "accuracy"


def default_metric(records: Sequence[Mapping[str, Any]]) -> str:
    """``accuracy`` (the paper's) when the records have it, else the first metric of the first record."""
    names = [m["name"] for r in ok_records(records) for m in r["spec"].get("metrics", [])]
    return DEFAULT_METRIC if DEFAULT_METRIC in names or not names else names[0]


def _write(path: Path, text: str) -> Path:
    from dabench.report.markdown import write_text

    return write_text(path, text)


def _stem(d: Any) -> str:
    parts = [d.method, *([d.variant] if d.variant else []), d.dataset, d.da_dataset, d.test_shift]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).strip("_")


def run(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    """Write the study's tables, comparison and figures under ``out_dir``; returns the files written."""
    metric = ctx.metric or default_metric(records)
    bounds = ctx.bounds_of(metric)
    decompositions = decompose(records, metric=metric, bounds=bounds)
    fits = fit_all(decompositions)
    claims = [key_claim(d) for d in decompositions]
    rows = domain_rows(records, metric=metric, bounds=bounds)
    data = serialise.to_json(decompositions, fits, claims, rows, metric=metric)
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"
    written = [
        _write(out_dir / "analysis.md", report.to_markdown(decompositions, fits, claims, rows, metric=metric)),
        _write(out_dir / "analysis.json", text),
    ]
    comparison = paper.compare(json.loads(written[1].read_text()))  # from the file, exactly as published
    written.append(_write(out_dir / "paper_comparison.md", paper.to_markdown(comparison)))
    curves = accuracy_curves(decompositions)
    if curves:
        written += figures.plot_accuracy_curves(
            curves, out_dir / "accuracy_vs_test_intensity", metric=metric, bounds=bounds
        )
    for d, fit in zip(decompositions, fits, strict=True):
        if len(d.da_intensities) >= 2 and len(d.test_intensities) >= 2:
            written += figures.plot_gain_heatmap(d, out_dir / f"gain_heatmap_{_stem(d)}")
            written += figures.plot_gain_surface(d, out_dir / f"gain_surface_{_stem(d)}", fit=fit["gain"])
    colour = colour_records(records)
    if colour:
        at = max(float(i) for r in colour for i in r["spec"].get("test_intensities", [0.0]))
        boxes = per_domain_groups(colour, metric=metric, intensity=at)
        if boxes:
            title = f"{metric} at test@{at:g} per colour domain (paper Fig. 9: blue no DA, green same, red other)"
            written += figures.plot_domain_boxplots(
                boxes, out_dir / "accuracy_per_colour_domain", metric=metric, title=title
            )
    return written
