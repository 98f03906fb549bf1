"""Records -> rows -> markdown. A pure pipeline: the same records always give byte-identical tables.

Rows (:mod:`dabench.report.leaderboard_rows`) aggregate the seeds of exactly one configuration; the cell is the mean
over seeds with a 95% interval — the run's bootstrap interval when there is one seed, a Student-t interval across
seeds otherwise — and ``n_seeds`` is shown (``1 ⚠`` for a single seed: its interval says nothing about seed-to-seed
variation), with the failed, diverged and collapsed runs of the row. Tables are ranked by the primary metric (the
spec's first, shown first and marked "(ranked)") on the target domain (grid tables: the grid mean) in the metric's
direction, and rows not significantly different from the best share rank 1 (:mod:`dabench.report.ranking`). Every
user-supplied string is escaped (:mod:`dabench.report.markdown`); records that cannot be read or used are named in
the document, never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tabulate import tabulate

from dabench.builtins.validators import COLLAPSE_MAX_SHARE
from dabench.report.leaderboard_rows import (
    BASELINE,
    Row,
    Setting,
    adaptation_of,
    build_settings,
    group_rows,
    problem,
    setting_of,
    varying_params,
    versions_label,
)
from dabench.report.markdown import code_span, escape_inline
from dabench.report.ranking import NO_REPLICATES, Comparison, Ranked, rank_rows, row_score

__all__ = [
    "BASELINE",
    "INTERVAL_NOTE",
    "RANKED",
    "SINGLE_SEED",
    "Row",
    "adaptation_of",
    "domain_order",
    "group_rows",
    "render",
    "seeds_label",
    "setting_of",
    "table",
    "varying_params",
]

SINGLE_SEED = "⚠"
"""Marks ``n_seeds`` of a row with one seed: its interval is over test samples only."""
INTERVAL_NOTE = (
    "Cells: mean over seeds [95% interval] — percentile bootstrap over test samples for one seed, "
    f"Student-t across seeds for several. *n_seeds* `1 {SINGLE_SEED}`: one seed — the interval is over the test "
    "samples only and says nothing about seed-to-seed variation (a re-trained model may land outside it); "
    "run more seeds before reading a difference between such rows as a difference between methods. "
    "*Δ vs best*: the row minus the best row on the seeds both share, with the "
    "95% interval of the paired test that ranks it (each table says which). *salvage*: Valliani et al.'s salvage "
    "(PLOS ONE), the share of the primary metric lost to the shift that the method recovers on the target: "
    "(method on target − source_only on target) / (source_only on source − source_only on target), on the test "
    "splits. The reference is the internal test value (source_only on the source test split), the reference "
    "their reported averages use (digits 35 %, chest X-rays 25 % of the AUC lost); it is not the target-trained "
    "'theoretical ceiling' of their figures, which dabench does not train. *across-domain variance*: the "
    "population variance of the row's primary metric (in %, so %²) across the table's test domains (source and "
    "target, or the test grid), each scored with the row's own model — with two domains ((source − target)/2)², "
    "a restatement of the gap. It is not Valliani et al.'s *domain spread*, which is the variance across domains "
    "of one global model trained on the pooled domains. *collapsed*: ok runs "
    f"whose predictions put more than {COLLAPSE_MAX_SHARE:.0%} of the target test samples (grid tables: the first "
    "test domain) in one class, averaged in and counted; *failed* (errors, invalid outputs) and *diverged* runs are "
    "counted and never averaged in."
)
MAX_LISTED = 20
"""At most this many unreadable or unusable records are named one by one."""
RANKED = " (ranked)"
"""Appended to the header of the column a table is ranked by (the primary metric on the ranked domain)."""


def seeds_label(n: int) -> str:
    """``n_seeds`` as shown: ``1 ⚠`` for a single seed (an interval over test samples only), else the count."""
    return f"1 {SINGLE_SEED}" if n == 1 else str(n)


PROTOCOL_NOTES = {
    "uda": "methods see the labelled {dataset} train split and the unlabelled, shifted {target} train split; test "
    "labels stay with the runner.",
}
"""The core protocol's note, naming the setting's datasets; a plugin protocol is described by its registered
``ProtocolSpec.description`` (``render(..., protocols=...)``)."""


def domain_order(domain: str) -> tuple[int, float, str]:
    """``target`` first, then ``test@x`` by intensity, then the rest alphabetically."""
    if domain.startswith("test@"):
        try:
            at = float(domain.removeprefix("test@"))
        except ValueError:
            at = math.inf
        return (1, at if math.isfinite(at) else math.inf, domain)
    return (0 if domain == "target" else 2, 0.0, domain)


def _domains(setting: Setting) -> list[str]:
    """Every test domain of the setting's ok records; from the spec when it has none."""
    found = {str(d) for row in setting.rows for r in row.records for d in r["metrics"]}
    if not found:
        spec = setting.records()[0]["spec"]
        found = (
            {f"test@{i:g}" for i in spec.get("test_intensities") or []}  # a protocol with a test-shift grid
        ) or {"target", "source"}
    return sorted(found, key=domain_order)


