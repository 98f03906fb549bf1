"""Records -> rows: which records one leaderboard row aggregates, what it counts, and how rows are told apart.

A row is one *configuration* in one *setting*. The setting (one table) is the protocol, the dataset, target, test
shift and metrics by name, domain, options **and version**, and the test grid. The configuration is everything else
in the spec except the seed and the bootstrap settings: method name, version and provider (plugin, code hash), the
record schema, the resolved params, the DA data and shift, and the providers of the other components. Records that
differ in any of these are never merged. Within a row there is one record per seed (duplicates of a configuration
and seed are left out, counted: an ``ok`` record wins over a failed one, then the newest). Failed runs are kept on
their row as counts (``failed`` = error or invalid outputs; ``diverged``), and ok runs whose predictions collapsed
onto one class are counted too (``collapsed``).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

BASELINE = "source_only"
NOT_CONFIGURATION = ("seed", "n_bootstrap", "interval")
"""Spec fields that do not make a configuration: seeds are aggregated, bootstrap settings only change intervals."""
SETTING_FIELDS = ("protocol", "dataset", "target", "shift", "metrics", "test_intensities")
LABELLED = ("method.version", "schema", "method.plugin", "method.code")
"""Configuration fields that label a row when rows of one method differ in them."""
PROVIDER_FIELDS = ("plugin", "code")
"""Component fields that name who provided it (schema 2); they enter the configuration, not the setting."""


def _number(x: object) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _ref_problem(ref: object, what: str, optional: bool = False) -> str | None:
    if ref is None and optional:
        return None
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
        return f"spec.{what} is not a component reference"
    return None


def _steps_problem(steps: object, what: str) -> str | None:
    if not isinstance(steps, list):
        return f"spec.{what} is not a list"
    for step in steps:
        if _ref_problem(step, what) or not _number(step.get("intensity")):
            return f"spec.{what} has a step without a name and a numeric intensity"
        if not isinstance(step.get("options", {}), Mapping):
            return f"spec.{what} has options that are not a mapping"
    return None


def problem(record: object) -> str | None:
    """Why ``record`` cannot be shown on a leaderboard (not a run record of this layout), or None when it can."""
    if not isinstance(record, Mapping) or not isinstance(record.get("key"), str):
        return "not a run record (no key)"
    spec = record.get("spec")
    if record.get("status") not in ("ok", "failed"):
        return f"status {record.get('status')!r} is neither 'ok' nor 'failed'"
    if not isinstance(spec, Mapping):
        return "no spec"
    metrics = spec.get("metrics")
    checks = [
        _ref_problem(spec.get("method"), "method"),
        _ref_problem(spec.get("dataset"), "dataset"),
        _ref_problem(spec.get("target"), "target", optional=True),
        _ref_problem(spec.get("da_dataset"), "da_dataset", optional=True),
        _steps_problem(spec.get("shift"), "shift"),
        _steps_problem(spec.get("da_shift", []), "da_shift"),
        None if isinstance(metrics, list) and metrics else "spec.metrics is empty",
        *(_ref_problem(m, "metrics") for m in (metrics if isinstance(metrics, list) else [])),
        None if isinstance(spec.get("params"), Mapping) else "spec.params is not a mapping",
        None if isinstance(spec.get("protocol"), str) else "spec.protocol is not a string",
        None if isinstance(spec.get("seed"), int) else "spec.seed is not an integer",
        None if isinstance(spec.get("schema", 1), int) else "spec.schema is not an integer",
        _intensities_problem(spec.get("test_intensities", [])),
    ]
    if record.get("status") == "ok":
        checks.append(_results_problem(record))
    return next((c for c in checks if c), None)


def _intensities_problem(values: object) -> str | None:
    if isinstance(values, list) and all(_number(v) for v in values):
        return None
    return "spec.test_intensities is not a list of numbers"


def _results_problem(record: Mapping[str, Any]) -> str | None:
    domains = record.get("metrics")
    if not isinstance(domains, Mapping):
        return "an ok record without metrics"
    for estimates in domains.values():
        if not isinstance(estimates, Mapping) or not all(isinstance(e, Mapping) for e in estimates.values()):
            return "metrics are not {domain: {metric: estimate}}"
        for e in estimates.values():
            if not all(e.get(k) is None or _number(e.get(k)) for k in ("value", "low", "high")):
                return "an estimate with a value that is not a number"
    for part in ("validators", "sizes", "timings", "provenance"):
        if not isinstance(record.get(part, {}), Mapping):
            return f"{part} is not a mapping"
    if not all(isinstance(v, Mapping) for v in record.get("validators", {}).values()):
        return "validators are not {domain: {validator: score}}"
    return None


# ----------------------------------------------------------------------------------------------- identity


def _ref_label(ref: Mapping[str, Any] | None) -> str:
    if not ref:
        return "-"
    return f"{ref['name']}:{ref['domain']}" if ref.get("domain") else str(ref["name"])


def _step_label(step: Mapping[str, Any], with_intensity: bool = True) -> str:
    options = step.get("options") or {}
    if not with_intensity:  # ``reinhard[reference=wbc_zheng:lab1#0]``: a test-grid shift, options included
        extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
        return f"{step['name']}[{extra}]" if extra else str(step["name"])
    return f"{step['name']}:{step['intensity']:g}" + "".join(f",{k}={options[k]}" for k in sorted(options))


def setting_of(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(protocol, dataset, target, shift) labels of a record's setting (plain text, not escaped)."""
    spec = record["spec"]
    if spec.get("test_intensities"):  # a protocol with a test-shift grid (e.g. dann4): one column per intensity
        shift = "+".join(_step_label(s, with_intensity=False) for s in spec["shift"]) + " (test grid)"
    else:
        shift = "+".join(_step_label(s) for s in spec["shift"]) or "none"
    return spec["protocol"], _ref_label(spec["dataset"]), _ref_label(spec.get("target")), shift


