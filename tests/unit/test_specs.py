import json

import pytest

from dabench.errors import SpecError
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.specs import Citation, MethodSpec, MetricSpec, ShiftSpec

PAPER = Citation(authors="A, B", title="T", year=2020)


def make_spec(**changes: object) -> RunSpec:
    base = dict(
        method=ComponentRef(name="dann", version="1"),
        dataset=ComponentRef(name="digits", version="1"),
        target=None,
        shift=(ShiftStep(name="noise", version="1", intensity=0.8),),
        metrics=(ComponentRef(name="accuracy", version="1"),),
        params={"lr": 0.01, "epochs": 3},
        seed=0,
    )
    base.update(changes)
    return RunSpec(**base)  # type: ignore[arg-type]


def test_key_is_stable_and_order_independent() -> None:
    a = make_spec(params={"lr": 0.01, "epochs": 3})
    b = make_spec(params={"epochs": 3, "lr": 0.01})
    assert a.key() == b.key() and len(a.key()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},
        {"params": {"lr": 0.02, "epochs": 3}},
        {"method": ComponentRef(name="dann", version="2")},
        {"shift": (ShiftStep(name="noise", version="1", intensity=0.9),)},
        {"protocol": "other"},
        {"target": ComponentRef(name="usps", version="1")},
    ],
)
def test_key_changes_with_every_component(change: dict) -> None:
    assert make_spec().key() != make_spec(**change).key()


def test_canonical_roundtrip() -> None:
    spec = make_spec(target=ComponentRef(name="wbc", version="1", domain="lab1"))
    again = RunSpec.from_canonical(json.loads(json.dumps(spec.canonical())))
    assert again.key() == spec.key()


def test_names_and_citations_validated() -> None:
    with pytest.raises(SpecError, match="invalid"):
        MetricSpec(name="Bad Name", fn=lambda y, s: 0.0, higher_is_better=True, bounds=(0, 1))
    with pytest.raises(SpecError, match="cite"):
        MethodSpec(name="m", build=lambda p: None, paper="not a citation")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="task_type"):
        MethodSpec(name="m", build=lambda p: None, paper=PAPER, task_types=("detection",))  # type: ignore[arg-type]


def test_shift_intensity_range() -> None:
    shift = ShiftSpec(name="s", apply=lambda x, i, r, s: x, intensity_range=(0.0, 2.0))
    shift.check_intensity(1.5)
    with pytest.raises(SpecError, match=r"valid range is \[0, 2\]"):
        shift.check_intensity(3)
    blur = ShiftSpec(name="b", apply=lambda x, i, r, s: x, intensity_range=(0.0, 9.0), integer_intensity=True)
    with pytest.raises(SpecError, match="integer"):
        blur.check_intensity(2.5)


def test_citation_short() -> None:
    assert PAPER.short() == "A et al. (2020)"
    assert Citation(authors="Solo", title="t", year=1999).short() == "Solo (1999)"
