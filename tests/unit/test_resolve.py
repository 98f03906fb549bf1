from __future__ import annotations

import pytest

from dabench.errors import SpecError, UnknownComponentError
from dabench.resolve import RunRequest, coerce, parse_set, parse_shift_chain, resolve


def test_parse_set() -> None:
    assert parse_set(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    for bad in ("novalue", "=3"):
        with pytest.raises(SpecError, match="key=value"):
            parse_set([bad])


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        ("3", 1, 3),
        ("3.0", 1, 3),
        (2, 1.0, 2.0),
        ("0.5", 1.0, 0.5),
        ("true", False, True),
        ("off", True, False),
        ("abc", "x", "abc"),
    ],
)
def test_coerce(value: object, default: object, expected: object) -> None:
    result = coerce("p", value, default)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("value", "default"), [("3.5", 1), ("abc", 1.0), ("maybe", True), ("nan", 1.0), (True, 1)])
def test_coerce_rejects(value: object, default: object) -> None:
    with pytest.raises(SpecError, match="not a valid"):
        coerce("p", value, default)


def test_resolve_layers_and_validation(registry) -> None:  # type: ignore[no-untyped-def]
    spec = resolve(RunRequest(method="dann", dataset="digits", shift="noise:0.5", params={"epochs": "2"}), registry)
    assert spec.params["epochs"] == 2 and spec.params["gamma"] == 10.0
    assert [s.intensity for s in spec.shift] == [0.5]
    assert {m.name for m in spec.metrics} >= {"accuracy", "macro_f1"}
    with pytest.raises(SpecError, match="Did you mean 'epochs'"):
        resolve(RunRequest(method="dann", dataset="digits", params={"epoch": "2"}), registry)
    with pytest.raises(UnknownComponentError, match="Did you mean 'digits'"):
        resolve(RunRequest(method="dann", dataset="digit"), registry)


def test_shift_chain_parsing(registry) -> None:  # type: ignore[no-untyped-def]
    steps = parse_shift_chain(registry, "noise:0.8+blur:3")
    assert [(s.name, s.intensity) for s in steps] == [("noise", 0.8), ("blur", 3.0)]
    assert parse_shift_chain(registry, "noise", intensity=0.4)[0].intensity == 0.4
    assert parse_shift_chain(registry, "none") == ()
    with pytest.raises(SpecError, match="out of range"):
        parse_shift_chain(registry, "noise:99")
    with pytest.raises(SpecError, match="needs an intensity"):
        parse_shift_chain(registry, "noise")
    with pytest.raises(SpecError, match="not a number"):
        parse_shift_chain(registry, "noise:lots")
    with pytest.raises(SpecError, match="no option"):
        parse_shift_chain(registry, "noise:0.1,colour=red")
    with pytest.raises(SpecError, match="single shift"):
        parse_shift_chain(registry, "noise:0.1+blur:3", intensity=0.2)