def _collapse_domain(domains: Sequence[str]) -> str:
    return "target" if "target" in domains else next((d for d in domains if d != "source"), domains[0])


def _fmt(cell: tuple[float, float, float] | None) -> str:
    if cell is None:
        return "–"
    return f"{_number(cell[0], 3)} [{_number(cell[1], 3)}, {_number(cell[2], 3)}]"


def _number(value: float, digits: int) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _delta(comparison: Comparison | None) -> str:
    if comparison is None:
        return "–"
    if comparison.test == "best":
        return "best"
    if not comparison.tested:
        return f"not tested: {comparison.reason}"
    how = f"t, {comparison.n} seeds" if comparison.test == "t" else "bootstrap"
    return f"{comparison.diff:+.3f} [{comparison.low:+.3f}, {comparison.high:+.3f}] ({how})"


def derived_columns(row: Row, baseline: Row | None, primary: str, domains: Sequence[str]) -> list[str]:
    """Salvage (against the setting's source_only row) and the across-domain variance of the primary metric (not
    the domain spread: each row is its own model, see :mod:`dabench.stats.derived`)."""
    from dabench.stats.derived import across_domain_variance, salvage

    cells = {d: row.cell(d, primary) for d in domains}
    spread = (
        across_domain_variance([c[0] for c in cells.values() if c is not None], scale=100.0)
        if all(cells.values())
        else math.nan
    )
    value = math.nan
    if baseline is not None and "target" in domains and "source" in domains:
        base_source, base_target, own = (
            baseline.cell("source", primary),
            baseline.cell("target", primary),
            cells["target"],
        )
        if base_source and base_target and own:
            value = salvage(own[0], base_target[0], base_source[0])
    return [_number(value, 2), _number(spread, 2)]


def _baseline(rows: Sequence[Row]) -> Row | None:
    candidates = [r for r in rows if r.method == BASELINE and r.records]
    return min(candidates, key=lambda r: (-len(r.records), r.label, r.config), default=None)


def _ranked_table(
    rows: Sequence[Row],
    *,
    metrics: Sequence[str],
    domains: Sequence[str],
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]],
) -> tuple[str, list[Ranked]]:
    primary = metrics[0]
    compact = len(domains) > 4  # a grid of test intensities: primary metric only, mean only; ranked by grid mean
    ranked_on = list(domains) if compact else list(domains[:1])
    ranked = rank_rows(rows, primary, ranked_on, directions.get(primary, True))
    varying = varying_params(rows)
    adapted = any(r.adaptation for r in rows)
    shown = [primary] if compact else list(metrics)
    esc = escape_inline
    headers = ["rank", "method", "paper"] + (["DA data, DA shift"] if adapted else []) + (["params"] if varying else [])
    headers += [
        esc(d) if compact else f"{esc(d)} {esc(m)}" + (RANKED if (d, m) == (ranked_on[0], primary) else "")
        for d in domains
        for m in shown
    ]
    headers += [f"grid mean {esc(primary)}{RANKED}"] if compact else []
    headers += ["Δ vs best (95%)", f"salvage ({esc(primary)})", f"across-domain variance ({esc(primary)}, %²)"]
    headers += ["n_seeds", "collapsed", "failed", "diverged", "epochs", "fit s/run"]
    baseline = _baseline(rows)
    collapse_at = _collapse_domain(domains)
    body = []
    for entry in ranked:
        row = entry.row
        cells = [entry.rank, esc(row.label or row.method), esc(citations.get(row.method, ""))]
        cells += [esc(row.adaptation or "–")] if adapted else []
        cells += [esc(", ".join(f"{k}={row.params[k]}" for k in varying if k in row.params))] if varying else []
        cells += [
            _number(c[0], 3) if compact and c else _fmt(c)
            for d in domains
            for m in shown
            for c in [row.cell(d, m, bounds.get(m, (-math.inf, math.inf)))]
        ]
        cells += [_number(row_score(row, primary, domains), 3)] if compact else []
        cells += [_delta(entry.comparison), *derived_columns(row, baseline, primary, domains)]
        cells += [seeds_label(len(row.records)), str(row.collapsed_count(collapse_at))]
        cells += [str(row.failure_count("failed"))]
        cells += [str(row.failure_count("diverged")), esc(row.params.get("epochs", "–"))]
        cells += [_number(row.mean_timing("fit_s"), 1)]
        body.append(cells)
    text = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    return text, ranked


