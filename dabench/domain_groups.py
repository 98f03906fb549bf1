"""Per-domain score groups for the DANN study's colour experiment (paper Fig. 9): for every test colour domain
(a test shift with its options, e.g. Reinhard towards one reference image), the scores of the runs without DA,
with DA data of the same semantics (the training dataset) and with DA data of other semantics.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), Fig. 9.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

BASELINE = "source_only"


def domain_label(record: Mapping[str, Any]) -> str:
    """The test colour domain: the test shift with its options, e.g. ``reinhard reference=wbc_zheng:lab1#0``."""
    parts = []
    for step in record["spec"].get("shift", []):
        options = step.get("options") or {}
        parts.append(" ".join([step["name"], *(f"{k}={options[k]}" for k in sorted(options))]))
    return " + ".join(parts) or "none"


def group_label(record: Mapping[str, Any]) -> str:
    """``no DA``, ``DA same semantics (pbc)`` or ``DA other semantics (wbc_zheng:lab2)``."""
    spec = record["spec"]
    if spec["method"]["name"] == BASELINE:
        return "no DA"
    da = spec.get("da_dataset") or spec["dataset"]
    name = f"{da['name']}:{da['domain']}" if da.get("domain") else da["name"]
    kind = "same" if da["name"] == spec["dataset"]["name"] else "other"
    prefix = "" if spec["method"]["name"] == "dann" else f"{spec['method']['name']}, "
    return f"{prefix}DA {kind} semantics ({name})"


def per_domain_groups(
    records: Iterable[Mapping[str, Any]], *, metric: str = "accuracy", intensity: float = 1.0
) -> dict[str, dict[str, list[float]]]:
    """domain -> group -> the metric at test intensity ``intensity`` for each run (seed), from ``dann4`` records
    whose test shift has options (colour domains). Domains and groups are sorted; values follow seed order."""
    table: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        spec = record.get("spec", {})
        if record.get("status") != "ok" or spec.get("protocol") != "dann4":
            continue
        if not any(step.get("options") for step in spec.get("shift", [])):
            continue
        estimate = record["metrics"].get(f"test@{intensity:g}", {}).get(metric)
        if estimate is None or estimate.get("value") is None:
            continue
        table[domain_label(record)][group_label(record)].append((spec["seed"], float(estimate["value"])))
    return {
        domain: {group: [v for _, v in sorted(values)] for group, values in sorted(groups.items())}
        for domain, groups in sorted(table.items())
    }
