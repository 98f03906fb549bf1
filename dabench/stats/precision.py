"""Declared precision of published artefacts, and comparisons at that precision.

Floating-point results of the same code differ across CPUs and builds from about the 9th significant digit (curve
fits, BLAS reductions). Published JSON artefacts (``dabench analyze``'s ``analysis.json``) therefore round every
float to :data:`SIGNIFICANT_DIGITS` significant digits — of the value itself, or of a larger *scale* given for it
(a fit parameter's standard error: digits far below a parameter's uncertainty move with the optimiser's stopping
point), see :func:`round_json` — and the published-artefact test compares

- JSON numerically (:func:`compare_json`): two numbers agree when they differ by at most one unit in the last of
  :data:`SIGNIFICANT_DIGITS` significant digits (one unit, not half, so that a value sitting on a rounding
  boundary may round either way);
- markdown at its displayed digits (:func:`compare_markdown`): both texts are split into tokens, words and
  punctuation must be equal, and decimal numbers must agree within one unit of their last displayed digit
  (``0.860`` vs ``0.861`` agree, ``0.860`` vs ``0.870`` do not, ``-0.000`` vs ``0.000`` agree). Integers (counts,
  seeds, intensities) must be equal. Whitespace, and the length of ``---`` runs in table rules, are ignored, so
  column widths may change with the width of a cell.

Both comparisons return a list of human-readable differences; an empty list means the artefacts agree.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIGNIFICANT_DIGITS = 6
"""Significant digits of every float in a published JSON artefact."""

JsonPath = tuple[str | int, ...]
"""Keys and indices leading to a value in a JSON structure."""
_SLACK = 1e-9  # relative slack on the tolerance for binary representation error of decimal numbers


def unit_in_last_digit(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """One unit in the last of ``digits`` significant digits of ``value`` (0 for 0 and non-finite values)."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return 10.0 ** (math.floor(math.log10(abs(value))) - (digits - 1))


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS, scale: float = 0.0) -> float:
    """``value`` rounded to ``digits`` significant digits of ``max(|value|, scale)`` (non-finite values unchanged).

    With ``scale = 0`` this is plain rounding to significant digits; a larger ``scale`` (an uncertainty) keeps fewer
    digits of a value that is small next to it."""
    if not math.isfinite(value) or value == 0:
        return value
    magnitude = max(abs(value), abs(scale) if math.isfinite(scale) else 0.0)
    if magnitude == abs(value):
        return float(f"{value:.{digits}g}")
    decimals = (digits - 1) - math.floor(math.log10(magnitude))
    return round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0