def table(
    rows: Sequence[Row],
    *,
    metrics: Sequence[str],
    domains: Sequence[str],
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """One markdown table (tabulate, github format), ranked (:func:`dabench.report.ranking.rank_rows`)."""
    return _ranked_table(
        rows, metrics=metrics, domains=domains, directions=directions, citations=citations, bounds=bounds or {}
    )[0]


def _ranking_note(ranked: Sequence[Ranked], primary: str, compact: bool, higher: bool, domain: str = "target") -> str:
    grid = f"grid mean {primary} (paired per seed and per replicate on the grid mean)"
    on = grid if compact else f"{escape_inline(domain)} {primary}"
    text = (
        f"- Ranking: by {on}, {'higher' if higher else 'lower'} is better. Rows whose difference from the best row "
        "is not significant share rank 1 (competition ranking): the 95% interval of row − best over the seeds both "
        "share must exclude 0 — a paired t-interval of the per-seed differences for two or more shared seeds, a "
        "paired percentile bootstrap over the same test resamples (the runs' stored replicates) for one."
    )
    untested = [e.comparison.reason for e in ranked if e.comparison is not None and e.comparison.test == "not tested"]
    if untested:
        reasons = "; ".join(f"{r}: {untested.count(r)}" for r in sorted(set(untested)))
        text += f" Not tested against the best row, so ranked by point estimate: {len(untested)} row(s) ({reasons})."
        if NO_REPLICATES in untested:
            text += " Runs recorded before dabench kept paired replicates have none: re-run them with --force."
    if any(e.comparison is None for e in ranked):
        text += " Rows without a value to rank by (only failed runs, or undefined values) are unranked (–)."
    return text


def _primary_note(metrics: Sequence[str]) -> str:
    """Which metric the table is ranked by: the spec's first (a sweep's ``metrics = [...]`` order)."""
    others = f"; also shown: {escape_inline(', '.join(metrics[1:]))}" if len(metrics) > 1 else ""
    return (
        f"- Primary metric: {code_span(metrics[0])}, the runs' first metric (a sweep's `metrics = [...]` order) — "
        f"the ranking, Δ vs best, salvage and across-domain variance use it; its column comes first, "
        f"marked{RANKED}{others}."
    )


def _runs_note(setting: Setting, collapse_at: str) -> str:
    rows = setting.rows
    ok, collapsed = sum(len(r.records) for r in rows), sum(r.collapsed_count(collapse_at) for r in rows)
    failed, diverged = sum(r.failure_count("failed") for r in rows), sum(r.failure_count("diverged") for r in rows)
    text = f"- Runs: {ok} ok ({collapsed} collapsed), {failed} failed, {diverged} diverged, in {len(rows)} row(s)."
    if setting.duplicates:
        text += (
            f" {setting.duplicates} duplicate record(s) of a configuration and seed already shown are left out "
            "(an ok record is used before a failed one, then the newest)."
        )
    return text


def _section(
    setting: Setting,
    heading: str,
    *,
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]],
    protocols: Mapping[str, str],
) -> list[str]:
    records = setting.records()
    first = next((r for row in setting.rows for r in row.records), records[0])
    spec = first["spec"]
    protocol, dataset, target = setting.key[0], setting.key[1], setting.key[2]
    target_label = target if target != "-" else dataset
    metrics = [str(m["name"]) for m in spec["metrics"]]
    domains = _domains(setting)
    prov = first.get("provenance", {}) if isinstance(first.get("provenance"), Mapping) else {}
    libraries = prov.get("libraries", {}) if isinstance(prov.get("libraries"), Mapping) else {}
    if protocol in PROTOCOL_NOTES:
        note = PROTOCOL_NOTES[protocol].format(dataset=escape_inline(dataset), target=escape_inline(target_label))
    else:
        note = escape_inline(protocols.get(protocol) or f"see `dabench list protocols` for {protocol}")
    boots = sorted({str(r["spec"].get("n_bootstrap", 1000)) for r in records})
    kinds = sorted({str(r["spec"].get("interval", "percentile")) for r in records})
    text, ranked = _ranked_table(
        setting.rows, metrics=metrics, domains=domains, directions=directions, citations=citations, bounds=bounds
    )
    baseline = _baseline(setting.rows)
    lines = [
        heading,
        "",
        f"- Protocol: {code_span(protocol)} — {note}",
        "- Model selection: the last training iterate for every method; no target labels are used.",
        f"- Budget: see the epochs column; bootstrap B = {escape_inline(', '.join(boots))} "
        f"({escape_inline(', '.join(kinds))} intervals).",
        f"- Versions: {escape_inline(versions_label(first))}.",
        f"- Hardware: {escape_inline(prov.get('device', '?'))}; dabench {escape_inline(prov.get('dabench', '?'))}, "
        f"torch {escape_inline(libraries.get('torch', '?'))}.",
        _primary_note(metrics),
        _ranking_note(ranked, metrics[0], len(domains) > 4, directions.get(metrics[0], True), domains[0]),
        _runs_note(setting, _collapse_domain(domains)),
    ]
    single = sum(len(r.records) == 1 for r in setting.rows)
    if single:
        lines.append(
            f"- Single seed: {single} of {len(setting.rows)} row(s) (n_seeds `1 {SINGLE_SEED}`): their intervals are "
            "over test samples only and say nothing about seed-to-seed variation."
        )
    if baseline is not None and sum(r.method == BASELINE and bool(r.records) for r in setting.rows) > 1:
        lines.append(f"- Salvage is against {escape_inline(baseline.label)} (the {BASELINE} row with most seeds).")
    return [*lines, "", text, ""]


