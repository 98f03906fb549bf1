"""Salvage and domain spread, as pure functions and from stored records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dabench.errors import SpecError
from dabench.stats.bootstrap import Estimate
from dabench.stats.derived import (
    domain_spread,
    domain_spread_from_records,
    record_value,
    salvage,
    salvage_from_records,
    values_by_domain,
)


def _rec(key: str, metrics: dict[str, dict[str, float | None]], status: str = "ok") -> dict:
    est = {
        d: {
            m: (
                Estimate(value=v, low=v, high=v, n_boot=0, interval="none").as_dict()
                if v is not None
                else {"value": None, "low": None, "high": None, "n_boot": 0, "interval": "none"}
            )
            for m, v in ms.items()
        }
        for d, ms in metrics.items()
    }
    return {"key": key, "status": status, "spec": {}, "metrics": est}


def test_salvage_definition() -> None:
    # lost 0.9 - 0.7 = 0.2, recovered 0.05 -> 25 % (the chest X-ray paper's average salvage)
    assert salvage(0.75, 0.70, 0.90) == pytest.approx(0.25)
    assert salvage(0.70, 0.70, 0.90) == 0.0
    assert salvage(0.65, 0.70, 0.90) == pytest.approx(-0.25)
    assert salvage(4.0, 5.0, 3.0) == pytest.approx(0.5)  # lower-is-better metric (e.g. an error)
    assert math.isnan(salvage(0.8, 0.8, 0.8))


def test_domain_spread_is_inter_domain_variance() -> None:
    vals = {"a": 0.80, "b": 0.70, "c": 0.75}
    assert domain_spread(vals) == pytest.approx(np.var([0.8, 0.7, 0.75]))
    assert domain_spread(vals, scale=100, ddof=1) == pytest.approx(np.var([80, 70, 75], ddof=1))
    assert domain_spread([0.5, math.nan, 0.7]) == pytest.approx(0.01)
    assert math.isnan(domain_spread([0.5], ddof=1))


def test_helpers_on_records() -> None:
    adapted = _rec("a", {"target": {"auc": 0.75}})
    base = _rec("b", {"target": {"auc": 0.70}, "source": {"auc": 0.9}})
    oracle = _rec("c", {"target": {"auc": 0.90}})
    assert salvage_from_records(adapted, base, oracle, metric="auc") == pytest.approx(0.25)
    assert salvage_from_records(adapted, base, base, metric="auc", reference_domain="source") == pytest.approx(0.25)
    with pytest.raises(SpecError, match="no metric"):
        record_value(adapted, "dice", "target")
    with pytest.raises(SpecError, match="status"):
        record_value(_rec("f", {}, status="failed"), "auc", "target")
    seeds = [
        _rec("s0", {"site1": {"auc": 0.8}, "site2": {"auc": 0.6}}),
        _rec("s1", {"site1": {"auc": 0.9}, "site2": {"auc": 0.7}}),
        _rec("s2", {"site1": {"auc": 0.1}}, status="failed"),
        _rec("s3", {"site3": {"auc": None}}),
    ]
    vals = values_by_domain(seeds, "auc")
    assert vals["site1"] == pytest.approx(0.85) and vals["site2"] == pytest.approx(0.65) and math.isnan(vals["site3"])
    assert domain_spread_from_records(seeds, "auc") == pytest.approx(np.var([0.85, 0.65]))
    assert domain_spread_from_records(seeds, "auc", domains=["site1"]) == 0.0
    with pytest.raises(SpecError, match="site9"):
        domain_spread_from_records(seeds, "auc", domains=["site9"])
