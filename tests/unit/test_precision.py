"""Declared precision: rounding of published JSON, and comparisons of JSON and markdown at that precision."""

from __future__ import annotations

import json
import math

import pytest

from dabench.stats.fitting import fit_parameter_scales
from dabench.stats.precision import (
    SIGNIFICANT_DIGITS,
    JsonPath,
    agree,
    compare_json,
    compare_markdown,
    round_json,
    round_significant,
    tokenize,
)


def test_declared_precision_is_six_significant_digits() -> None:
    assert SIGNIFICANT_DIGITS == 6
    assert round_significant(0.669357339735972) == 0.669357
    assert round_significant(-12345.6789) == -12345.7
    assert round_significant(3.2e-19) == 3.2e-19
    assert math.isnan(round_significant(math.nan)) and round_significant(0.0) == 0.0


def test_round_json_keeps_structure_ints_and_none() -> None:
    data = {"a": [0.1234567891, 2, None, True], "b": {"c": 1.0000004}, "s": "0.1234567891"}
    assert round_json(data) == {"a": [0.123457, 2, None, True], "b": {"c": 1.0}, "s": "0.1234567891"}
    assert json.dumps(round_json({"x": 0.1 + 0.2})) == '{"x": 0.3}'


def test_round_at_a_larger_scale() -> None:
    assert round_significant(0.006233994542176073, scale=0.0485) == 0.0062340
    assert round_significant(0.669357339735972, scale=0.00139) == 0.669357  # a smaller scale changes nothing
    assert round_significant(-9.2e-19, scale=1.0) == 0.0 and str(round_significant(-1e-9, scale=1.0)) == "0.0"
    data = {"params": {"c": 0.006233994542176073}, "other": 0.006233994542176073}
    assert round_json(data, scales={("params", "c"): 0.0485}) == {"params": {"c": 0.006234}, "other": 0.00623399}


def test_fit_parameter_scales_are_the_finite_standard_errors() -> None:
    fit = {"params": {"a": 0.7, "c": 0.006}, "stderr": {"a": 0.25, "c": None}}
    data = {"decompositions": [{"fits": {"gain": fit}}, {"fits": {}}]}
    assert fit_parameter_scales(data) == {("decompositions", 0, "fits", "gain", "params", "a"): 0.25}


def test_agree_at_six_significant_digits() -> None:
    assert agree(0.669357339735972, 0.6693573397185781)  # the cross-CPU difference of the issue
    assert agree(0.123456, 0.123457)  # a last-digit rounding flip
    assert not agree(0.123456, 0.123458)  # two units
    assert not agree(0.669, 0.679)  # third digit
    assert agree(0.9999995, 1.0)  # across a power of ten
    assert not agree(0.0, 1e-300) and agree(0.0, 0.0)
    assert agree(math.nan, math.nan) and not agree(math.nan, 1.0) and not agree(math.inf, 1e308)


def test_compare_json_catches_real_differences_and_accepts_rounding() -> None:
    committed = {"fit": {"i0": 0.669357339735972, "n": 9}, "label": "dann", "grid": [0.5, 0.25]}
    assert compare_json(committed, {"fit": {"i0": 0.669357, "n": 9}, "label": "dann", "grid": [0.5, 0.25]}) == []
    assert compare_json(committed, {"fit": {"i0": 0.669358, "n": 9}, "label": "dann", "grid": [0.5, 0.25]}) == []
    third = compare_json(committed, {"fit": {"i0": 0.679357, "n": 9}, "label": "dann", "grid": [0.5, 0.25]})
    assert third == ["fit.i0: 0.669357339735972 vs 0.679357"]
    word = compare_json(committed, {"fit": {"i0": 0.669357, "n": 9}, "label": "adabn", "grid": [0.5, 0.25]})
    assert word == ["label: 'dann' vs 'adabn'"]
    count = compare_json(committed, {"fit": {"i0": 0.669357, "n": 10}, "label": "dann", "grid": [0.5, 0.25]})
    assert count == ["fit.n: 9 vs 10"]
    shape = compare_json(committed, {"fit": {"i0": 0.669357}, "label": "dann", "grid": [0.5]})
    assert any("keys only in the first ['n']" in d for d in shape) and "grid: 2 items vs 1" in shape
    assert compare_json({"x": None}, {"x": 0.0}) == ["x: None vs 0.0"]
    assert compare_json({"x": True}, {"x": 1}) == ["x: True vs 1"]


