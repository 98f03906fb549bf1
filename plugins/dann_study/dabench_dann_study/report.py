"""``analysis.md``: the decomposition of every DA group, its net benefit, gain over control, collapse flags, fits,
the key-claim test and the colour-domain table, as markdown (tabulate, github format). Every user string is escaped
(:mod:`dabench.report.markdown`); every header says what its cells are, from the data they come from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from tabulate import tabulate

from dabench.report.markdown import code_span, escape_inline
from dabench.stats.fitting import FitResult
from dabench_dann_study.claims import MIN_DA_VALUES, MOST, KeyClaim
from dabench_dann_study.decomposition import Band, Decomposition, significant
from dabench_dann_study.domain_groups import DomainRow
from dabench_dann_study.records import BASELINE, DOMAIN_PREFIX

FMT = {"tablefmt": "github", "disable_numparse": True}
SIGNIFICANT = "\\*"
TITLE = "# Decomposition of the score: reference − degradation − cost + gain (DANN inter-semantic study)"


def _num(value: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(v: float, lo: float, hi: float) -> str:
    return f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def cell(band: Band, index: tuple[int, ...] = (), *, flag: bool = False, bounds: tuple[float, float] = (0, 0)) -> str:
    """``mean [low, high]``, with ``\\*`` when ``flag`` and the interval excludes 0."""
    v, lo, hi = (float(np.asarray(a)[index]) for a in (band.value, band.low, band.high))
    text = _interval(v, lo, hi)
    if flag and bool(np.asarray(significant(band, bounds))[index]):
        text += f" {SIGNIFICANT}"
    return text


def _collapse(count: int, known: int) -> str:
    return f" (collapsed {count}/{known})" if count else ""


def _fit_rows(fits: Mapping[str, FitResult]) -> list[list[str]]:
    rows = []
    for term, fit in sorted(fits.items()):
        params = ", ".join(f"{k}={_num(v)}±{_num(fit.stderr[k])}" for k, v in fit.params.items())
        status = "yes" if fit.converged else f"no: {fit.message}"
        rows.append([term, fit.formula, params, _num(fit.r2), _num(fit.rmse), str(fit.n_points), status])
    return [[escape_inline(c) for c in row] for row in rows]


def _grid(d: Decomposition, band: Band, title: str, *, collapse: bool) -> list[str]:
    """A test × DA table of a difference term, flagged, with the DA model's collapse counts."""
    headers = [f"{title}: test \\ DA", *(f"{j:g}" for j in d.da_intensities)]
    rows = []
    for a, i in enumerate(d.test_intensities):
        cells = []
        for b in range(d.da_intensities.size):
            text = cell(band, (a, b), flag=True, bounds=d.bounds)
            if collapse:
                text += _collapse(int(d.collapsed[a, b]), int(d.collapse_known[a, b]))
            cells.append(text)
        rows.append([f"{i:g}", *cells])
    return [tabulate(rows, headers=headers, **FMT), ""]


def claim_line(claim: KeyClaim) -> str:
    """One line: the key claim's status with the numbers it rests on."""
    if claim.status == "cannot be tested":
        return f"cannot be tested: {escape_inline(claim.reason)}."
    change = _interval(claim.change_share, claim.change_share_low, claim.change_share_high)
    slope = _interval(claim.slope, claim.slope_low, claim.slope_high)
    return (
        f"**{claim.status}** — share of the largest gain ({_num(claim.max_gain)} at test {claim.peak_test_intensity:g})"
        f' reached at the lowest DA intensity {claim.lowest_da:g}: {_num(claim.share_at_lowest)} ("most": ≥ '
        f"{MOST:g}); slope of the gain at test {claim.peak_test_intensity:g} vs DA intensity: {slope} "
        f"({escape_inline(claim.slope_basis)}){' ' + SIGNIFICANT if claim.depends_on_da else ''}, i.e. a change of "
        f"{change} of the largest gain across the DA grid; {escape_inline(claim.reason)}."
    )


