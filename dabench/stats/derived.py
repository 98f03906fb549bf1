"""Measures derived from stored run records: salvage and domain spread.

A record is one run's JSON dict: ``{"key", "status": "ok" | "failed", "spec": RunSpec.canonical(), "metrics":
{domain: {metric: Estimate.as_dict()}}, ...}``. Helpers read point values (``value``) from ``ok`` records only.

References
----------
Valliani AA et al. Deploying deep learning models on unseen medical imaging using adversarial domain adaptation.
*PLOS ONE* (shared/papers/stargan-adversarial-da-chest-xray): "salvage" of the AUC lost to dataset shift, and
"domain spread, or inter-domain variance".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dabench.errors import SpecError


def salvage(adapted: float, unadapted: float, reference: float) -> float:
    """Share of the metric lost to shift that adaptation recovers: ``(adapted - unadapted) / (reference - unadapted)``.

    ``reference`` is the performance without shift: the paper's "theoretical ceiling" (a model trained on the target
    training set, tested on the target test set) or the internal test value. 1 means all that was lost is recovered,
    0 nothing, negative that adaptation made things worse. The ratio is direction-free (it also holds for metrics
    where lower is better). NaN when nothing was lost (``reference == unadapted``).

    References
    ----------
    Valliani AA et al., PLOS ONE: "a median salvage of 83.16% of the AUC lost from testing on an external dataset".
    """
    lost = reference - unadapted
    if lost == 0 or any(math.isnan(v) for v in (adapted, unadapted, reference)):
        return math.nan
    return (adapted - unadapted) / lost


def domain_spread(values: Sequence[float] | Mapping[str, float], *, ddof: int = 0, scale: float = 1.0) -> float:
    """Inter-domain variance of a metric: ``var(scale * values)`` across domains (population variance by default).

    ``scale=100`` gives the paper's units (a metric in percent, so spread in percent squared; e.g. 23.83 for the
    chest X-ray sites). NaN values are left out; NaN when fewer than ``ddof + 1`` domains remain.

    References
    ----------
    Valliani AA et al., PLOS ONE, sec. 2.3 "Domain spread": "the domain spread, or inter-domain variance".
    """
    raw = list(values.values()) if isinstance(values, Mapping) else list(values)
    arr = np.asarray(raw, dtype=np.float64) * scale
    arr = arr[~np.isnan(arr)]
    if arr.size <= ddof:
        return math.nan
    return float(np.var(arr, ddof=ddof))


# ------------------------------------------------------------------------------------------------ records


def record_value(record: Mapping[str, Any], metric: str, domain: str) -> float:
    """The point value of ``metric`` on ``domain`` in one record (NaN if it was stored as null)."""
    if record.get("status") != "ok":
        raise SpecError(f"record {record.get('key', '?')!r} has status {record.get('status')!r}, not 'ok'.")
    domains = record.get("metrics", {})
    if domain not in domains:
        raise SpecError(f"record {record.get('key', '?')!r} has no domain {domain!r}; it has: {', '.join(domains)}.")
    metrics = domains[domain]
    if metric not in metrics:
        raise SpecError(
            f"record {record.get('key', '?')!r} has no metric {metric!r} on {domain!r}; it has: {', '.join(metrics)}."
        )
    value = metrics[metric]["value"]
    return math.nan if value is None else float(value)


def salvage_from_records(
    adapted: Mapping[str, Any],
    unadapted: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    metric: str,
    domain: str = "target",
    reference_domain: str | None = None,
) -> float:
    """:func:`salvage` of ``metric`` on ``domain`` from an adapted run, its unadapted baseline and a reference run.

    ``reference_domain`` defaults to ``domain`` (e.g. a model trained on the target, tested on the target); pass
    ``"source"`` to use the baseline's internal test value as the reference instead.
    """
    ref = record_value(reference, metric, reference_domain or domain)
    return salvage(record_value(adapted, metric, domain), record_value(unadapted, metric, domain), ref)


def values_by_domain(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, float]:
    """Mean value of ``metric`` per domain over the ``ok`` records that have it (e.g. several seeds)."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.get("status") != "ok":
            continue
        for domain, metrics in record.get("metrics", {}).items():
            if metric in metrics:
                pooled[domain].append(record_value(record, metric, domain))
    return {
        domain: float(np.nanmean(vals)) if not all(map(math.isnan, vals)) else math.nan
        for domain, vals in sorted(pooled.items())
    }


def domain_spread_from_records(
    records: Iterable[Mapping[str, Any]],
    metric: str,
    *,
    domains: Sequence[str] | None = None,
    ddof: int = 0,
    scale: float = 1.0,
) -> float:
    """:func:`domain_spread` of the per-domain means of ``metric`` (optionally restricted to ``domains``)."""
    values = values_by_domain(records, metric)
    if domains is not None:
        missing = [d for d in domains if d not in values]
        if missing:
            raise SpecError(f"no ok record has metric {metric!r} on domain(s) {', '.join(missing)}.")
        values = {d: values[d] for d in domains}
    return domain_spread(values, ddof=ddof, scale=scale)