def test_compare_json_scales_and_ignored_paths() -> None:
    # one fit's parameter c = 0.00623 ± 0.0485 on two CPUs: it moved by 3e-8, in its own 6th significant digit
    committed = {"params": {"a": 0.697144649549214, "c": 0.006233994542176073}}
    elsewhere = {"params": {"a": 0.6971446723877287, "c": 0.006234026403100842}}
    assert compare_json(committed, elsewhere) == ["params.c: 0.006233994542176073 vs 0.006234026403100842"]
    scales: dict[JsonPath, float] = {("params", "c"): 0.0485}
    assert compare_json(committed, elsewhere, scales=scales) == []
    assert compare_json(committed, round_json(elsewhere, scales=scales), scales=scales) == []
    far = {"params": {"a": 0.697145, "c": 0.006334}}  # a real change, far below the scale's last digit
    assert compare_json(committed, far, scales=scales) == ["params.c: 0.006233994542176073 vs 0.006334"]
    assert compare_json(committed, far, ignore=lambda p: p == ("params", "c")) == []


def test_compare_json_limits_the_list() -> None:
    differences = compare_json(list(range(30)), list(range(1, 31)), limit=5)
    assert len(differences) == 6 and differences[-1] == "... and 25 more differences"


def test_tokenize_numbers_words_and_rules() -> None:
    texts = [t.text for t in tokenize("| d_max=0.860±0.004 | x86_64 |---| -0.5 (i - i0) 1e-05 |")]
    assert texts == ["|", "d_max", "=", "0.860", "±", "0.004", "|", "x86_64", "|", "--", "|", "-0.5", "(", "i", "-",
                     "i0", ")", "1e-05", "|"]  # fmt: skip
    units = {t.text: t.unit for t in tokenize("0.860 12 1.5e-3 +0.080")}
    assert units == pytest.approx({"0.860": 1e-3, "12": 0.0, "1.5e-3": 1e-4, "+0.080": 1e-3})


ROW = "| 1 | adabn | 0.860 [0.823, 0.897] | b=0.000±– | 15 |"


@pytest.mark.parametrize(
    "other",
    [
        "| 1 | adabn | 0.861 [0.823, 0.897] | b=0.000±– | 15 |",  # last-digit rounding flip
        "| 1 | adabn | 0.860 [0.822, 0.898] | b=-0.000±– | 15 |",  # flips and a signed zero
        "|  1 |  adabn  | 0.860 [0.823, 0.897] |  b=0.000±–  | 15 |",  # column widths
    ],
)
def test_compare_markdown_accepts_last_digit_differences(other: str) -> None:
    assert compare_markdown(f"# t\n\n{ROW}\n|---|---|\n", f"# t\n\n{other}\n|------|---|\n") == []


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ("| 1 | adabn | 0.870 [0.823, 0.897] | b=0.000±– | 15 |", "'0.860' vs '0.870'"),  # third digit
        ("| 1 | adabn | 0.862 [0.823, 0.897] | b=0.000±– | 15 |", "'0.860' vs '0.862'"),  # two units
        ("| 1 | dann | 0.860 [0.823, 0.897] | b=0.000±– | 15 |", "'adabn' vs 'dann'"),  # a changed word
        ("| 1 | adabn | 0.860 [0.823, 0.897] | b=0.000±– | 16 |", "'15' vs '16'"),  # integers are exact
        ("| 1 | adabn | 0.860 [0.823, 0.897] | b=-0.002±– | 15 |", "'0.000' vs '-0.002'"),
    ],
)
def test_compare_markdown_catches_real_differences(other: str, why: str) -> None:
    differences = compare_markdown(f"# t\n{ROW}\n", f"# t\n{other}\n")
    assert len(differences) == 1 and differences[0].startswith(f"line 2/2: {why}")
    assert ROW in differences[0] and other in differences[0]


def test_compare_markdown_reports_an_added_line_once() -> None:
    a = "# t\n\nintro 0.5\n\n| a | 0.1 |\n| b | 0.2 |\n"
    b = "# t\n\nintro 0.5\n- new line\n\n| a | 0.1 |\n| b | 0.2 |\n"
    differences = compare_markdown(a, b)
    assert differences == ["lines 4-3/4-4: 0 line(s) vs 1\n  + - new line"]
