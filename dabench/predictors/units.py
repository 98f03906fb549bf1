"""Records -> evaluation units: one source-only run on one test domain, joined to the realised benefit of an
adaptation method on the same spec and seed.

A *unit* pairs what the benefit predictors said in a source-only record (``benefit_predictors``, computed before any
adaptation, from unlabelled target data) with what adapting actually brought there: the method's primary metric
on that domain minus source-only's (``benefit``). :func:`join_units` builds them from plain record dicts and says,
in its notes, what it left out and why, so an evaluation never drops records silently.

Matching is exact on the setting (dataset, target, test shift, protocol and its version, DA data and shift, test
grid, primary metric) and the seed; providers (plugin, code hash) are ignored, as in the leaderboards. Training
budget must agree: every parameter both records have is equal. A method's own parameters (``lambda_max`` of DANN)
pick its variant through ``method_params``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dabench.errors import SpecError

PROVIDER_FIELDS = ("plugin", "code")
MATCH_FIELDS = (
    "dataset",
    "target",
    "shift",
    "protocol",
    "protocol_version",
    "da_dataset",
    "da_shift",
    "test_intensities",
)
"""Spec fields a source-only record and an adapted record must share (compared without provider fields)."""
NOT_CELL = ("seed", "n_bootstrap", "interval", "predictors")
"""Spec fields that do not make a cell: units of one cell differ only by seed."""
NATURAL = "natural"
"""The shift family of a cross-dataset pair (e.g. MNIST -> USPS) with no synthetic shift."""
_SHOWN = 5
NO_METRIC = "have no finite primary metric on a test domain (that domain left out)"
NO_VALUES = "have no finite predictor values on a test domain (that domain left out)"


@dataclass(frozen=True)
class Unit:
    """One source-only record on one test domain, joined to method M's record of the same spec and seed.

    ``source_value`` is the accuracy-like quantity ``estimates`` (``accuracy``; segmentation ``pixel_accuracy``) on
    the source validation data; ``realised_score``/``adapted_score`` are source-only's and M's primary ``metric``
    on ``domain``; ``benefit = adapted_score - realised_score``; ``predictions`` maps each benefit predictor to its
    record values (``target_score`` and/or ``shift_score``)."""

    key: str
    domain: str
    seed: int
    dataset: str
    family: str
    cell: str
    task_type: str
    metric: str
    source_score: float
    source_value: float
    estimates: str
    realised_score: float
    adapted_score: float
    benefit: float
    predictions: Mapping[str, Mapping[str, float]]
    adapted_key: str = ""


@dataclass
class JoinResult:
    """The joined units (sorted by cell, seed, domain) and notes on every record left out."""

    units: list[Unit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_records(self) -> int:
        """Distinct records (source-only and adapted) behind the units."""
        return len({u.key for u in self.units} | {u.adapted_key for u in self.units})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if k not in PROVIDER_FIELDS}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def normalise(value: Any) -> Any:
    """A parameter value for comparison: numbers (and numeric strings) as float, booleans as ``true``/``false``,
    containers as sorted JSON, anything else as its string (``"0.1"`` on the command line equals ``0.1``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value), sort_keys=True, default=str)
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return float(text)
    except ValueError:
        return text


def primary_metric(record: Mapping[str, Any]) -> str:
    """The record's primary metric (the first of ``spec.metrics``)."""
    return str(record["spec"]["metrics"][0]["name"])


def _match_key(record: Mapping[str, Any]) -> str:
    spec = record["spec"]
    fields = {name: _plain(spec.get(name)) for name in MATCH_FIELDS}
    fields["seed"], fields["metric"] = spec.get("seed"), primary_metric(record)
    return json.dumps(fields, sort_keys=True, default=str)


def _ref_label(ref: Mapping[str, Any] | None) -> str:
    if not ref:
        return "-"
    return f"{ref['name']}:{ref['domain']}" if ref.get("domain") else str(ref["name"])


def family_of(spec: Mapping[str, Any]) -> str:
    """The shift family: the first test-shift step's name; ``natural`` for a cross-dataset pair with no shift;
    ``none`` otherwise."""
    steps = spec.get("shift") or []
    if steps:
        return str(steps[0]["name"])
    return NATURAL if spec.get("target") else "none"


def cell_of(spec: Mapping[str, Any], domain: str) -> str:
    """A readable, unique label of the spec without seed (and bootstrap settings) on ``domain``."""
    plain = {k: _plain(v) for k, v in spec.items() if k not in NOT_CELL}
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:10]
    steps = "+".join(f"{s['name']}:{s.get('intensity', 0):g}" for s in spec.get("shift") or []) or "none"
    target = f"->{_ref_label(spec.get('target'))}" if spec.get("target") else ""
    return f"{_ref_label(spec['dataset'])}{target}|{steps}|{domain}|{digest}"


def _value(record: Mapping[str, Any], domain: str, metric: str) -> float:
    try:
        value = float(record["metrics"][domain][metric]["value"])
    except (KeyError, TypeError, ValueError):
        return math.nan
    return value


def _task_type(record: Mapping[str, Any], estimates: str) -> str:
    task = record.get("task_type") or record["spec"].get("task_type")
    if task:
        return str(task)
    return "segmentation" if estimates == "pixel_accuracy" else "classification"


def _extra(m_params: Mapping[str, Any], so_params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: normalise(v) for k, v in m_params.items() if k not in so_params}


def _shared_params_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(normalise(a[k]) == normalise(b[k]) for k in a.keys() & b.keys())


