"""Records -> rows -> markdown. A pure pipeline: the same records always give byte-identical tables.

Rows aggregate seeds: the cell is the mean over seeds with a 95% interval — the run's bootstrap interval when there
is one seed, a Student-t interval across seeds otherwise — and ``n_seeds`` is shown. Tables are sorted by the
primary metric on the target domain using the metric's ``higher_is_better``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

INTERVAL_NOTE = (
    "Cells: mean over seeds [95% interval] — percentile bootstrap over test samples for one seed, "
    "Student-t across seeds for several. *salvage*: share of the primary metric lost to the shift "
    "(source_only, source test → target test) that the method recovers on the target (Kim et al.'s salvage, with "
    "the source-domain test as reference). *spread*: domain spread, the variance of the primary metric (in %) "
    "across the test domains."
)
BASELINE = "source_only"


@dataclass
class Row:
    """One method configuration in one setting, aggregated over its seeds."""

    method: str
    params: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    adaptation: str = ""

    def seeds(self) -> list[int]:
        return sorted(r["spec"]["seed"] for r in self.records)

    def cell(
        self, domain: str, metric: str, bounds: tuple[float, float] = (-math.inf, math.inf)
    ) -> tuple[float, float, float] | None:
        """(mean, low, high) over seeds, or None when no record has that metric."""
        estimates = [r["metrics"][domain][metric] for r in self.records if metric in r["metrics"].get(domain, {})]
        estimates = [e for e in estimates if e.get("value") is not None]  # undefined values are stored as null
        if not estimates:
            return None
        values = [float(e["value"]) for e in estimates]
        mean = sum(values) / len(values)
        if len(values) == 1:
            low, high = estimates[0].get("low"), estimates[0].get("high")
            return mean, float("nan") if low is None else low, float("nan") if high is None else high
        from scipy import stats

        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        half = float(stats.t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
        return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])  # clipped to the metric's range

    def mean_timing(self, name: str) -> float:
        values = [r.get("timings", {}).get(name, float("nan")) for r in self.records]
        return sum(values) / len(values)


def setting_of(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(protocol, dataset, target, shift) labels: the rows of one table share them."""
    spec = record["spec"]

    def label(ref: Mapping[str, Any] | None) -> str:
        if not ref:
            return "-"
        return f"{ref['name']}:{ref['domain']}" if ref.get("domain") else ref["name"]

    shift = (
        "+".join(
            f"{s['name']}:{s['intensity']:g}" + "".join(f",{k}={v}" for k, v in sorted(s.get("options", {}).items()))
            for s in spec["shift"]
        )
        or "none"
    )
    if spec["protocol"] == "dann4":
        shift = "+".join(_with_options(s) for s in spec["shift"]) + " (test grid)"
    return spec["protocol"], label(spec["dataset"]), label(spec["target"]), shift


PROTOCOL_NOTES = {
    "uda": "methods see the labelled {dataset} train split and the unlabelled, shifted {target} train split; test "
    "labels stay with the runner.",
    "dann4": "the DANN study's 4-dataset protocol — train on labelled {dataset} (A), adapt on the unlabelled DA sets "
    "C and D (two halves of the DA dataset's train split, D under the DA shift), evaluate one trained model on the "
    "{target} test split (B) at every test-shift intensity (columns).",
}


def adaptation_of(record: Mapping[str, Any]) -> str:
    """``fashion_mnist, noise:0.5`` — the DA data and DA shift of a ``dann4`` record ("" for other protocols)."""
    spec = record["spec"]
    if spec.get("protocol") != "dann4" or spec["method"]["name"] == BASELINE:
        return ""
    da = spec.get("da_dataset") or spec["dataset"]
    name = f"{da['name']}:{da['domain']}" if da.get("domain") else da["name"]
    shift = "+".join(f"{s['name']}:{s['intensity']:g}" for s in spec.get("da_shift", [])) or "none"
    return f"{name}, {shift}"


def _with_options(step: Mapping[str, Any]) -> str:
    """``reinhard[reference=wbc_zheng:lab1#0]``: the test shift of a ``dann4`` table, options included."""
    options = step.get("options") or {}
    extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
    return f"{step['name']}[{extra}]" if extra else str(step["name"])


def domain_order(domain: str) -> tuple[int, float, str]:
    """``target`` first, then ``test@x`` by intensity, then the rest alphabetically."""
    if domain.startswith("test@"):
        return (1, float(domain.removeprefix("test@")), domain)
    return (0 if domain == "target" else 2, 0.0, domain)


def group_rows(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], list[Row]]:
    """Completed records grouped by setting, then by (method, params)."""
    grouped: dict[tuple[str, str, str, str], dict[str, Row]] = defaultdict(dict)
    for record in records:
        if record.get("status") != "ok":
            continue
        spec = record["spec"]
        adaptation = adaptation_of(record)
        row_key = spec["method"]["name"] + adaptation + json.dumps(spec["params"], sort_keys=True)
        rows = grouped[setting_of(record)]
        row = rows.setdefault(row_key, Row(spec["method"]["name"], dict(spec["params"]), adaptation=adaptation))
        row.records.append(dict(record))
    return {setting: list(rows.values()) for setting, rows in sorted(grouped.items())}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(cell: tuple[float, float, float] | None) -> str:
    return "–" if cell is None else f"{cell[0]:.3f} [{cell[1]:.3f}, {cell[2]:.3f}]"


def _compact(cell: tuple[float, float, float] | None) -> str:
    return "–" if cell is None else f"{cell[0]:.3f}"


