"""The paper's reported values, and their comparison with dabench's, generated from ``analysis.json``.

:data:`PAPER_VALUES` are the numbers and claims the paper states, each with where it states them (section and page;
pages are counted at the page breaks of the stored text, shared/papers/dann-intersemantic-histopathology.txt).
:func:`compare` reads an ``analysis.json`` document (as :func:`dabench_dann_study.serialise.to_json` writes it, or
as committed) and gives one row per paper value whose setting the document covers: the dabench value with its
interval and a computed agreement, so the published comparison cannot drift from the records.

Agreement rules (computed, never a judgement):

- a number: *yes* when it lies in the dabench 95% interval widened by the paper's rounding (± half a unit of its
  last digit, 0.005 for two decimals), else *no*;
- "no cost": *yes* when no cost interval (at any DA intensity) lies above 0;
- a range over colour domains: *yes* when the dabench interval overlaps the range (widened by the rounding);
- the key claim: *yes* when the test confirms it, *no* when it does not, *cannot be tested* otherwise;
- a different metric than the paper's accuracy: *not comparable*.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), sections IV-A
to IV-E and the Discussion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from dabench.report.markdown import escape_inline

PAPER_METRIC = "accuracy"
ROUNDING = 0.005
"""Half a unit of the paper's last reported digit (it reports two decimals)."""
SOURCE = "shared/papers/dann-intersemantic-histopathology.txt"


@dataclass(frozen=True)
class PaperValue:
    """One value or claim of the paper. ``kind``: ``reference``, ``baseline`` / ``degradation`` (at test intensity
    ``at``), ``no_cost``, ``max_gain``, ``key_claim``, ``cost_range`` / ``gain_range`` / ``degradation_range`` (over
    colour domains, at the full colour transfer). ``dataset`` None: any dataset (the paper's is not in dabench);
    ``da_dataset``: a DA dataset name, ``same``/``other`` semantics, or None (not DA-specific)."""

    kind: str
    quantity: str
    paper: str
    where: str
    test_shift: str
    value: float | tuple[float, float] | None = None
    dataset: str | None = "mnist"
    da_dataset: str | None = None
    at: float | None = None


IVA, IVB, IVC = "§IV-A, p. 3", "§IV-B, p. 3", "§IV-C, p. 3"
IVD, IVE = "§IV-D, p. 4", "§IV-E, p. 4"
CLAIM = "gain almost invariant to DA intensity; most of it at very low DA intensity"

