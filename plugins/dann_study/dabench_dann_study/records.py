"""Reading the DANN study's run records: settings, configurations, DA intensities, scores and collapse flags.

A record is one training (a method, one configuration, one DA setting, one seed) evaluated on every test-shift
intensity ``i`` (domains ``test@<i:g>``). Records of one method with different configurations (method version or
parameters, e.g. the ``lambda_max = 0`` control) are never averaged together: each configuration is its own group,
labelled by what distinguishes it (its *variant*).

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), section III-D
(the 4-dataset protocol: train A, test B, DA datasets C and D) and Fig. 3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BASELINE = "source_only"
PROTOCOL = "dann4"
DOMAIN_PREFIX = "test@"
ADVERSARIAL_METHOD = "dann"
ADVERSARIAL_PARAMS = ("lambda_max", "domain_loss_weight")
"""DANN parameters that scale the adversarial term: either at 0 makes a run the control with nothing adversarial."""


def ok_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The completed records of the study's protocol."""
    return [r for r in records if r.get("status") == "ok" and (r.get("spec") or {}).get("protocol") == PROTOCOL]


def ref_name(ref: Mapping[str, Any] | None) -> str:
    """``name`` or ``name:domain`` of a recorded component (``none`` when absent)."""
    if not ref:
        return "none"
    return f"{ref['name']}:{ref['domain']}" if ref.get("domain") else str(ref["name"])


def shift_name(shifts: Sequence[Mapping[str, Any]] | None) -> str:
    """``noise`` or, with options, ``reinhard[reference=wbc_zheng:lab1#0]``: shifts with different options (colour
    references) are different settings; intensities are left out (they are the grid)."""

    def one(step: Mapping[str, Any]) -> str:
        options = step.get("options") or {}
        extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
        return f"{step['name']}[{extra}]" if extra else str(step["name"])

    return "+".join(one(s) for s in shifts or []) or "none"


def shift_family(label: str) -> str:
    """``noise`` of ``noise`` and ``reinhard`` of ``reinhard[reference=...]``."""
    return label.split("[", 1)[0]


def da_intensity_of(record: Mapping[str, Any]) -> float:
    """The record's DA intensity: ``da_shift[0]["intensity"]``, 0 when it has no DA shift (see
    :func:`dabench_dann_study.decomposition.decompose` for where such a run sits on the DA axis)."""
    shifts = record["spec"].get("da_shift") or []
    return float(shifts[0].get("intensity", 0.0)) if shifts else 0.0


def is_control(record: Mapping[str, Any]) -> bool:
    """A DANN run with its adversarial term switched off (``lambda_max = 0`` or ``domain_loss_weight = 0``): the same
    DA data and training, nothing adversarial — the control a gain is attributed against."""
    spec = record["spec"]
    params = spec.get("params") or {}
    return spec["method"]["name"] == ADVERSARIAL_METHOD and any(params.get(k) == 0 for k in ADVERSARIAL_PARAMS)


