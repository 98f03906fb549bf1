"""Per-domain score groups for the DANN study's colour experiment (paper Fig. 9): for every test colour domain
(a test shift with its options, e.g. Reinhard towards one reference image), the scores of the runs without DA
(``source_only``), with DA data of the same semantics (the training dataset) and with DA data of other semantics —
at every test intensity, with the interval across seeds.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), Fig. 9 (p. 6):
"the blue boxes are the accuracy without using the DA, the green boxes are the accuracy using a DA with the same
semantics and the red boxes are the accuracy using a DA with different semantics".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dabench.stats.fitting import t_interval
from dabench_dann_study.records import (
    ADVERSARIAL_METHOD,
    BASELINE,
    DOMAIN_PREFIX,
    intensity_of,
    is_control,
    ok_records,
    ref_name,
    variants,
)

NO_DA = "no DA"
SAME = "DA same semantics"
OTHER = "DA other semantics"
KINDS = (NO_DA, SAME, OTHER)
"""Arm kinds in the paper's order (Fig. 9: blue, green, red)."""


def domain_label(record: Mapping[str, Any]) -> str:
    """The test colour domain: the test shift with its options, e.g. ``reinhard reference=wbc_zheng:lab1#0``."""
    parts = []
    for step in record["spec"].get("shift", []):
        options = step.get("options") or {}
        parts.append(" ".join([step["name"], *(f"{k}={options[k]}" for k in sorted(options))]))
    return " + ".join(parts) or "none"


def arm_kind(record: Mapping[str, Any]) -> str:
    """:data:`NO_DA`, :data:`SAME` or :data:`OTHER` (DA data of the training dataset or of another one)."""
    spec = record["spec"]
    if spec["method"]["name"] == BASELINE:
        return NO_DA
    da = spec.get("da_dataset") or spec["dataset"]
    return SAME if da["name"] == spec["dataset"]["name"] else OTHER


def group_label(record: Mapping[str, Any], variant: str = "") -> str:
    """``no DA``, ``DA same semantics (pbc)``, ``DA other semantics (wbc_zheng:lab2)``; other methods, variants and
    the DANN control are prefixed (``adabn, ...``, ``dann (lambda_max=0) control, ...``)."""
    spec = record["spec"]
    kind = arm_kind(record)
    if kind == NO_DA:
        return NO_DA
    method = spec["method"]["name"]
    prefix = "" if method == ADVERSARIAL_METHOD and not variant else f"{method}{f' ({variant})' if variant else ''}"
    if is_control(record):
        prefix = f"{prefix or method} control"
    label = f"{kind} ({ref_name(spec.get('da_dataset') or spec['dataset'])})"
    return f"{prefix}, {label}" if prefix else label


def colour_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Completed study records whose test shift has options (colour domains)."""
    return [r for r in ok_records(records) if any(step.get("options") for step in r["spec"].get("shift", []))]


def per_domain_groups(
    records: Iterable[Mapping[str, Any]], *, metric: str = "accuracy", intensity: float = 1.0
) -> dict[str, dict[str, list[float]]]:
    """domain -> group -> the metric at test intensity ``intensity`` for each run (seed), from the colour-domain
    records. Domains and groups are sorted; values follow seed order."""
    table = _table(records, metric)
    return {
        domain: {group: [v for _, v in values.get(intensity, [])] for group, values in groups.items()}
        for domain, groups in table.items()
        if any(values.get(intensity) for values in groups.values())
    }


@dataclass(frozen=True)
class DomainRow:
    """One arm in one colour domain: mean [95% interval] and seed count at every test intensity."""

    domain: str
    group: str
    kind: str
    cells: dict[float, tuple[float, float, float, int]]


def domain_rows(
    records: Iterable[Mapping[str, Any]], *, metric: str, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> list[DomainRow]:
    """Every (colour domain, arm) with its metric at each test intensity: mean and Student-t interval across seeds
    (one seed: the run's bootstrap interval), clipped to the metric's ``bounds``."""
    done = colour_records(records)
    labels = variants(done)
    bootstrap = {
        (domain_label(r), group_label(r, labels.get(str(r["key"]), "")), int(r["spec"].get("seed", 0))): r for r in done
    }
    rows = []
    for domain, groups in _table(done, metric).items():
        for group, by_intensity in groups.items():
            cells = {}
            for i, values in sorted(by_intensity.items()):
                if len(values) >= 2:
                    mean, low, high = t_interval([v for _, v in values])
                else:
                    seed, mean = values[0]
                    est = bootstrap[(domain, group, seed)]["metrics"][f"{DOMAIN_PREFIX}{i:g}"][metric]
                    low = math.nan if est.get("low") is None else float(est["low"])
                    high = math.nan if est.get("high") is None else float(est["high"])
                cells[i] = (mean, _clip(low, bounds), _clip(high, bounds), len(values))
            kind = next(k for k in (SAME, OTHER, NO_DA) if k in group)
            rows.append(DomainRow(domain, group, kind, cells))
    return rows


def _clip(x: float, bounds: tuple[float, float]) -> float:
    return x if not math.isfinite(x) else min(max(x, bounds[0]), bounds[1])


def _table(
    records: Iterable[Mapping[str, Any]], metric: str
) -> dict[str, dict[str, dict[float, list[tuple[int, float]]]]]:
    """domain -> group (paper order) -> test intensity -> [(seed, value)] sorted by seed."""
    done = colour_records(records)
    labels = variants(done)
    table: dict[str, dict[str, dict[float, list[tuple[int, float]]]]] = defaultdict(lambda: defaultdict(dict))
    for record in done:
        group = group_label(record, labels.get(str(record["key"]), ""))
        for domain_name, metrics in (record.get("metrics") or {}).items():
            estimate = metrics.get(metric) if domain_name.startswith(DOMAIN_PREFIX) else None
            if estimate is None or estimate.get("value") is None:
                continue
            cell = table[domain_label(record)][group].setdefault(intensity_of(domain_name), [])
            cell.append((int(record["spec"]["seed"]), float(estimate["value"])))
    return {
        domain: {
            group: {i: sorted(values) for i, values in sorted(by_i.items())}
            for group, by_i in sorted(groups.items(), key=lambda item: _order(item[0]))
        }
        for domain, groups in sorted(table.items())
    }


def _order(group: str) -> tuple[int, str]:
    """No DA first, then same semantics, then other semantics; controls and other methods after their kind."""
    kind = next(k for k in (SAME, OTHER, NO_DA) if k in group)
    plain = group.startswith(kind)
    return (KINDS.index(kind) * 2 + (0 if plain else 1), group)
