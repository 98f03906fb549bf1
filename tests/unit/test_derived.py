"""Salvage, domain spread and across-domain variance, as pure functions and from stored records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dabench.errors import SpecError
from dabench.stats.bootstrap import Estimate
from dabench.stats.derived import (
    across_domain_variance,
    configuration,
    domain_spread,
    domain_spread_from_records,
    record_value,
    salvage,
    salvage_from_records,
    values_by_domain,
)


def _rec(key: str, metrics: dict[str, dict[str, float | None]], status: str = "ok", spec: dict | None = None) -> dict:
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
    return {"key": key, "status": status, "spec": spec or {}, "metrics": est}


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


def test_salvage_reproduces_valliani_et_al_with_the_internal_test_as_reference() -> None:
    # Their averages (AUC, %): digits internal 99.87, external 91.85, adapted 94.66 -> "salvage of 35%";
    # chest X-rays internal 78.07, external 71.43, +1.64 after adaptation -> "salvage of 25%".
    assert salvage(94.66, 91.85, 99.87) == pytest.approx(0.35, abs=0.005)
    assert salvage(71.43 + 1.64, 71.43, 78.07) == pytest.approx(0.25, abs=0.005)
    doc = salvage.__doc__ or ""
    assert "Valliani" in doc and "internal" in doc and "theoretical ceiling" in doc


def test_domain_spread_is_the_global_model_definition_and_across_domain_variance_is_not() -> None:
    assert "global model" in (domain_spread.__doc__ or "") and "pooled" in (domain_spread.__doc__ or "")
    assert "Not :func:`domain_spread`" in (across_domain_variance.__doc__ or "")
    # the same arithmetic: with two domains, the squared half-gap
    assert across_domain_variance({"source": 0.976, "target": 0.117}, scale=100) == pytest.approx(42.95**2)
    assert across_domain_variance([0.9, math.nan]) == 0.0 and math.isnan(across_domain_variance([], ddof=0))


def test_domain_spread_from_records_needs_one_configuration() -> None:
    spec = {"method": {"name": "global"}, "params": {"epochs": 3}, "seed": 0, "n_bootstrap": 1000}
    seeds = [
        _rec("g0", {"site1": {"auc": 0.80}, "site2": {"auc": 0.70}}, spec=spec),
        _rec("g1", {"site1": {"auc": 0.84}, "site2": {"auc": 0.66}}, spec=spec | {"seed": 1, "n_bootstrap": 50}),
    ]
    assert configuration(seeds[0]) == configuration(seeds[1])  # seeds and bootstrap settings are one model
    assert domain_spread_from_records(seeds, "auc", scale=100) == pytest.approx(np.var([82.0, 68.0]))
    other = _rec("o0", {"site1": {"auc": 0.5}, "site2": {"auc": 0.9}}, spec=spec | {"method": {"name": "dann"}})
    with pytest.raises(SpecError, match=r"2 configurations.*dann, global"):
        domain_spread_from_records([*seeds, other], "auc")
    failed_other = _rec("f", {"site1": {"auc": 0.1}}, status="failed", spec=spec | {"params": {"epochs": 9}})
    assert domain_spread_from_records([*seeds, failed_other], "auc") == pytest.approx(0.0049)