def _variant_label(extra: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(extra.items())) or "-"


def _short(entry: str) -> str:
    key, at, domain = entry.partition("@")
    return f"{key[:12]}{at}{domain}"


def _listed(keys: Sequence[str]) -> str:
    shown = ", ".join(_short(k) for k in sorted(keys)[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def _pick(
    so: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]], method: str, wanted: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    so_params = so["spec"].get("params") or {}
    matches = [m for m in candidates if _shared_params_equal(so_params, m["spec"].get("params") or {})]
    if wanted:
        matches = [
            m for m in matches if all(normalise((m["spec"].get("params") or {}).get(k)) == v for k, v in wanted.items())
        ]
    variants = {json.dumps(_extra(m["spec"].get("params") or {}, so_params), sort_keys=True) for m in matches}
    if len(variants) > 1:
        sets = [json.loads(v) for v in sorted(variants)]
        keys = sorted({k for d in sets for k in d})
        differ = [k for k in keys if len({json.dumps(d.get(k)) for d in sets}) > 1]
        labels = sorted(_variant_label({k: d[k] for k in differ if k in d}) for d in sets)
        raise SpecError(
            f"source-only record {str(so.get('key', ''))[:12]} matches {method} records with "
            f"{len(variants)} different parameter sets, differing in {', '.join(differ)}: {'; '.join(labels)}. "
            f"Pick one with --method-params k=v (e.g. --method-params {labels[0].split(',')[0]})."
        )
    # duplicates of one variant (reruns): the newest wins, then the key, so the choice is deterministic
    return max(matches, key=lambda m: (str(m.get("created", "")), str(m.get("key", ""))), default=None)


def _predictions(values: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, scores in sorted(values.items()):
        if not isinstance(scores, Mapping):
            continue
        finite = {}
        for k in ("target_score", "shift_score"):
            v = scores.get(k)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v)):
                finite[k] = float(v)
        if finite:
            out[name] = finite
    return out


def _units_of(so: Mapping[str, Any], m: Mapping[str, Any], notes: defaultdict[str, list[str]]) -> list[Unit]:
    spec, bp = so["spec"], so["benefit_predictors"]
    metric = primary_metric(so)
    estimates = str(bp.get("estimates", "accuracy"))
    source = bp.get("source") or {}
    source_value = float((source.get("values") or {}).get(estimates, math.nan))
    source_score = float(source.get("score", math.nan))
    units = []
    for domain, values in sorted((bp.get("domains") or {}).items()):
        if domain == "source":
            continue
        realised, adapted = _value(so, domain, metric), _value(m, domain, metric)
        predictions = _predictions(values or {})
        if not (math.isfinite(realised) and math.isfinite(adapted)):
            notes[NO_METRIC].append(f"{so['key']}@{domain}")
            continue
        if not predictions:
            notes[NO_VALUES].append(f"{so['key']}@{domain}")
            continue
        units.append(
            Unit(
                key=str(so["key"]),
                domain=domain,
                seed=int(spec["seed"]),
                dataset=_ref_label(spec["dataset"]),
                family=family_of(spec),
                cell=cell_of(spec, domain),
                task_type=_task_type(so, estimates),
                metric=metric,
                source_score=source_score,
                source_value=source_value,
                estimates=estimates,
                realised_score=realised,
                adapted_score=adapted,
                benefit=adapted - realised,
                predictions=predictions,
                adapted_key=str(m.get("key", "")),
            )
        )
    return units


def join_units(
    records: Iterable[Mapping[str, Any]],
    method: str,
    *,
    method_params: Mapping[str, Any] | None = None,
    source_method: str = "source_only",
) -> JoinResult:
    """Join every ok ``source_method`` record with ``benefit_predictors`` to ``method``'s record of the same spec
    and seed (module docstring), one :class:`Unit` per test domain. Raises :class:`~dabench.errors.SpecError` when
    a source-only record matches several variants of ``method`` and ``method_params`` picks none."""
    wanted = {k: normalise(v) for k, v in (method_params or {}).items()}
    sources: list[Mapping[str, Any]] = []
    adapted: defaultdict[str, list[Mapping[str, Any]]] = defaultdict(list)
    failed: defaultdict[str, list[str]] = defaultdict(list)
    for record in records:
        name = record.get("spec", {}).get("method", {}).get("name")
        if name not in (method, source_method):
            continue
        if record.get("status") != "ok":
            failed[str(name)].append(str(record.get("key", "?")))
        elif name == source_method:
            sources.append(record)
        else:
            adapted[_match_key(record)].append(record)
    reasons: defaultdict[str, list[str]] = defaultdict(list)
    units: list[Unit] = []
    for so in sources:
        if not isinstance(so.get("benefit_predictors"), Mapping):
            reasons["have no benefit_predictors (run them with predictors)"].append(str(so["key"]))
            continue
        m = _pick(so, adapted.get(_match_key(so), []), method, wanted)
        if m is None:
            reasons[f"have no matching {method} record (same spec, seed and params)"].append(str(so["key"]))
            continue
        units.extend(_units_of(so, m, reasons))
    notes = [f"{len(keys)} failed {name} record(s) left out: {_listed(keys)}." for name, keys in sorted(failed.items())]
    notes += [f"{len(keys)} {source_method} record(s) {why}: {_listed(keys)}." for why, keys in sorted(reasons.items())]
    units.sort(key=lambda u: (u.cell, u.seed, u.domain))
    return JoinResult(units, notes)
