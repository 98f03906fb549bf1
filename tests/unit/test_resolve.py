from __future__ import annotations

import dataclasses

import pytest

from dabench.errors import SpecError, UnknownComponentError, closest_name, did_you_mean
from dabench.nn.hyperparams import TRAINING_RANGES, ParamRange
from dabench.run.resolve import RunRequest, check_param, coerce, parse_set, parse_shift_chain, resolve, resolve_params
from dabench.specs import Citation, MethodSpec

PAPER = Citation(authors="T", title="t", year=2024)


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


def test_coerce_rejects_infinite_integers() -> None:
    for value in ("inf", "1e400", float("inf")):
        with pytest.raises(SpecError, match="not a valid int"):
            coerce("epochs", value, 15)


@pytest.mark.parametrize(
    ("name", "valid", "expected"),
    [
        ("acc", ["accuracy", "auc", "balanced_accuracy"], "accuracy"),  # an abbreviation beats a close spelling
        ("bal", ["accuracy", "auc", "balanced_accuracy"], "balanced_accuracy"),
        ("f1", ["accuracy", "macro_f1"], "macro_f1"),
        ("Accuracy", ["accuracy", "auc"], "accuracy"),
        ("dan", ["adabn", "dann", "source_only"], "dann"),
        ("protocl", ["protocol", "metrics"], "protocol"),
        ("zzz", ["accuracy", "auc"], None),
        ("", ["accuracy"], None),
    ],
)
def test_closest_name(name: str, valid: list[str], expected: str | None) -> None:
    assert closest_name(name, valid) == expected
    assert did_you_mean(name, valid) == (f" Did you mean {expected!r}?" if expected else "")


def test_param_range() -> None:
    positive, unit = ParamRange(0, low_open=True), ParamRange(0, 1, high_open=True)
    assert positive.contains(1e-9) and not positive.contains(0) and not positive.contains(-1)
    assert unit.contains(0) and unit.contains(0.99) and not unit.contains(1)
    assert not ParamRange().contains(float("nan")) and not ParamRange(1).contains(True)
    assert (positive.describe("lr"), positive.interval()) == ("lr > 0", "(0, inf)")
    assert (unit.describe("m"), unit.interval()) == ("0 <= m < 1", "[0, 1)")
    assert (ParamRange(None, 5).describe("x"), ParamRange.of((1, None)).interval()) == ("x <= 5", "[1, inf)")
    with pytest.raises(SpecError, match=r"parameter lr=0 of method 'm' is out of range: it must satisfy lr > 0"):
        positive.check("lr", 0, owner="method 'm'")
    with pytest.raises(SpecError, match="is empty"):
        ParamRange(2, 1)


def test_method_spec_checks_its_ranges() -> None:
    def make(**kwargs: object) -> MethodSpec:
        return MethodSpec(name="m", build=lambda p: None, paper=PAPER, defaults={"lr": 0.1, "tag": "x"}, **kwargs)  # type: ignore[arg-type, return-value]

    assert make(param_ranges={"lr": (0.0, 1.0)}).param_ranges["lr"] == ParamRange(0.0, 1.0)
    with pytest.raises(SpecError, match="not one of its defaults"):
        make(param_ranges={"epochs": (1, None)})
    with pytest.raises(SpecError, match="non-numeric default"):
        make(param_ranges={"tag": (1, None)})
    with pytest.raises(SpecError, match="outside its own range"):
        make(param_ranges={"lr": (1.0, None)})


def test_builtin_methods_declare_training_ranges(registry) -> None:  # type: ignore[no-untyped-def]
    for name in ("source_only", "dann", "adabn"):
        ranges = registry.methods.get(name).param_ranges
        assert set(TRAINING_RANGES) <= set(ranges), name
        numeric = {k for k, v in registry.methods.get(name).all_defaults.items() if isinstance(v, int | float)}
        assert set(ranges) == numeric, name


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("source_only", {"batch_size": "0"}, r"batch_size=0 of method 'source_only' is out of range.*batch_size >= 1"),
        ("source_only", {"epochs": "-1"}, "epochs >= 1"),
        ("source_only", {"lr": "0"}, r"lr > 0 \(valid range \(0, inf\)\)"),
        ("dann", {"momentum": "1"}, r"0 <= momentum < 1"),
        ("dann", {"lambda_max": "-0.5"}, "lambda_max >= 0"),
        ("adabn", {"adapt_batch_size": "0"}, "adapt_batch_size >= 1"),
    ],
)
def test_resolve_rejects_out_of_range_parameters(method: str, params: dict, message: str, registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match=message):
        resolve(RunRequest(method=method, dataset="digits", params=params), registry)
    assert check_param(registry.methods.get(method), "epochs", "3") == 3


def test_dataset_overrides_are_range_checked(registry) -> None:  # type: ignore[no-untyped-def]
    digits = registry.datasets.get("digits")
    bad = dataclasses.replace(digits, param_overrides={"*": {"batch_size": 0}})
    spec = registry.methods.get("source_only")
    with pytest.raises(SpecError, match="batch_size=0"):
        resolve_params(spec.name, spec.defaults, bad, {}, spec)
    assert resolve_params(spec.name, spec.defaults, bad, {"batch_size": 8}, spec)["batch_size"] == 8


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"intensity": 0.5}, r"--intensity 0.5 needs a --shift.*--shift noise --intensity 0.5"),
        ({"shift": "none", "intensity": 0.5}, "needs a --shift"),
        ({"seed": -1}, r"^seed -1 is negative"),
        ({"n_bootstrap": -5}, r"^n_bootstrap -5 is negative"),
        ({"metrics": ("dice",)}, "metric 'dice' is for segmentation tasks"),
        ({"target": "isbi2012"}, "target 'isbi2012' is a segmentation dataset"),
        ({"protocol": "dann4", "shift": "noise", "intensity": 0.5}, "--intensity does not apply to --protocol dann4"),
    ],
)
def test_resolve_rejects_inconsistent_requests(request_kwargs: dict, message: str, registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match=message):
        resolve(RunRequest(method="source_only", dataset="digits", **request_kwargs), registry)