def _without_providers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_providers(v) for k, v in value.items() if k not in PROVIDER_FIELDS}
    if isinstance(value, list):
        return [_without_providers(v) for v in value]
    return value


def setting_key(record: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """The labels of :func:`setting_of` plus the setting's exact JSON (versions, options, test grid)."""
    spec = record["spec"]
    exact = {name: _without_providers(spec.get(name)) for name in SETTING_FIELDS}
    return (*setting_of(record), json.dumps(exact, sort_keys=True, default=str))


def versions_label(record: Mapping[str, Any]) -> str:
    """``digits v1; noise v1; accuracy v1, auc v1``: the versions of a setting's components."""
    spec = record["spec"]
    refs = [spec["dataset"], *([spec["target"]] if spec.get("target") else []), *spec["shift"]]
    data = "; ".join(f"{_ref_label(r)} v{r.get('version', '?')}" for r in refs)
    metrics = ", ".join(f"{m['name']} v{m.get('version', '?')}" for m in spec["metrics"])
    return f"{data}; {metrics}"


def config_key(record: Mapping[str, Any]) -> str:
    """The configuration a record belongs to: its spec without the seed and bootstrap settings (exact JSON)."""
    spec = {k: v for k, v in record["spec"].items() if k not in NOT_CONFIGURATION}
    spec.setdefault("schema", 1)  # records written before the schema field were schema 1
    return json.dumps(spec, sort_keys=True, default=str)


def adaptation_of(record: Mapping[str, Any]) -> str:
    """``fashion_mnist, noise:0.5`` — the DA data and DA shift (the generic protocol inputs ``da_dataset`` and
    ``da_shift``, e.g. of a ``dann4`` record); "" for records without them and for the baseline."""
    spec = record["spec"]
    if not (spec.get("da_dataset") or spec.get("da_shift")) or spec["method"]["name"] == BASELINE:
        return ""
    shift = "+".join(_step_label(s) for s in spec.get("da_shift", [])) or "none"
    return f"{_ref_label(spec.get('da_dataset') or spec['dataset'])}, {shift}"


# -------------------------------------------------------------------------------------------------- rows


def failure_of(record: Mapping[str, Any]) -> str:
    """``diverged``, ``invalid`` or ``error`` for a failed record (records without ``failure`` are errors)."""
    failure = record.get("failure")
    return failure if failure in ("diverged", "invalid") else "error"


@dataclass
class Row:
    """One configuration in one setting: its ok records (one per seed) and its failed ones."""

    method: str
    params: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    adaptation: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    config: str = ""
    label: str = ""

    def seeds(self) -> list[int]:
        return sorted(r["spec"]["seed"] for r in self.records)

    def cell(
        self, domain: str, metric: str, bounds: tuple[float, float] = (-math.inf, math.inf)
    ) -> tuple[float, float, float] | None:
        """(mean, low, high) over seeds, or None when no record has a value for that metric."""
        estimates = [r["metrics"][domain][metric] for r in self.records if metric in r["metrics"].get(domain, {})]
        estimates = [e for e in estimates if _finite(e.get("value"))]  # undefined values are stored as null
        if not estimates:
            return None
        values = [float(e["value"]) for e in estimates]
        mean = sum(values) / len(values)
        if len(values) == 1:
            low, high = estimates[0].get("low"), estimates[0].get("high")
            return mean, math.nan if low is None else float(low), math.nan if high is None else float(high)
        from scipy import stats

        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        half = float(stats.t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
        return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])  # clipped to the metric's range

    def mean_timing(self, name: str) -> float:
        values = [r.get("timings", {}).get(name) for r in self.records]
        numbers = [float(v) for v in values if _number(v)]
        return sum(numbers) / len(numbers) if numbers else math.nan

    def failure_count(self, kind: str) -> int:
        """Failed runs of ``kind``: ``failed`` (errors and invalid outputs) or ``diverged``."""
        kinds = ("diverged",) if kind == "diverged" else ("error", "invalid")
        return sum(failure_of(r) in kinds for r in self.failures)

    def collapsed_count(self, domain: str) -> int:
        """Ok runs whose validator ``collapsed`` is 1 on ``domain`` (one class took almost every prediction)."""
        return sum(r.get("validators", {}).get(domain, {}).get("collapsed") == 1.0 for r in self.records)