def _section(d: Decomposition, fits: Mapping[str, FitResult] | None, claim: KeyClaim | None) -> list[str]:
    best, at_i, at_j = d.max_gain()
    i0 = d.test_intensities[0]
    lines = [
        f"## {escape_inline(d.label)}",
        "",
        f"- Metric: {code_span(d.metric)}; seeds: {d.n_seeds} ({escape_inline(d.method_label)}), "
        f"{d.n_seeds_reference} ({BASELINE}).",
        f"- Reference ({BASELINE}, no test shift: intensity {i0:g}): {cell(d.reference)}.",
        f"- Largest observed gain: {_num(best)} at test intensity {at_i:g}, DA intensity {at_j:g}.",
    ]
    if d.control_label:
        lines.append(f"- Control (adversarial term off, same DA data): {escape_inline(d.control_label)}.")
    if claim is not None:
        lines.append(
            f"- Key claim (gain nearly invariant to DA intensity, most of it at low DA intensity): {claim_line(claim)}"
        )
    lines.append("")
    rows = [
        [
            f"{i:g}",
            cell(d.baseline, (a,)) + _collapse(int(d.baseline_collapsed[a]), int(d.baseline_collapse_known[a])),
            cell(d.degradation, (a,), flag=True, bounds=d.bounds),
        ]
        for a, i in enumerate(d.test_intensities)
    ]
    lines += [tabulate(rows, headers=["test intensity", f"{BASELINE} {escape_inline(d.metric)}", "degradation"], **FMT)]
    lines.append("")
    rows = [
        [f"{j:g}", cell(d.accuracy, (0, b)), cell(d.cost, (b,), flag=True, bounds=d.bounds)]
        for b, j in enumerate(d.da_intensities)
    ]
    headers = ["DA intensity", f"{escape_inline(d.metric)} at test {i0:g}", "cost"]
    lines += [tabulate(rows, headers=headers, **FMT), ""]
    lines += _grid(d, d.gain, "gain", collapse=True)
    lines += _grid(d, d.net_benefit, f"net benefit over {BASELINE}", collapse=True)
    if d.gain_over_control is not None:
        lines += _grid(d, d.gain_over_control, "gain over control", collapse=False)
    if fits:
        headers = ["term", "model", "parameters (± s.e.)", "R²", "RMSE", "points", "converged"]
        lines += [tabulate(_fit_rows(fits), headers=headers, **FMT), ""]
    return lines


def colour_table(rows: Sequence[DomainRow], metric: str) -> list[str]:
    """The colour-domain table: one row per (domain, arm), one column per test intensity, headers from the data."""
    intensities = sorted({i for row in rows for i in row.cells})
    headers = ["colour domain", "arm", *(f"{escape_inline(metric)} at {DOMAIN_PREFIX}{i:g}" for i in intensities)]
    body = []
    for row in rows:
        cells = []
        for i in intensities:
            if i not in row.cells:
                cells.append("–")
                continue
            v, lo, hi, n = row.cells[i]
            cells.append(f"{_interval(v, lo, hi)} (n={n})")
        body.append([escape_inline(row.domain), escape_inline(row.group), *cells])
    return [
        "## Colour domains (paper Fig. 9)",
        "",
        f"Each cell: mean {code_span(metric)} over seeds [95% interval: Student-t across seeds; one seed: the run's "
        "bootstrap interval], clipped to the metric's bounds; n = seeds. Test intensity 0 is the original colours, "
        "1 the full transfer to the domain's reference.",
        "",
        tabulate(body, headers=headers, **FMT),
        "",
    ]


def key_claim_table(decompositions: Sequence[Decomposition], claims: Sequence[KeyClaim]) -> list[str]:
    """One row per DA group (controls left out): the key-claim test's outcome."""
    rows = []
    for d, claim in zip(decompositions, claims, strict=True):
        if d.control:
            continue
        share = _num(claim.share_at_lowest)
        slope = _interval(claim.slope, claim.slope_low, claim.slope_high) if claim.slope_basis else "–"
        rows.append([escape_inline(d.label), str(len(claim.da_intensities)), share, slope, escape_inline(claim.status)])
    if not rows:
        return []
    headers = ["DA group", "DA values", "share at lowest DA", "slope vs DA intensity [95%]", "key claim"]
    return [
        "## Key claim: gain nearly invariant to DA intensity",
        "",
        f"Tested per DA group at the test intensity of its largest gain; it needs at least {MIN_DA_VALUES} DA "
        f"intensities. Confirmed when the share of the largest gain reached at the lowest DA intensity is ≥ {MOST:g} "
        "and the slope's interval includes 0.",
        "",
        tabulate(rows, headers=headers, **FMT),
        "",
    ]


def to_markdown(
    decompositions: Sequence[Decomposition],
    fits: Sequence[Mapping[str, FitResult]] | None = None,
    claims: Sequence[KeyClaim] | None = None,
    colour_rows: Sequence[DomainRow] | None = None,
    *,
    metric: str = "accuracy",
) -> str:
    """The whole report; ``fits`` and ``claims`` are parallel to ``decompositions``. The same inputs always give
    the same text."""
    bounds = decompositions[0].bounds if decompositions else (-math.inf, math.inf)
    lines = [
        TITLE,
        "",
        "Cells: mean over seeds [95% interval]: Student-t across seeds for two or more seeds; one seed: bootstrap "
        "half-widths added in quadrature, assuming independent estimates. Intervals are clipped to the range each "
        f"term can take with {code_span(metric)} in [{bounds[0]:g}, {bounds[1]:g}]. {SIGNIFICANT}: the interval "
        "excludes 0 (computed). *collapsed k/n*: k of the n seeds' models put almost all predictions on that test "
        f"domain in one class (the records' `collapsed` validator). *net benefit*: the DA model minus {BASELINE} "
        "at the same test intensity (paired across seeds). *gain over control*: the gain minus the gain of DANN with "
        "its adversarial term off (same DA data): the part of the gain the adversarial term adds.",
        "",
    ]
    for k, d in enumerate(decompositions):
        lines += _section(d, fits[k] if fits is not None else None, claims[k] if claims is not None else None)
    if claims is not None:
        lines += key_claim_table(decompositions, claims)
    if colour_rows:
        lines += colour_table(colour_rows, metric)
    return "\n".join(lines).rstrip("\n") + "\n"
