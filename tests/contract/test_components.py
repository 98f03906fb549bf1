"""Every registered component passes the public contract kit (dabench.testing), third-party ones included."""

from __future__ import annotations

import pytest

from dabench import testing
from dabench.registry import build_registry
from tests.conftest import data_root

REGISTRY = build_registry()


@pytest.mark.parametrize("name", REGISTRY.methods.names())
def test_method_contract(name: str) -> None:
    testing.check_method(REGISTRY.methods.get(name))


@pytest.mark.parametrize("name", REGISTRY.shifts.names())
def test_shift_contract(name: str) -> None:
    spec = REGISTRY.shifts.get(name)
    if spec.prepare is not None and spec.defaults.get("reference", None) in ("", None):
        pytest.skip(f"{name} needs a reference; covered by its own tests")
    testing.check_shift(spec)


@pytest.mark.parametrize("name", REGISTRY.metrics.names())
def test_metric_contract(name: str) -> None:
    testing.check_metric(REGISTRY.metrics.get(name))


@pytest.mark.parametrize("name", REGISTRY.validators.names())
def test_validator_contract(name: str) -> None:
    testing.check_validator(REGISTRY.validators.get(name))


@pytest.mark.parametrize("name", REGISTRY.datasets.names())
def test_dataset_contract(name: str) -> None:
    spec = REGISTRY.datasets.get(name)
    root = data_root()
    if spec.needs_data_root and (root is None or not (root / (spec.folder or name)).exists()):
        pytest.skip(f"{name}: data not present under DABENCH_DATA")
    if spec.domains and "*" not in spec.domains:
        for domain in spec.domains:
            testing.check_dataset(spec, root, domain=domain)
    else:
        testing.check_dataset(spec, root)


def test_example_plugin_passes_the_kit(example_plugin_path: object) -> None:
    registry = build_registry()
    for kind, check in (
        ("method", testing.check_method),
        ("shift", testing.check_shift),
        ("metric", testing.check_metric),
    ):
        table = registry.table(kind)
        name = {"method": "entmin", "shift": "invert", "metric": "top2_accuracy"}[kind]
        assert table.providers[name] == "example"
        check(table.get(name))