@dataclass
class Setting:
    """One table: its rows and how many duplicate records of a (configuration, seed) were left out."""

    key: tuple[str, str, str, str, str]
    rows: list[Row]
    duplicates: int = 0

    def records(self) -> list[dict[str, Any]]:
        return [r for row in self.rows for r in (*row.records, *row.failures)]


def _preference(record: Mapping[str, Any]) -> tuple[bool, str, str, str]:
    """Which of two records of one configuration and seed is shown: ok first, then the newest, then by key and
    content (so the choice never depends on the order records are read in)."""
    content = json.dumps(record, sort_keys=True, default=str)
    return (record.get("status") == "ok", str(record.get("created", "")), str(record["key"]), content)


def build_settings(records: Iterable[Mapping[str, Any]]) -> list[Setting]:
    """Usable records (see :func:`problem`) grouped into settings and rows, sorted by setting, rows labelled."""
    chosen: dict[tuple[Any, ...], dict[tuple[str, int], Mapping[str, Any]]] = defaultdict(dict)
    seen: dict[tuple[Any, ...], int] = defaultdict(int)
    for record in records:
        setting = setting_key(record)
        slot = (config_key(record), record["spec"]["seed"])
        seen[setting] += 1
        current = chosen[setting].get(slot)
        if current is None or _preference(record) > _preference(current):
            chosen[setting][slot] = record
    settings = []
    for setting in sorted(chosen):
        rows: dict[str, Row] = {}
        for (config, _seed), record in sorted(chosen[setting].items()):
            spec = record["spec"]
            row = rows.setdefault(
                config, Row(spec["method"]["name"], dict(spec["params"]), adaptation=adaptation_of(record))
            )
            row.config = config
            (row.records if record["status"] == "ok" else row.failures).append(dict(record))
        label_rows(list(rows.values()))
        settings.append(Setting(setting, list(rows.values()), seen[setting] - len(chosen[setting])))
    return settings


def group_rows(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str, str], list[Row]]:
    """Usable records grouped by setting (:func:`setting_key`), then by configuration."""
    usable = [r for r in records if problem(r) is None]
    return {s.key: s.rows for s in build_settings(sorted(usable, key=lambda r: r["key"]))}


# ------------------------------------------------------------------------------------------------ labels


def varying_params(rows: Sequence[Row]) -> list[str]:
    """Parameters whose values differ between rows of the same method (shown so rows can be told apart)."""
    by_method: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_method[row.method].append(row)
    keys: set[str] = set()
    for group in by_method.values():
        for key in {k for row in group for k in row.params}:
            if len({json.dumps(row.params.get(key), sort_keys=True, default=str) for row in group}) > 1:
                keys.add(key)
    return sorted(keys)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {p: v for k in sorted(value) for p, v in _flat(value[k], f"{prefix}{k}.").items()}
    if isinstance(value, list):
        return {p: v for i, item in enumerate(value) for p, v in _flat(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def _varying(rows: Sequence[Row]) -> dict[str, list[Any]]:
    flats = [_flat({k: v for k, v in json.loads(r.config).items() if k != "params"}) for r in rows]
    paths = sorted({p for f in flats for p in f})
    values = {p: [f.get(p) for f in flats] for p in paths}
    return {p: v for p, v in values.items() if len({json.dumps(x, default=str) for x in v}) > 1}


def label_rows(rows: Sequence[Row]) -> None:
    """Set each row's display label: the method name, plus what tells it apart from other rows of that method —
    ``dann (v2)``, ``dann (schema 1)``, ``dann [fork-dist 1.0]``, ``dann [code 1a2b3c4d]``, and for anything else
    that differs while params and DA data are equal, ``[path=value]``."""
    by_method: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_method[row.method].append(row)
    for group in by_method.values():
        varying = _varying(group) if len(group) > 1 else {}
        for i, row in enumerate(group):
            mine = {path: values[i] for path, values in varying.items()}
            plain = [
                f"v{mine['method.version']}" if "method.version" in mine else "",
                f"schema {mine['schema']}" if "schema" in mine else "",
            ]
            marks = [
                str(mine["method.plugin"]) if mine.get("method.plugin") is not None else "",
                f"code {str(mine['method.code'])[:8]}" if mine.get("method.code") is not None else "",
            ]
            row.label = _join(row.method, plain, marks)
    shown = varying_params(rows)
    look: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        look[(row.label, row.adaptation, json.dumps([row.params.get(k) for k in shown], default=str))].append(row)
    for same in look.values():
        if len(same) < 2:
            continue
        varying = {p: v for p, v in _varying(same).items() if p not in LABELLED}
        for i, row in enumerate(same):
            extra = [f"{p}={v[i]}" for p, v in varying.items() if v[i] is not None]
            row.label = _join(row.label, [], extra)


def _join(base: str, plain: Sequence[str], marks: Sequence[str]) -> str:
    text = base
    if any(plain):
        text += " (" + ", ".join(p for p in plain if p) + ")"
    if any(marks):
        text += " [" + ", ".join(m for m in marks if m) + "]"
    return text
