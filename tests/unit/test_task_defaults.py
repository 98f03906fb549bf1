"""``MethodSpec.task_defaults``: parameters that exist only for one task type, resolved per run."""

from __future__ import annotations

import pytest

from dabench.builtins.citations import ERM
from dabench.errors import SpecError
from dabench.run.resolve import check_param, resolve_params
from dabench.specs import DatasetSpec, MethodSpec


def method() -> MethodSpec:
    return MethodSpec(
        name="m",
        build=lambda params: None,  # type: ignore[arg-type,return-value]
        paper=ERM,
        defaults={"width": 32, "lr": 0.1},
        task_defaults={"segmentation": {"width": 64, "depth": 4}},
        param_ranges={"depth": (1, 6)},
        task_types=("classification", "segmentation"),
    )


def dataset(task_type: str) -> DatasetSpec:
    return DatasetSpec(
        name="d",
        load=lambda ctx: None,  # type: ignore[arg-type,return-value]
        task_type=task_type,  # type: ignore[arg-type]
        num_classes=2,
        input_shape=(1, 8, 8),
        license="test",
        homepage="https://example.org",
    )


def test_defaults_per_task_type() -> None:
    m = method()
    assert m.defaults_for("classification") == {"width": 32, "lr": 0.1}
    assert m.defaults_for("segmentation") == {"width": 64, "lr": 0.1, "depth": 4}
    assert m.all_defaults == {"width": 32, "lr": 0.1, "depth": 4}


def test_resolve_uses_the_task_types_defaults() -> None:
    m = method()
    seg = resolve_params("m", m.defaults_for("segmentation"), dataset("segmentation"), {"depth": "3"}, m)
    assert seg == {"width": 64, "lr": 0.1, "depth": 3}
    cls = resolve_params("m", m.defaults_for("classification"), dataset("classification"), {}, m)
    assert cls == {"width": 32, "lr": 0.1}  # classification keeps exactly its defaults (its run keys do not move)


def test_a_parameter_of_another_task_type_is_a_clear_error() -> None:
    m = method()
    with pytest.raises(SpecError, match="for classification runs"):
        resolve_params("m", m.defaults_for("classification"), dataset("classification"), {"depth": 3}, m)


def test_ranges_cover_task_defaults() -> None:
    m = method()
    with pytest.raises(SpecError, match="out of range"):
        check_param(m, "depth", 9)
    with pytest.raises(SpecError, match="segmentation"):
        MethodSpec(name="m", build=lambda p: None, paper=ERM, task_defaults={"segmentatio": {}})  # type: ignore[arg-type,return-value]
