"""Measures derived from stored run records: salvage, domain spread, and the across-domain variance of one method.

A record is one run's JSON dict: ``{"key", "status": "ok" | "failed", "spec": RunSpec.canonical(), "metrics":
{domain: {metric: Estimate.as_dict()}}, ...}``. Helpers read point values (``value``) from ``ok`` records only.

Two variances across domains are kept apart by name:

* :func:`domain_spread` is Valliani et al.'s *domain spread*: the variance, across domains, of the per-domain test
  metric of **one global model trained on the pooled domains**. This module computes the number; producing the
  global model (pooled training, one test set per domain) is the protocol of the study that reports it (the StarGAN
  chest X-ray study), not something the function can check beyond "one configuration".
* :func:`across_domain_variance` is the same arithmetic on whatever per-domain values it is given — on the
  leaderboard, one method's own model on the table's test domains (source and target, or a test grid). That is a
  restatement of the gap between domains, not the domain spread.

References
----------
Valliani AA, Gulamali FF, Kwon YJ, et al. Deploying deep learning models on unseen medical imaging using
adversarial domain adaptation. *PLOS ONE* (shared/papers/stargan-adversarial-da-chest-xray): "salvage" of the AUC
lost to dataset shift (sec. 2.1–2.2), and "the domain spread, or inter-domain variance" of global models (sec. 2.3,
Fig 4).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dabench.errors import SpecError

NOT_CONFIGURATION = ("seed", "n_bootstrap", "interval")
"""Spec fields that do not make another model: the seed (aggregated) and the bootstrap settings."""


def salvage(adapted: float, unadapted: float, reference: float) -> float:
    """Valliani et al.'s salvage: the share of the metric lost to shift that adaptation recovers,
    ``(adapted - unadapted) / (reference - unadapted)``.

    ``unadapted`` is the source-trained model on the shifted (external) test set, ``adapted`` the adapted model on
    it, and ``reference`` the performance without shift. Valliani et al. name two references: the *internal* test
    value (the source-trained model on its own domain's test set) — their reported averages are this ratio with it:
    digits (94.66 − 91.85) / (99.87 − 91.85) = 35 %, chest X-rays 1.64 / (78.07 − 71.43) = 25 % of the AUC lost —
    and, in their Figs 2A/3A, a "theoretical ceiling" (a model trained on the target training set, tested on the
    target test set). dabench's leaderboard passes the internal value (``source_only`` on the source test split); it
    trains no target-trained ceiling. Pass that ceiling as ``reference`` to get the other variant.

    1 means all that was lost is recovered, 0 nothing, negative that adaptation made things worse. The ratio is
    direction-free (it also holds for metrics where lower is better). NaN when nothing was lost
    (``reference == unadapted``) or an input is NaN.
    """
    lost = reference - unadapted
    if lost == 0 or any(math.isnan(v) for v in (adapted, unadapted, reference)):
        return math.nan
    return (adapted - unadapted) / lost


def _variance(values: Sequence[float] | Mapping[str, float], ddof: int, scale: float) -> float:
    raw = list(values.values()) if isinstance(values, Mapping) else list(values)
    arr = np.asarray(raw, dtype=np.float64) * scale
    arr = arr[~np.isnan(arr)]
    if arr.size <= ddof:
        return math.nan
    return float(np.var(arr, ddof=ddof))


def domain_spread(values: Sequence[float] | Mapping[str, float], *, ddof: int = 0, scale: float = 1.0) -> float:
    """Valliani et al.'s domain spread: ``var(scale * values)`` of **one global model's** per-domain test metric.

    ``values`` are the metric of a single model — trained on data pooled from every domain — on each domain's own
    test set (population variance by default). ``scale=100`` gives the paper's units (the metric in percent, the
    spread in percent squared; e.g. 23.83 for the chest X-ray sites with all the data, 112.06 for the digits at
    0.1 %). The function is only the computation: that ``values`` come from such a global model is the calling
    study's protocol. NaN values are left out; NaN when fewer than ``ddof + 1`` domains remain.

    References
    ----------
    Valliani AA et al., PLOS ONE, sec. 2.3 "Domain spread" and Fig 4 (global models evaluated on the global and the
    dataset-specific test sets).
    """
    return _variance(values, ddof, scale)


def across_domain_variance(
    values: Sequence[float] | Mapping[str, float], *, ddof: int = 0, scale: float = 1.0
) -> float:
    """``var(scale * values)`` of any per-domain values — on the leaderboard, one method's primary metric on the
    table's test domains (its own model per row; source and target, or a test grid). Not :func:`domain_spread`,
    which requires one global model trained on the pooled domains; with two domains it is ``((a - b) / 2)²``, the
    squared half-gap. NaN values are left out; NaN when fewer than ``ddof + 1`` remain."""
    return _variance(values, ddof, scale)


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


def configuration(record: Mapping[str, Any]) -> str:
    """The model configuration of a record: its spec without the seed and bootstrap settings, as sorted JSON."""
    spec = record.get("spec", {})
    return json.dumps({k: v for k, v in spec.items() if k not in NOT_CONFIGURATION}, sort_keys=True, default=str)


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
    """:func:`domain_spread` of the per-domain means of ``metric`` (optionally restricted to ``domains``) over the
    ``ok`` records of **one** model configuration — e.g. the seeds of a global model evaluated on every domain's test
    set. Records of several configurations (other methods, params or data) raise :class:`SpecError`: the spread of
    a mix of models is not a domain spread."""
    records = [r for r in records if r.get("status") == "ok"]
    configurations = {configuration(r) for r in records}
    if len(configurations) > 1:
        methods = sorted({str(r.get("spec", {}).get("method", {}).get("name", "?")) for r in records})
        raise SpecError(
            f"domain spread is one global model's variance across domains, but these records are "
            f"{len(configurations)} configurations (methods: {', '.join(methods)}); pass the records of one "
            "configuration (its seeds), or use across_domain_variance for one method's own per-domain values."
        )
    values = values_by_domain(records, metric)
    if domains is not None:
        missing = [d for d in domains if d not in values]
        if missing:
            raise SpecError(f"no ok record has metric {metric!r} on domain(s) {', '.join(missing)}.")
        values = {d: values[d] for d in domains}
    return domain_spread(values, ddof=ddof, scale=scale)
