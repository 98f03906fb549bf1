"""The benefit-predictor leaderboard: a markdown table of held-out scores and one scatter figure per predictor.

Every number comes from an :class:`~dabench.predictors.evaluation.Evaluation` at a fixed precision (3 decimals for
Spearman ρ and AUROC, 2 for percentage points), rows sorted by decision regret then name, so the same evaluation
always renders the same bytes. The always-adapt and never-adapt rows are controls: a predictor is worth using only
where its regret is below both. The oracle (adapt exactly where the realised benefit is positive) has regret 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from dabench.predictors.evaluation import Evaluation, PredictorResult
from dabench.report.figures import COLOURS, GRID_ALPHA, new_figure, style_axes
from dabench.report.markdown import code_span, escape_inline

MISSING = "–"
SCATTER_DPI = 80
"""A study publishes one scatter per predictor and scheme (hundreds of files): 80 dpi keeps each near 25 kB."""
HEADERS = (
    "predictor",
    "paper",
    "estimates",
    "MAE (pp)",
    "Spearman ρ [95 % CI]",
    "AUROC(benefit > ε)",
    "regret (pp)",
    "units",
)
SCHEME_TEXT = {
    "leave_one_shift_family_out": "leave one shift family out (each family is predicted by maps fitted on the others)",
    "leave_one_dataset_out": "leave one dataset out (each dataset is predicted by maps fitted on the others)",
    "external": "external (maps fitted on another store's units, scored on this one's, which were never fitted on)",
}


def _num(value: float | None, digits: int) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _rho(result: PredictorResult) -> str:
    if result.spearman is None:
        return MISSING
    ci = result.spearman_ci
    interval = f" [{_num(ci[0], 3)}, {_num(ci[1], 3)}]" if ci is not None else ""
    return f"{_num(result.spearman, 3)}{interval}"


def _order(result: PredictorResult) -> tuple[bool, float, str]:
    return (result.regret_pp is None, result.regret_pp or 0.0, result.name)


def _predictor_rows(evaluation: Evaluation) -> list[list[str]]:
    return [
        [
            escape_inline(r.name),
            escape_inline(r.info.paper) or MISSING,
            escape_inline(r.info.estimates) if r.info.estimates else "– (calibrated)",
            _num(r.mae_pp, 2),
            _rho(r),
            _num(r.auroc, 3),
            _num(r.regret_pp, 2),
            str(r.n_units),
        ]
        for r in sorted(evaluation.predictors, key=_order)
    ]


def _predictor_notes(evaluation: Evaluation) -> list[str]:
    notes = []
    for r in sorted(evaluation.predictors, key=lambda r: r.name):
        if r.skipped_folds:
            notes.append(f"{r.name}: {r.skipped_folds} fold(s) skipped (fewer than 3 distinct training cells).")
        if r.n_units == 0:
            notes.append(f"{r.name}: no held-out units (no values in these records, or every fold was skipped).")
        notes.extend(f"{r.name}: {note}." for note in r.fallbacks)
    return notes


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    from tabulate import tabulate

    return str(tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True))


def render_markdown(
    evaluation: Evaluation, *, title: str, store_label: str, method: str, notes: Sequence[str] = ()
) -> str:
    """The leaderboard of ``evaluation`` as markdown: header lines, the predictor table sorted by regret, the
    control rows, then notes (``notes`` first, then the evaluation's own)."""
    e = evaluation
    folds = f"{len(e.groups)} fold(s): {', '.join(e.groups)}" if e.groups else "no folds"
    lines = [
        f"# {escape_inline(title)}",
        "",
        f"- Store: {code_span(store_label)}; method: {code_span(method)} (benefit = {escape_inline(method)} minus "
        "source_only on the primary metric, same spec and seed).",
        f"- Validation: {SCHEME_TEXT.get(e.scheme, escape_inline(e.scheme))}.",
        f"- {e.n_units} units from {e.n_records} records; {escape_inline(folds)}.",
        f"- ε = {e.epsilon:g}: a benefit above ε counts as helping; a predictor advises adapting where its predicted "
        "benefit is above ε. Regret: the score lost against the better of adapting or not, per unit (pp).",
        "- MAE of the predicted target score; a predictor without `estimates` is calibrated by a line fitted on the "
        "training folds only.",
        f"- Spearman ρ of predicted vs realised benefit; interval: cluster bootstrap over cells (seeds of a cell "
        f"resampled together), {e.n_boot} resamples, seed {e.seed}.",
        "- Oracle regret is 0 by definition; the always-adapt and never-adapt rows are controls.",
        "",
        _table(HEADERS, _predictor_rows(e)),
        "",
        "## Controls",
        "",
        _table(
            ("control", "regret (pp)", "units"),
            [[c.name, _num(c.regret_pp, 2), str(c.n_units)] for c in e.controls],
        ),
    ]
    all_notes = [*notes, *e.notes, *_predictor_notes(e)]
    if all_notes:
        lines += ["", "## Notes", "", *(f"- {escape_inline(n)}" for n in all_notes)]
    return "\n".join(lines) + "\n"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "predictor"


def write_scatter(evaluation: Evaluation, folder: Path | str) -> list[Path]:
    """One PNG per predictor with held-out units (``<folder>/<predictor>.png``): predicted vs realised benefit
    (pp), coloured by shift family, with the y = x line and the ε thresholds. Reproducible bytes (fixed dpi, no
    software tag)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    eps = evaluation.epsilon * 100.0
    for result in sorted(evaluation.predictors, key=lambda r: r.name):
        if not result.points:
            continue
        fig = new_figure((4.2, 3.6))
        ax = fig.add_subplot()
        families = sorted({p.family for p in result.points})
        for i, family in enumerate(families):
            pts = [p for p in result.points if p.family == family]
            ax.scatter(
                [p.predicted_benefit * 100 for p in pts],
                [p.benefit * 100 for p in pts],
                s=12,
                color=COLOURS[i % len(COLOURS)],
                label=family,
            )
        values = [v * 100 for p in result.points for v in (p.predicted_benefit, p.benefit) if math.isfinite(v)]
        low, high = min([*values, 0.0]), max([*values, 0.0])
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=0.8, label="y = x")
        ax.axhline(eps, color="grey", linestyle=":", linewidth=0.6, alpha=GRID_ALPHA * 2)
        ax.axvline(eps, color="grey", linestyle=":", linewidth=0.6, alpha=GRID_ALPHA * 2)
        rho = "–" if result.spearman is None else f"{result.spearman:.3f}"
        style_axes(
            ax,
            xlabel="predicted benefit (pp)",
            ylabel="realised benefit (pp)",
            title=f"{result.name} ({evaluation.scheme}): ρ = {rho}, n = {result.n_units}",
        )
        path = out / f"{_file_name(result.name)}.png"
        fig.savefig(path, format="png", dpi=SCATTER_DPI, metadata={"Software": None})
        paths.append(path)
    return paths