def _headings(settings: Sequence[Setting]) -> list[str]:
    """``## dataset → target, shift s``; settings that would share a heading are told apart by their versions."""

    def plain(setting: Setting) -> str:
        _, dataset, target, shift, _ = setting.key
        target_label = target if target != "-" else dataset
        return f"## {escape_inline(dataset)} → {escape_inline(target_label)}, shift {escape_inline(shift)}"

    base = [plain(s) for s in settings]
    versioned = [
        h + (f" ({escape_inline(versions_label(s.records()[0]))})" if base.count(h) > 1 else "")
        for h, s in zip(base, settings, strict=True)
    ]
    return [
        h + (f" (table {versioned[:i].count(h) + 1})" if versioned.count(h) > 1 else "")
        for i, h in enumerate(versioned)
    ]


def _store_notes(unreadable: Sequence[str], unusable: Sequence[tuple[str, str]]) -> list[str]:
    lines = []
    if unreadable:
        named = ", ".join(code_span(p) for p in unreadable[:MAX_LISTED])
        more = f" and {len(unreadable) - MAX_LISTED} more" if len(unreadable) > MAX_LISTED else ""
        lines += [
            f"**Unreadable records: {len(unreadable)}** (truncated or corrupt files, left out of every table): "
            f"{named}{more}. Re-run the sweep that wrote this store: it re-runs them.",
            "",
        ]
    if unusable:
        named = ", ".join(f"{code_span(key)} ({escape_inline(why)})" for key, why in unusable[:MAX_LISTED])
        more = f" and {len(unusable) - MAX_LISTED} more" if len(unusable) > MAX_LISTED else ""
        lines += [
            f"**Records that are not usable run records: {len(unusable)}** (left out of every table): {named}{more}. "
            "Re-run the sweep that wrote them, or remove them from the store.",
            "",
        ]
    return lines


def render(
    records: Iterable[Mapping[str, Any]],
    *,
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    command: str,
    title: str = "dabench leaderboard",
    bounds: Mapping[str, tuple[float, float]] | None = None,
    unreadable: Sequence[str] = (),
    protocols: Mapping[str, str] | None = None,
) -> str:
    """The whole markdown document: a provenance header (naming the ``unreadable`` record files, paths relative to
        the store, and any record that is not a usable run record), then one ranked table per setting. ``bounds``
        (metric -> range) clips across-seed intervals to what the metric can take; ``protocols`` (name -> description,
    the registered ``ProtocolSpec.description``) describes a plugin protocol's setting."""
    usable: list[Mapping[str, Any]] = []
    unusable: list[tuple[str, str]] = []
    for record in records:
        why = problem(record)
        if why is None:
            usable.append(record)
        else:
            key = record.get("key") if isinstance(record, Mapping) else None
            unusable.append((key if isinstance(key, str) else "(no key)", why))
    settings = build_settings(sorted(usable, key=lambda r: r["key"]))
    lines = [f"# {escape_inline(title)}", "", "<!-- generated by dabench from the run records; do not edit by hand -->"]
    lines += ["", f"Regenerate with: {code_span(command)}", ""]
    lines += _store_notes(sorted(unreadable), sorted(unusable))
    lines += [INTERVAL_NOTE, ""]
    if not settings:
        lines.append("No completed runs in the store yet.")
        return "\n".join(lines) + "\n"
    for setting, heading in zip(settings, _headings(settings), strict=True):
        lines += _section(
            setting, heading, directions=directions, citations=citations, bounds=bounds or {}, protocols=protocols or {}
        )
    return "\n".join(lines)