def configuration(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a method's configuration: its version and resolved parameters."""
    spec = record["spec"]
    return {"version": spec["method"].get("version", "?"), **(spec.get("params") or {})}


def variants(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """record key -> its variant label: the configuration fields that differ between the records of its method
    (``lambda_max=0``, ``bn_mode=joint``, ``version=2``), "" when the method has one configuration."""
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_method.setdefault(record["spec"]["method"]["name"], []).append(record)
    labels: dict[str, str] = {}
    for group in by_method.values():
        configs = [configuration(r) for r in group]
        keys = sorted({k for c in configs for k in c})
        differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
        for record, config in zip(group, configs, strict=True):
            labels[str(record["key"])] = ",".join(f"{k}={_show(config.get(k))}" for k in differing)
    return labels


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _estimate(est: Mapping[str, Any]) -> tuple[float, float]:
    value, low, high = (math.nan if est.get(k) is None else float(est[k]) for k in ("value", "low", "high"))
    return value, (high - low) / 2.0


def scores_of(record: Mapping[str, Any], metric: str) -> dict[float, tuple[float, float]]:
    """Test intensity -> (value, bootstrap half-width); null values become NaN."""
    out: dict[float, tuple[float, float]] = {}
    for domain, metrics in (record.get("metrics") or {}).items():
        if domain.startswith(DOMAIN_PREFIX) and metric in metrics:
            out[intensity_of(domain)] = _estimate(metrics[metric])
    return out


def collapse_flags(record: Mapping[str, Any]) -> dict[float, bool]:
    """Test intensity -> whether the run collapsed there (the records' ``collapsed`` validator: one class takes
    almost all predictions); intensities without the validator are left out."""
    out: dict[float, bool] = {}
    for domain, scores in (record.get("validators") or {}).items():
        if domain.startswith(DOMAIN_PREFIX) and isinstance(scores, Mapping) and scores.get("collapsed") is not None:
            out[intensity_of(domain)] = float(scores["collapsed"]) >= 0.5
    return out


def intensity_of(domain: str) -> float:
    """0.3 of ``test@0.3`` (rounded to 9 decimals, so ``0.30000000000000004`` and ``0.3`` are one intensity)."""
    return round(float(domain[len(DOMAIN_PREFIX) :]), 9)


@dataclass
class Training:
    """One training configuration over seeds: ``scores[seed][i] = (value, bootstrap half-width)`` (several records
    of one seed are averaged) and ``collapsed[seed][i]``."""

    scores: dict[int, dict[float, tuple[float, float]]] = field(default_factory=dict)
    collapsed: dict[int, dict[float, bool]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any], metric: str) -> None:
        seed = int(record["spec"].get("seed", 0))
        self.counts[seed] = self.counts.get(seed, 0) + 1
        acc = self.scores.setdefault(seed, {})
        n = self.counts[seed]
        for i, (v, h) in scores_of(record, metric).items():
            old = acc.get(i)
            acc[i] = (v, h) if old is None else (old[0] + (v - old[0]) / n, old[1] + (h - old[1]) / n)
        flags = self.collapsed.setdefault(seed, {})
        for i, flag in collapse_flags(record).items():
            flags[i] = flags.get(i, False) or flag

    def collapse_count(self, i: float) -> tuple[int, int]:
        """(seeds collapsed at test intensity ``i``, seeds with a collapse flag there)."""
        known = [flags[i] for flags in self.collapsed.values() if i in flags]
        return sum(known), len(known)

    def has_scores(self) -> bool:
        return any(self.scores.values())


@dataclass(frozen=True, order=True)
class GroupKey:
    """A DA group: one method configuration with one DA dataset and DA shift, on one dataset and test shift."""

    method: str
    variant: str
    dataset: str
    da_dataset: str
    da_shift: str
    test_shift: str


@dataclass
class Group:
    """The trainings of a DA group by DA intensity, with the group's configuration."""

    key: GroupKey
    control: bool
    config: dict[str, Any]
    by_da: dict[float, Training] = field(default_factory=dict)


def gather(
    records: Iterable[Mapping[str, Any]], metric: str
) -> tuple[dict[GroupKey, Group], dict[tuple[str, str], Training]]:
    """(DA groups, ``source_only`` trainings by (dataset, test shift)) of the completed study records."""
    done = ok_records(records)
    labels = variants(done)
    groups: dict[GroupKey, Group] = {}
    baselines: dict[tuple[str, str], Training] = {}
    for record in done:
        spec = record["spec"]
        dataset, test_shift = ref_name(spec.get("dataset")), shift_name(spec.get("shift"))
        if spec["method"]["name"] == BASELINE:
            baselines.setdefault((dataset, test_shift), Training()).add(record, metric)
            continue
        key = GroupKey(
            method=spec["method"]["name"],
            variant=labels.get(str(record["key"]), ""),
            dataset=dataset,
            da_dataset=ref_name(spec.get("da_dataset")),
            da_shift=shift_name(spec.get("da_shift")),
            test_shift=test_shift,
        )
        group = groups.setdefault(key, Group(key=key, control=is_control(record), config=configuration(record)))
        group.by_da.setdefault(da_intensity_of(record), Training()).add(record, metric)
    return groups, baselines
