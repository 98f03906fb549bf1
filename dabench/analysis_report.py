"""Markdown and JSON reports of the DANN study's decomposition (see :mod:`dabench.analysis`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tabulate import tabulate

from dabench.analysis import BASELINE, Band, Decomposition, FitResult
from dabench.report.markdown import code_span, escape_inline


def _escape(text: object) -> str:
    return escape_inline(text)  # one line, markdown and HTML safe (dabench.report.markdown)


def _num(value: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _cell(band: Band, index: tuple[int, ...] = ()) -> str:
    v, lo, hi = (float(np.asarray(a)[index]) for a in (band.value, band.low, band.high))
    return f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def _fit_rows(fits: Mapping[str, FitResult]) -> list[list[str]]:
    rows = []
    for term, fit in sorted(fits.items()):
        params = ", ".join(f"{k}={_num(v)}±{_num(fit.stderr[k])}" for k, v in fit.params.items())
        status = "yes" if fit.converged else f"no: {fit.message}"
        rows.append([term, fit.formula, params, _num(fit.r2), _num(fit.rmse), str(fit.n_points), status])
    return [[_escape(c) for c in row] for row in rows]


def _section(d: Decomposition, fits: Mapping[str, FitResult] | None) -> list[str]:
    best, at_i, at_j = d.max_gain()
    lines = [
        f"## {_escape(d.label)}",
        "",
        f"- Metric: {code_span(d.metric)}; seeds: {d.n_seeds} ({_escape(d.method)}), {d.n_seeds_reference} "
        f"({BASELINE}).",
        f"- Reference ({BASELINE}, no test shift: intensity {d.test_intensities[0]:g}): {_cell(d.reference)}.",
        f"- Largest observed gain: {_num(best)} at test intensity {at_i:g}, DA intensity {at_j:g}.",
        "",
    ]
    fmt = {"tablefmt": "github", "disable_numparse": True}
    rows = [[f"{i:g}", _cell(d.baseline, (a,)), _cell(d.degradation, (a,))] for a, i in enumerate(d.test_intensities)]
    lines += [tabulate(rows, headers=["test intensity", f"{BASELINE} {_escape(d.metric)}", "degradation"], **fmt), ""]
    rows = [[f"{j:g}", _cell(d.accuracy, (0, b)), _cell(d.cost, (b,))] for b, j in enumerate(d.da_intensities)]
    lines += [
        tabulate(
            rows, headers=["DA intensity", f"{_escape(d.metric)} at test {d.test_intensities[0]:g}", "cost"], **fmt
        ),
        "",
    ]
    headers = ["gain: test \\ DA", *(f"{j:g}" for j in d.da_intensities)]
    rows = [
        [f"{i:g}", *(_cell(d.gain, (a, b)) for b in range(d.da_intensities.size))]
        for a, i in enumerate(d.test_intensities)
    ]
    lines += [tabulate(rows, headers=headers, **fmt), ""]
    if fits:
        headers = ["term", "model", "parameters (± s.e.)", "R²", "RMSE", "points", "converged"]
        lines += [tabulate(_fit_rows(fits), headers=headers, **fmt), ""]
    return lines


def to_markdown(decompositions: Sequence[Decomposition], fits: Sequence[Mapping[str, FitResult]] | None = None) -> str:
    """Markdown report (tabulate, github format): one section per decomposition, cells ``mean [low, high]``.

    ``fits`` is parallel to ``decompositions`` (as :func:`fit_all` returns it); None leaves the fit tables out.
    The same inputs always give the same text.
    """
    lines = [
        "# Decomposition of the score: reference − degradation − cost + gain (DANN inter-semantic study)",
        "",
        "Cells: mean over seeds [95% interval]: Student-t across seeds for two or more seeds; one seed: bootstrap "
        "half-widths added in quadrature, assuming independent estimates.",
        "",
    ]
    for k, d in enumerate(decompositions):
        lines += _section(d, fits[k] if fits is not None else None)
    return "\n".join(lines).rstrip("\n") + "\n"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Band):
        return {"value": _jsonable(obj.value), "low": _jsonable(obj.low), "high": _jsonable(obj.high)}
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def fit_parameter_scales(data: Mapping[str, Any]) -> dict[tuple[str | int, ...], float]:
    """For :func:`to_json`'s output (or the dict it rounds): the path of every fit parameter that has a finite
    standard error, mapped to that standard error (the scale it is rounded and compared at)."""
    scales: dict[tuple[str | int, ...], float] = {}
    for i, item in enumerate(data.get("decompositions") or []):
        for term, fit in (item.get("fits") or {}).items():
            for name, err in (fit.get("stderr") or {}).items():
                if isinstance(err, float) and math.isfinite(err):
                    scales[("decompositions", i, "fits", term, "params", name)] = abs(err)
    return scales


def to_json(
    decompositions: Sequence[Decomposition], fits: Sequence[Mapping[str, FitResult]] | None = None
) -> dict[str, Any]:
    """A JSON-able dict of the decompositions (and fits, parallel to them); NaN and infinities become None.

    Floats are rounded to :data:`dabench.stats.precision.SIGNIFICANT_DIGITS` significant digits: beyond them, values
    (curve-fit parameters above all) differ between CPUs and builds, and a published artefact must not depend on
    where it was regenerated. A fit parameter is rounded at the digits of ``max(|value|, stderr)``: digits far below
    its standard error move with the optimiser's stopping point. Compare two outputs with
    ``compare_json(a, b, scales=fit_parameter_scales(a))``."""
    from dabench.stats.precision import round_json

    out = []
    for k, d in enumerate(decompositions):
        item: dict[str, Any] = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
        best, at_i, at_j = d.max_gain()
        item["max_gain"] = {"value": best, "test_intensity": at_i, "da_intensity": at_j}
        if fits is not None:
            item["fits"] = {term: dataclasses.asdict(fit) for term, fit in fits[k].items()}
        out.append(item)
    data = {"model": "accuracy = reference - degradation - cost + gain", "decompositions": _jsonable(out)}
    return round_json(data, scales=fit_parameter_scales(data))
