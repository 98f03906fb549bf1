"""The BN-adaptation study's analysis: ``perlin_grid`` and ``shift_grid`` records -> tables, predictor evaluation,
paper comparison and figures.

Files written under the output folder:

- ``analysis.json`` — per study × adapted arm × source setting × target cell: Dice without and with adaptation, the
  paired gain, foreground fractions, flags and diagnostics; the predictor table (ρ per setting, held-out prediction,
  verdicts); the shift-grid tables (:mod:`~dabench_bn_study.serialise`), at the declared precision;
- ``analysis.md`` — the same as markdown, generated from the ``analysis.json`` just written
  (:mod:`~dabench_bn_study.report`);
- ``paper_comparison.md`` — the paper's claims beside what the records show (:mod:`~dabench_bn_study.paper`);
- ``figures/heatmap_<arm>_<source>.{png,svg}`` (Dice unadapted, adapted, gain over (μ1, μ2)),
  ``figures/gain_vs_<predictor>_<arm>.*`` (the gain against each predictor, ρ in the title) and
  ``figures/shift_<arm>_<shift>.*`` (Dice against the shift intensity).

The same records give the same files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dabench
from dabench_bn_study import figures, paper, report
from dabench_bn_study.cells import PRIMARY, SourceTable, source_table
from dabench_bn_study.predictors import evaluate
from dabench_bn_study.records import PERLIN, PROTOCOLS, SHIFT, Setting, settings
from dabench_bn_study.serialise import PerlinGroup, ShiftGroup, to_json

FIGURES = "figures"


def applies(records: Sequence[Mapping[str, Any]]) -> bool:
    """At least one completed ``perlin_grid`` or ``shift_grid`` run."""
    return any(r.get("status") == "ok" and (r.get("spec") or {}).get("protocol") in PROTOCOLS for r in records)


def _write(path: Path, text: str) -> Path:
    from dabench.report.markdown import write_text

    return write_text(path, text)


def slug(text: str) -> str:
    """A file-name-safe form: ``mu1=0.7,mu2=0.3`` -> ``mu1_0.7_mu2_0.3``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_") or "x"


def _groups(found: Sequence[Setting]) -> list[tuple[str, str, list[Setting]]]:
    out: dict[tuple[str, str], list[Setting]] = {}
    for s in found:
        out.setdefault((s.study, s.arm.label), []).append(s)
    return [(study, arm, group) for (study, arm), group in out.items()]


def _prefix(study: str, studies: Sequence[str]) -> str:
    """``study2_`` when one protocol's records hold several studies (figure names must not collide), else ""."""
    ordered = sorted(set(studies))
    return f"study{ordered.index(study) + 1}_" if len(ordered) > 1 else ""


def _tables(group: Sequence[Setting], metric: str, bounds: tuple[float, float]) -> tuple[SourceTable, ...]:
    return tuple(source_table(s, metric=metric, bounds=bounds) for s in group)


def write_tables(
    records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext
) -> tuple[list[Path], list[PerlinGroup], list[ShiftGroup]]:
    """``analysis.json``, ``analysis.md`` and ``paper_comparison.md`` under ``out_dir``; returns the files written
    and the groups the figures are drawn from."""
    metric = ctx.metric or PRIMARY
    bounds = ctx.bounds_of(metric)
    perlin_sets, shift_sets = settings(records, PERLIN), settings(records, SHIFT)
    perlin = []
    for study, arm, group in _groups(perlin_sets):
        tables = _tables(group, metric, bounds)
        perlin.append(PerlinGroup(study, arm, tables, evaluate(tables)))
    shifts = [ShiftGroup(study, arm, _tables(group, metric, bounds)) for study, arm, group in _groups(shift_sets)]
    notes = []
    for protocol in PROTOCOLS:
        failed = sum(
            1 for r in records if (r.get("spec") or {}).get("protocol") == protocol and r.get("status") != "ok"
        )
        if failed:
            notes.append(f"{failed} {protocol} record(s) did not complete and were left out")
    if not perlin_sets and not shift_sets:
        notes.append(
            "no adapted run has a source_only partner of the same study, source setting and seed: nothing to compare"
        )
    doc = to_json(perlin, shifts, metric=metric, notes=notes)
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
    written = [_write(out_dir / "analysis.json", text)]
    published = json.loads(written[0].read_text())  # the tables come from the file, exactly as published
    written.append(_write(out_dir / "analysis.md", report.to_markdown(published)))
    written.append(_write(out_dir / "paper_comparison.md", paper.to_markdown(paper.compare(published))))
    return written, perlin, shifts


def draw(perlin: Sequence[PerlinGroup], shifts: Sequence[ShiftGroup], out_dir: Path) -> list[Path]:
    """The figures under ``out_dir/figures`` (module docstring); returns the files written."""
    written: list[Path] = []
    for g in perlin:
        prefix = _prefix(g.study, [p.study for p in perlin])
        for table in g.tables:
            stem = out_dir / FIGURES / f"{prefix}heatmap_{slug(g.arm)}_{slug(table.setting.source_label)}"
            written += figures.plot_heatmaps(table, stem, arm=g.arm)
        for result in g.predictors.results:
            stem = out_dir / FIGURES / f"{prefix}gain_vs_{result.name}_{slug(g.arm)}"
            written += figures.plot_scatter(g.tables, g.predictors, result.name, stem)
    for sg in shifts:
        prefix = _prefix(sg.study, [s.study for s in shifts])
        for table in sg.tables:
            if table.rows:
                stem = out_dir / FIGURES / f"{prefix}shift_{slug(sg.arm)}_{slug(table.setting.source_label)}"
                written += figures.plot_shift_grid(table, stem, arm=sg.arm)
    return written


def run(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    """Write the study's tables, comparison and figures under ``out_dir``; returns the files written."""
    written, perlin, shifts = write_tables(records, out_dir, ctx)
    return written + draw(perlin, shifts, out_dir)