PAPER_VALUES: tuple[PaperValue, ...] = (
    PaperValue(kind="reference", quantity="reference accuracy (no DA, no test shift)", paper="0.98", where=IVA,
               test_shift="noise", value=0.98),
    PaperValue(kind="baseline", quantity="accuracy at noise 1.2, no DA", paper="0.20", where=IVA, test_shift="noise",
               value=0.20, at=1.2),
    PaperValue(kind="degradation", quantity="degradation at noise 1.2", paper="0.78", where=IVA, test_shift="noise",
               value=0.78, at=1.2),
    PaperValue(kind="no_cost", quantity="DA cost, DA on MNIST", paper="none", where=IVA, test_shift="noise",
               da_dataset="mnist"),
    PaperValue(kind="max_gain", quantity="largest gain, DA on MNIST", paper="0.50 at test 1.1, DA 0.5", where=IVA,
               test_shift="noise", value=0.50, da_dataset="mnist"),
    PaperValue(kind="key_claim", quantity=f"key claim, DA on MNIST: {CLAIM}", paper="yes",
               where=f"{IVA}; Discussion, p. 5", test_shift="noise", da_dataset="mnist"),
    PaperValue(kind="no_cost", quantity="DA cost, DA on Fashion-MNIST", paper="none", where=IVB, test_shift="noise",
               da_dataset="fashion_mnist"),
    PaperValue(kind="max_gain", quantity="largest gain, DA on Fashion-MNIST", paper="0.45 at test 0.9, DA 0.9",
               where=IVB, test_shift="noise", value=0.45, da_dataset="fashion_mnist"),
    PaperValue(kind="key_claim", quantity=f"key claim, DA on Fashion-MNIST: {CLAIM}", paper="yes", where=IVB,
               test_shift="noise", da_dataset="fashion_mnist"),
    PaperValue(kind="max_gain", quantity="largest gain, DA on black images", paper="0.27", where=IVB,
               test_shift="noise", value=0.27, da_dataset="black"),
    PaperValue(kind="reference", quantity="reference accuracy (no DA, no blur)", paper="0.98", where=IVC,
               test_shift="blur", value=0.98),
    PaperValue(kind="baseline", quantity="accuracy at blur k = 9, no DA", paper="0.23", where=IVC, test_shift="blur",
               value=0.23, at=9.0),
    PaperValue(kind="degradation", quantity="degradation at blur k = 9", paper="0.75", where=IVC, test_shift="blur",
               value=0.75, at=9.0),
    PaperValue(kind="no_cost", quantity="DA cost, DA on MNIST", paper="none", where=IVC, test_shift="blur",
               da_dataset="mnist"),
    PaperValue(kind="max_gain", quantity="largest gain, DA on MNIST", paper="0.25 at test k 7, DA k 3", where=IVC,
               test_shift="blur", value=0.25, da_dataset="mnist"),
    PaperValue(kind="no_cost", quantity="DA cost, DA on Fashion-MNIST", paper="none (constant 0)", where=IVC,
               test_shift="blur", da_dataset="fashion_mnist"),
    PaperValue(kind="max_gain", quantity="largest gain, DA on Fashion-MNIST", paper="0.26", where=IVC,
               test_shift="blur", value=0.26, da_dataset="fashion_mnist"),
    PaperValue(kind="degradation_range", quantity="degradation per colour domain (CAMELYON in the paper)",
               paper="0.03–0.26", where=IVD, test_shift="reinhard", value=(0.03, 0.26), dataset=None),
    PaperValue(kind="cost_range", quantity="DA cost per colour domain, DA same semantics", paper="0.0–0.10",
               where=IVD, test_shift="reinhard", value=(0.0, 0.10), dataset=None, da_dataset="same"),
    PaperValue(kind="gain_range", quantity="gain per colour domain, DA same semantics", paper="0.04–0.28",
               where=IVD, test_shift="reinhard", value=(0.04, 0.28), dataset=None, da_dataset="same"),
    PaperValue(kind="cost_range", quantity="DA cost per colour domain, DA other semantics (TissueNet)",
               paper="0.0–0.16", where=IVE, test_shift="reinhard", value=(0.0, 0.16), dataset=None,
               da_dataset="other"),
    PaperValue(kind="gain_range", quantity="gain per colour domain, DA other semantics (TissueNet)",
               paper="0.02–0.28", where=IVE, test_shift="reinhard", value=(0.02, 0.28), dataset=None,
               da_dataset="other"),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One line of the comparison."""

    quantity: str
    setting: str
    paper: str
    where: str
    dabench: str
    agree: str


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def _num(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3f}"


def _interval(band: Mapping[str, Any], index: Sequence[int] = ()) -> tuple[float, float, float]:
    def pick(values: Any) -> float:
        for k in index:
            values = values[k]
        return _f(values)

    return pick(band["value"]), pick(band["low"]), pick(band["high"])


def _show(v: float, lo: float, hi: float) -> str:
    return f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def _within(value: float, lo: float, hi: float, *, difference: bool = False) -> str:
    """A paper number against a dabench interval; for a difference (a gain), an interval that includes 0 cannot
    confirm a nonzero paper value."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "cannot tell (no interval)"
    if not lo - ROUNDING <= value <= hi + ROUNDING:
        return "no"
    return "inconclusive (interval includes 0)" if difference and lo <= 0 <= hi and value != 0 else "yes"


def _range(a: float, b: float, lo: float, hi: float) -> str:
    """A paper range against a dabench interval: inside, disjoint or partly overlapping."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "cannot tell (no interval)"
    if hi < a - ROUNDING or lo > b + ROUNDING:
        return "no"
    return "yes" if a - ROUNDING <= lo and hi <= b + ROUNDING else "inconclusive (interval wider than the range)"


def _family(shift: str) -> str:
    return shift.split("[", 1)[0]


def _matches(item: Mapping[str, Any], value: PaperValue) -> bool:
    if item.get("control") or _family(item["test_shift"]) != value.test_shift:
        return False
    if value.dataset is not None and item["dataset"] != value.dataset:
        return False
    if value.da_dataset is None:
        return True
    same = item["da_dataset"].split(":")[0] == item["dataset"]
    if value.da_dataset in ("same", "other"):
        return item["method"] == "dann" and same == (value.da_dataset == "same")
    return item["method"] == "dann" and item["da_dataset"] == value.da_dataset


def _index(values: Sequence[Any], target: float) -> int | None:
    found = [k for k, v in enumerate(values) if v is not None and abs(float(v) - target) < 1e-9]
    return found[0] if found else None


def _row(value: PaperValue, item: Mapping[str, Any]) -> Row | None:
    """The comparison of one paper value with one decomposition of ``analysis.json`` (None: does not apply)."""
    wide = value.kind in ("reference", "baseline", "degradation", "degradation_range")
    setting = escape_inline(f"{item['dataset']}, test shift {item['test_shift']}" if wide else item["label"])
    row = {"quantity": value.quantity, "setting": setting, "paper": value.paper, "where": value.where}
    if item.get("metric") != PAPER_METRIC:
        return Row(**row, dabench=f"(metric {item.get('metric')})", agree="not comparable")
    tests, das = item["test_intensities"], item["da_intensities"]
    last = len(tests) - 1
    if value.kind == "reference":
        v, lo, hi = _interval(item["reference"])
        return Row(**row, dabench=_show(v, lo, hi), agree=_within(float(value.value), lo, hi))  # type: ignore[arg-type]
    if value.kind in ("baseline", "degradation"):
        a = _index(tests, float(value.at))  # type: ignore[arg-type]
        if a is None:
            return Row(**row, dabench=f"(test intensity {value.at:g} not run)", agree="not run")
        v, lo, hi = _interval(item[value.kind], (a,))
        return Row(**row, dabench=_show(v, lo, hi), agree=_within(float(value.value), lo, hi))  # type: ignore[arg-type]
    if value.kind == "no_cost":
        cost = item["cost"]
        cells = [(_interval(cost, (b,)), das[b]) for b in range(len(das))]
        above = [j for (v, lo, hi), j in cells if math.isfinite(lo) and lo > 0]
        (v, lo, hi), j = max(cells, key=lambda c: -math.inf if not math.isfinite(c[0][0]) else c[0][0])
        text = f"largest {_show(v, lo, hi)} at DA {_f(j):g}; above 0 at {len(above)} of {len(cells)} DA intensities"
        return Row(**row, dabench=text, agree="yes" if not above else "no")
    if value.kind == "max_gain":
        best = item["max_gain"]
        if best["value"] is None:
            return Row(**row, dabench="(no gain)", agree="not run")
        a, b = _index(tests, _f(best["test_intensity"])), _index(das, _f(best["da_intensity"]))
        v, lo, hi = _interval(item["gain"], (a, b))  # type: ignore[arg-type]
        text = f"{_show(v, lo, hi)} at test {_f(best['test_intensity']):g}, DA {_f(best['da_intensity']):g}"
        text += f"; net benefit there {_show(*_interval(item['net_benefit'], (a, b)))}"  # type: ignore[arg-type]
        agree = _within(float(value.value), lo, hi, difference=True)  # type: ignore[arg-type]
        return Row(**row, dabench=text, agree=agree)
    if value.kind == "key_claim":
        claim = item.get("key_claim") or {}
        status = str(claim.get("status", "cannot be tested"))
        agree = {"confirmed": "yes", "not confirmed": "no"}.get(status, "cannot be tested")
        text = status if status != "cannot be tested" else f"cannot be tested: {claim.get('reason', '')}"
        if claim.get("slope_low") is not None:
            text += (
                f"; share at lowest DA {_num(_f(claim.get('share_at_lowest')))}, slope "
                f"{_show(_f(claim.get('slope')), _f(claim.get('slope_low')), _f(claim.get('slope_high')))}"
            )
        return Row(**row, dabench=escape_inline(text), agree=agree)
    lo_p, hi_p = value.value  # type: ignore[misc]
    matched = _index(das, _f(tests[last]))  # the paper's convention: DA intensity = test intensity
    b = len(das) - 1 if matched is None else matched
    if value.kind == "degradation_range":
        v, lo, hi = _interval(item["degradation"], (last,))
        text = f"{_show(v, lo, hi)} at test {_f(tests[last]):g}"
    elif value.kind == "cost_range":
        v, lo, hi = _interval(item["cost"], (b,))
        text = f"{_show(v, lo, hi)} at DA {_f(das[b]):g}"
    else:
        v, lo, hi = _interval(item["gain"], (last, b))
        text = f"{_show(v, lo, hi)} at test {_f(tests[last]):g}, DA {_f(das[b]):g}"
        text += f"; net benefit there {_show(*_interval(item['net_benefit'], (last, b)))}"
    return Row(**row, dabench=text, agree=_range(lo_p, hi_p, lo, hi))


def compare(analysis: Mapping[str, Any], values: Sequence[PaperValue] = PAPER_VALUES) -> list[Row]:
    """One row per (paper value, matching decomposition) of ``analysis`` (an ``analysis.json`` document); paper
    values of settings the document does not cover are left out, and a covered setting's DA group that was not run
    shows as *not run*. Setting-wide values (reference, degradation) are compared once per setting."""
    items = list(analysis.get("decompositions") or [])
    rows: list[Row] = []
    for value in values:
        covered = [i for i in items if _family(i["test_shift"]) == value.test_shift and not i.get("control")]
        covered = [i for i in covered if value.dataset is None or i["dataset"] == value.dataset]
        if not covered:
            continue
        matching = [i for i in covered if _matches(i, value)]
        if value.kind in ("reference", "baseline", "degradation"):
            matching = matching[:1]
        elif value.kind == "degradation_range":
            matching = list({i["test_shift"]: i for i in matching}.values())
        if not matching:
            rows.append(Row(value.quantity, "–", value.paper, value.where, "(not run)", "not run"))
        rows += [row for row in (_row(value, item) for item in matching) if row is not None]
    return rows


def to_markdown(rows: Sequence[Row], *, source: str = "analysis.json") -> str:
    """``paper_comparison.md``: the rows as a table with how they were made."""
    lines = [
        "# Paper vs dabench: DANN inter-semantic study",
        "",
        f"Generated by `dabench analyze` from `{source}` (never edit by hand). Paper: `{SOURCE}` (section, page "
        "counted at the stored text's page breaks). dabench: mean [95% interval] over seeds. *agree* is computed: a "
        f"number agrees when it lies in the interval widened by the paper's rounding (±{ROUNDING:g}) — for a gain, "
        '*inconclusive* when that interval also includes 0; "no cost" when no cost interval lies above 0; a '
        "colour-domain range when the interval lies inside it (*inconclusive* when it is only partly inside); the "
        "key claim when the test confirms it. Gains are shown with the net benefit over source_only at the same "
        "cell (a gain can be positive while the DA model is worse than the raw CNN).",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "No paper value applies to these records.", ""])
    body = [[escape_inline(r.quantity), r.setting, escape_inline(r.paper), r.where, r.dabench, r.agree] for r in rows]
    headers = ["quantity", "dabench setting", "paper", "where", "dabench", "agree"]
    lines += [tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


INCLUDE = re.compile(r"(<!-- generated from (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
"""A block of a hand-written page (``leaderboards/NOTES.md``) that quotes a generated comparison's table."""


def table_of(markdown: str) -> str:
    """The table lines of a generated ``paper_comparison.md`` (what a page quotes)."""
    return "".join(line + "\n" for line in markdown.splitlines() if line.startswith("|"))


def refresh_includes(page: str, read: Callable[[str], str]) -> str:
    """``page`` with every quoted block replaced by the table of the file it names (``read(path)`` gives the
    file's text); the rest of the page is left as written."""
    return INCLUDE.sub(lambda m: m.group(1) + table_of(read(m["path"])) + m.group(4), page)
