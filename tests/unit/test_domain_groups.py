from __future__ import annotations

from dabench.domain_groups import per_domain_groups


def record(method: str, seed: int, reference: str, da: str | None, value: float) -> dict:
    shift = [{"name": "reinhard", "version": "1", "intensity": 0.0, "options": {"reference": reference}}]
    return {
        "key": f"{method}{seed}{reference}{da}",
        "status": "ok",
        "spec": {
            "protocol": "dann4",
            "method": {"name": method, "version": "1"},
            "dataset": {"name": "pbc", "version": "1"},
            "da_dataset": {"name": da, "version": "1"} if da else None,
            "shift": shift,
            "seed": seed,
        },
        "metrics": {"test@0": {"accuracy": {"value": 0.9}}, "test@1": {"accuracy": {"value": value}}},
    }


def test_groups_by_domain_and_semantics() -> None:
    records = [
        record("source_only", 1, "a#0", None, 0.5),
        record("source_only", 0, "a#0", None, 0.4),
        record("dann", 0, "a#0", "pbc", 0.7),
        record("dann", 0, "a#0", "wbc_zheng", 0.6),
        record("dann", 0, "b#1", "pbc", 0.8),
        {"status": "failed", "spec": {}},
    ]
    groups = per_domain_groups(records, intensity=1.0)
    assert list(groups) == ["reinhard reference=a#0", "reinhard reference=b#1"]
    assert groups["reinhard reference=a#0"] == {
        "DA other semantics (wbc_zheng)": [0.6],
        "DA same semantics (pbc)": [0.7],
        "no DA": [0.4, 0.5],
    }
    assert per_domain_groups(records, intensity=0.0)["reinhard reference=b#1"] == {"DA same semantics (pbc)": [0.9]}