def round_json(obj: Any, digits: int = SIGNIFICANT_DIGITS, *, scales: Mapping[JsonPath, float] | None = None) -> Any:
    """A copy of a JSON-able structure with every float rounded by :func:`round_significant`; ``scales`` maps the
    path of a value (keys and indices leading to it) to its scale (give the same ``scales`` to :func:`compare_json`)."""
    scales = scales or {}

    def walk(x: Any, path: JsonPath) -> Any:
        if isinstance(x, Mapping):
            return {k: walk(v, (*path, k)) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [walk(v, (*path, i)) for i, v in enumerate(x)]
        return round_significant(x, digits, scales.get(path, 0.0)) if isinstance(x, float) else x

    return walk(obj, ())


def finite_json(obj: Any) -> Any:
    """A copy of a JSON-able structure with every non-finite float replaced by ``None`` (strict JSON has no NaN);
    mapping keys become strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    return obj


def published_json(obj: Any) -> str:
    """The text of a published JSON artefact: non-finite floats as null (:func:`finite_json`), every float at the
    declared precision (:func:`round_json`), sorted keys, one trailing newline."""
    return json.dumps(round_json(finite_json(obj)), indent=1, sort_keys=True, allow_nan=False) + "\n"


def agree(a: float, b: float, digits: int = SIGNIFICANT_DIGITS, scale: float = 0.0) -> bool:
    """Whether ``a`` and ``b`` agree to ``digits`` significant digits of ``max(|a|, |b|, scale)``: within one unit
    of that last digit. NaN agrees only with NaN, an infinity only with itself."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    magnitude = max(abs(a), abs(b), abs(scale) if math.isfinite(scale) else 0.0)
    return abs(a - b) <= unit_in_last_digit(magnitude, digits) * (1 + _SLACK)


def _where(path: JsonPath) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "(top level)"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare_json(
    a: Any,
    b: Any,
    *,
    significant_digits: int = SIGNIFICANT_DIGITS,
    scales: Mapping[JsonPath, float] | None = None,
    ignore: Callable[[JsonPath], bool] | None = None,
    limit: int = 20,
) -> list[str]:
    """Differences between two JSON-able structures, numbers compared at ``significant_digits``.

    Keys, list lengths, strings, booleans and nulls must be equal; integers must be equal; any other pair of numbers
    must :func:`agree`, at the scale ``scales`` gives for its path (see :func:`round_json`). ``ignore(path)`` skips
    a sub-tree (``path`` is the tuple of keys and indices leading to it). At most ``limit`` differences are listed,
    then a count of the rest.
    """
    found: list[str] = []
    scales = scales or {}

    def walk(x: Any, y: Any, path: JsonPath) -> None:
        if ignore is not None and ignore(path):
            return
        if _is_number(x) and _is_number(y):
            if isinstance(x, int) and isinstance(y, int):
                same = x == y
            else:
                same = agree(float(x), float(y), significant_digits, scales.get(path, 0.0))
            if not same:
                found.append(f"{_where(path)}: {x!r} vs {y!r}")
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if set(x) != set(y):
                only_a, only_b = sorted(map(str, set(x) - set(y))), sorted(map(str, set(y) - set(x)))
                found.append(f"{_where(path)}: keys only in the first {only_a}, only in the second {only_b}")
            for key in sorted(set(x) & set(y), key=str):
                walk(x[key], y[key], (*path, key))
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                found.append(f"{_where(path)}: {len(x)} items vs {len(y)}")
            for i, (u, v) in enumerate(zip(x, y, strict=False)):
                walk(u, v, (*path, i))
        elif type(x) is not type(y) or x != y:
            found.append(f"{_where(path)}: {x!r} vs {y!r}")

    walk(a, b, ())
    return _capped(found, limit)


# ------------------------------------------------------------------------------------------------ markdown


@dataclass(frozen=True)
class Token:
    """A markdown token: ``text`` as written; ``number`` set for numeric tokens, with ``unit`` its last digit's value
    (0 for integers, which must match exactly)."""

    text: str
    number: float | None = None
    unit: float = 0.0


_TOKEN = re.compile(
    r"(?P<number>[-+\u2212]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[^\W\d]\w*)"
    r"|(?P<rule>-{2,})"
    r"|(?P<other>\S)"
)
_NUMBER = re.compile(r"[-+\u2212]?(?:\d*)(?:\.(?P<decimals>\d+))?(?:[eE](?P<exponent>[-+]?\d+))?")


def _number_token(text: str) -> Token:
    parts = _NUMBER.fullmatch(text)
    assert parts is not None
    decimals = len(parts.group("decimals") or "")
    exponent = int(parts.group("exponent") or 0)
    value = float(text.replace("\u2212", "-"))
    is_integer = not parts.group("decimals") and parts.group("exponent") is None
    return Token(text, value, 0.0 if is_integer else 10.0 ** (exponent - decimals))


def tokenize(line: str) -> list[Token]:
    """Tokens of one line: signed decimal numbers, words, ``---`` rules (any length) and single symbols."""
    tokens = []
    for match in _TOKEN.finditer(line):
        kind, text = match.lastgroup, match.group()
        if kind == "number":
            tokens.append(_number_token(text))
        else:
            tokens.append(Token("--" if kind == "rule" else text))
    return tokens


def _tokens_agree(x: Token, y: Token) -> bool:
    if x.number is None or y.number is None:
        return x.number is None and y.number is None and x.text == y.text
    unit = max(x.unit, y.unit)
    return abs(x.number - y.number) <= unit * (1 + _SLACK)


def _line_difference(x: Sequence[Token], y: Sequence[Token]) -> str | None:
    if len(x) != len(y):
        return f"{len(x)} tokens vs {len(y)}"
    for u, v in zip(x, y, strict=True):
        if not _tokens_agree(u, v):
            return f"{u.text!r} vs {v.text!r}"
    return None


def _skeleton(tokens: Sequence[Token]) -> tuple[str, ...]:
    """A line's non-numeric tokens, numbers replaced by ``#``: lines that may agree have equal skeletons."""
    return tuple("#" if t.number is not None else t.text for t in tokens)


def compare_markdown(a: str, b: str, *, limit: int = 20) -> list[str]:
    """Differences between two markdown texts at their displayed digits (see the module docstring).

    Lines are aligned on their words and symbols (numbers masked) with :mod:`difflib`, so an added or removed line
    is reported once rather than shifting every later line. Each difference names the line numbers (first text,
    second text), the first disagreeing tokens and the lines. At most ``limit`` are listed, then a count of the
    rest.
    """
    lines_a, lines_b = a.splitlines(), b.splitlines()
    tokens_a, tokens_b = [tokenize(x) for x in lines_a], [tokenize(y) for y in lines_b]
    matcher = difflib.SequenceMatcher(
        None, [_skeleton(t) for t in tokens_a], [_skeleton(t) for t in tokens_b], autojunk=False
    )
    found = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("equal", "replace") and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                why = _line_difference(tokens_a[i], tokens_b[j])
                if why is not None:
                    found.append(f"line {i + 1}/{j + 1}: {why}\n  - {lines_a[i].strip()}\n  + {lines_b[j].strip()}")
            continue
        removed = "".join(f"\n  - {lines_a[i].strip()}" for i in range(i1, i2))
        added = "".join(f"\n  + {lines_b[j].strip()}" for j in range(j1, j2))
        found.append(f"lines {i1 + 1}-{i2}/{j1 + 1}-{j2}: {i2 - i1} line(s) vs {j2 - j1}{removed}{added}")
    return _capped(found, limit)


def _capped(found: list[str], limit: int) -> list[str]:
    if len(found) <= limit:
        return found
    return [*found[:limit], f"... and {len(found) - limit} more differences"]
