"""``analysis.json``: the decompositions, fits, key-claim tests and colour-domain table as JSON, at the declared
precision (:data:`dabench.stats.precision.SIGNIFICANT_DIGITS` significant digits; a fit parameter at the digits of
``max(|value|, stderr)``: digits far below its standard error move with the optimiser's stopping point, and a
published artefact must not depend on where it was regenerated). NaN and infinities become ``null``.

Difference terms (degradation, cost, gain, net benefit, gain over control) carry ``significant``: whether each 95%
interval excludes 0, computed, never a judgement. The paper comparison (:mod:`dabench_dann_study.paper`) is read
from this document.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dabench.stats.fitting import FitResult, fit_parameter_scales
from dabench.stats.precision import round_json
from dabench_dann_study.claims import KeyClaim
from dabench_dann_study.decomposition import Band, Decomposition, significant
from dabench_dann_study.domain_groups import DomainRow

MODEL = "accuracy = reference - degradation - cost + gain"
SCORES = ("reference", "baseline", "accuracy")
DIFFERENCES = ("degradation", "cost", "gain", "net_benefit", "gain_over_control")


def jsonable(obj: Any) -> Any:
    """Arrays to lists, non-finite floats to None, numpy scalars to Python ones."""
    if isinstance(obj, Band):
        return {"value": jsonable(obj.value), "low": jsonable(obj.low), "high": jsonable(obj.high)}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def decomposition_item(
    d: Decomposition, fits: Mapping[str, FitResult] | None = None, claim: KeyClaim | None = None
) -> dict[str, Any]:
    """One decomposition as a JSON-able dict (unrounded)."""
    item: dict[str, Any] = {
        "label": d.label,
        "method": d.method,
        "variant": d.variant,
        "control": d.control,
        "control_label": d.control_label or None,
        "dataset": d.dataset,
        "da_dataset": d.da_dataset,
        "da_shift": d.da_shift,
        "test_shift": d.test_shift,
        "metric": d.metric,
        "bounds": list(d.bounds),
        "test_intensities": d.test_intensities,
        "da_intensities": d.da_intensities,
        "n_seeds": d.n_seeds,
        "n_seeds_reference": d.n_seeds_reference,
        "collapsed": {"count": d.collapsed, "known": d.collapse_known},
        "baseline_collapsed": {"count": d.baseline_collapsed, "known": d.baseline_collapse_known},
    }
    for name in SCORES:
        item[name] = getattr(d, name)
    for name in DIFFERENCES:
        band = getattr(d, name)
        item[name] = None if band is None else {**jsonable(band), "significant": significant(band, d.bounds)}
    best, at_i, at_j = d.max_gain()
    item["max_gain"] = {"value": best, "test_intensity": at_i, "da_intensity": at_j}
    if fits is not None:
        item["fits"] = {term: dataclasses.asdict(fit) for term, fit in fits.items()}
    if claim is not None:
        item["key_claim"] = claim.as_dict()
    return jsonable(item)


def colour_domains_item(rows: Sequence[DomainRow], metric: str) -> dict[str, Any]:
    """The colour-domain table: every (domain, arm) with its metric at each test intensity."""
    intensities = sorted({i for row in rows for i in row.cells})
    return jsonable(
        {
            "metric": metric,
            "test_intensities": intensities,
            "rows": [
                {
                    "domain": row.domain,
                    "group": row.group,
                    "kind": row.kind,
                    "cells": {
                        f"{i:g}": {"value": v, "low": lo, "high": hi, "n_seeds": n}
                        for i, (v, lo, hi, n) in row.cells.items()
                    },
                }
                for row in rows
            ],
        }
    )


def to_json(
    decompositions: Sequence[Decomposition],
    fits: Sequence[Mapping[str, FitResult]] | None = None,
    claims: Sequence[KeyClaim] | None = None,
    colour_rows: Sequence[DomainRow] | None = None,
    *,
    metric: str = "accuracy",
) -> dict[str, Any]:
    """The whole ``analysis.json`` document, rounded at the declared precision; the same inputs always give the same
    document. ``fits`` and ``claims`` are parallel to ``decompositions``."""
    items = [
        decomposition_item(d, fits[k] if fits is not None else None, claims[k] if claims is not None else None)
        for k, d in enumerate(decompositions)
    ]
    data: dict[str, Any] = {"model": MODEL, "metric": metric, "decompositions": items}
    if colour_rows:
        data["colour_domains"] = colour_domains_item(colour_rows, metric)
    return round_json(data, scales=fit_parameter_scales(data))