def _number(value: float, digits: int) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def derived_columns(row: Row, baseline: Row | None, primary: str, domains: Sequence[str]) -> list[str]:
    """Salvage (against the source_only row of the same setting) and domain spread of the primary metric."""
    from dabench.derived import domain_spread, salvage

    cells = {d: row.cell(d, primary) for d in domains}
    spread = (
        domain_spread([c[0] for c in cells.values() if c is not None], scale=100.0)
        if all(cells.values())
        else float("nan")
    )
    value = float("nan")
    if baseline is not None and "target" in domains and "source" in domains:
        base_source, base_target, own = (
            baseline.cell("source", primary),
            baseline.cell("target", primary),
            cells["target"],
        )
        if base_source and base_target and own:
            value = salvage(own[0], base_target[0], base_source[0])
    return [_number(value, 2), _number(spread, 2)]


def varying_params(rows: Sequence[Row]) -> list[str]:
    """Parameters whose values differ between rows of the same method (shown so rows can be told apart)."""
    by_method: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_method[row.method].append(row)
    keys: set[str] = set()
    for group in by_method.values():
        for key in {k for row in group for k in row.params}:
            if len({json.dumps(row.params.get(key)) for row in group}) > 1:
                keys.add(key)
    return sorted(keys)


def table(
    rows: Sequence[Row],
    *,
    metrics: Sequence[str],
    domains: Sequence[str],
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """One markdown table (tabulate, github format), best row first."""
    bounds = bounds or {}
    primary = metrics[0]
    sign = 1.0 if directions.get(primary, True) else -1.0

    compact = len(domains) > 4  # a grid of test intensities: primary metric only, mean only; ranked by grid mean

    def score(row: Row) -> float:
        cells = [row.cell(d, primary) for d in (domains if compact else domains[:1])]
        values = [c[0] for c in cells if c is not None]
        return sum(values) / len(values) if values else math.nan

    def sort_key(row: Row) -> tuple[float, str, str]:
        value = score(row)
        return (-sign * value if value == value else math.inf, row.method, row.adaptation)

    ordered = sorted(rows, key=sort_key)
    varying = varying_params(rows)
    shown = [primary] if compact else list(metrics)
    headers = ["rank", "method", "paper"] + (["DA data, DA shift"] if any(r.adaptation for r in rows) else [])
    headers += ["params"] if varying else []
    headers += [f"{d} {m}" if not compact else d for d in domains for m in shown]
    headers += [f"grid mean {primary}"] if compact else []
    headers += [f"salvage ({primary})", f"spread ({primary}, %²)", "n_seeds", "epochs", "fit s/run"]
    baseline = next((r for r in rows if r.method == BASELINE), None)
    body = []
    for rank, row in enumerate(ordered, start=1):
        cells = [str(rank), _escape(row.method), _escape(citations.get(row.method, ""))]
        if any(r.adaptation for r in rows):
            cells.append(_escape(row.adaptation or "–"))
        if varying:
            cells.append(_escape(", ".join(f"{k}={row.params[k]}" for k in varying if k in row.params)))
        cells += [
            _compact(row.cell(d, m)) if compact else _fmt(row.cell(d, m, bounds.get(m, (-math.inf, math.inf))))
            for d in domains
            for m in shown
        ]
        cells += [_number(score(row), 3)] if compact else []
        cells += derived_columns(row, baseline, primary, domains)
        cells += [str(len(row.records)), str(row.params.get("epochs", "–")), f"{row.mean_timing('fit_s'):.1f}"]
        body.append(cells)
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def render(
    records: Iterable[Mapping[str, Any]],
    *,
    directions: Mapping[str, bool],
    citations: Mapping[str, str],
    command: str,
    title: str = "dabench leaderboard",
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """The whole markdown document: a provenance header, then one section per setting. ``bounds`` (metric ->
    range) clips across-seed intervals to what the metric can take."""
    records = sorted(records, key=lambda r: r["key"])
    groups = group_rows(records)
    lines = [f"# {_escape(title)}", "", "<!-- generated by dabench from the run records; do not edit by hand -->", ""]
    lines += [f"Regenerate with: `{command}`", "", INTERVAL_NOTE, ""]
    if not groups:
        lines.append("No completed runs in the store yet.")
        return "\n".join(lines) + "\n"
    for (protocol, dataset, target, shift), rows in groups.items():
        first = rows[0].records[0]
        metrics = [m["name"] for m in first["spec"]["metrics"]]
        domains = sorted(first["metrics"], key=domain_order)
        prov = first.get("provenance", {})
        target_label = target if target != "-" else dataset
        lines += [f"## {dataset} → {target_label}, shift {shift}", ""]
        note = PROTOCOL_NOTES.get(protocol, "").format(dataset=dataset, target=target_label)
        lines += [
            f"- Protocol: `{protocol}` — {note}",
            "- Model selection: the last training iterate for every method; no target labels are used.",
            f"- Budget: see the epochs column; bootstrap B = {first['spec'].get('n_bootstrap', 1000)} "
            f"({first['spec'].get('interval', 'percentile')} intervals).",
            f"- Hardware: {prov.get('device', '?')}; dabench {prov.get('dabench', '?')}, "
            f"torch {prov.get('libraries', {}).get('torch', '?')}.",
            "",
            table(rows, metrics=metrics, domains=domains, directions=directions, citations=citations, bounds=bounds),
            "",
        ]
    return "\n".join(lines)
