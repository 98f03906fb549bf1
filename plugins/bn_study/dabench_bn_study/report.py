"""``analysis.md``: the study's tables as markdown (tabulate, github format), generated from the ``analysis.json``
document (:mod:`dabench_bn_study.serialise`). User strings are escaped (:mod:`dabench.report.markdown`); headers
say what their cells are. The predictor verdict is computed (:func:`verdict`), never written by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from dabench.report.markdown import code_span, escape_inline

FMT = {"tablefmt": "github", "disable_numparse": True}
TITLE = "# When does BatchNorm adaptation work? Perlin grid, shift grid and latent predictors of the gain"
IN_DOMAIN_TARGET = 0.95

Doc = Mapping[str, Any]


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def num(x: Any, digits: int = 3) -> str:
    """A number at ``digits`` decimals, ``–`` when missing."""
    v = _f(x)
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def interval(s: Mapping[str, Any] | None, *, sd: bool = False) -> str:
    """``0.912 [0.897, 0.925]`` (with ``± sd`` over seeds when asked and defined)."""
    if not s or s.get("value") is None:
        return "–"
    text = num(s["value"])
    if s.get("low") is not None and s.get("high") is not None:
        text += f" [{num(s['low'])}, {num(s['high'])}]"
    if sd and s.get("sd") is not None:
        text += f" ±{num(s['sd'])}"
    return text


def _position(p: float) -> str:
    return f"{_f(p):g}"


def _bases(rows: Sequence[Mapping[str, Any]], key: str, bases: Mapping[str, str]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        basis = (row.get(key) or {}).get("basis", "none")
        counts[basis] = counts.get(basis, 0) + 1
    return "; ".join(f"{escape_inline(bases.get(b, b))} ({n} rows)" for b, n in sorted(counts.items()))


def _flag_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    targets = [r for r in rows if not r.get("is_source")]
    names = ("all white", "all black", "recovered", "not improved")
    counts = [f"{name}: {sum(name in r['flags'] for r in targets)}" for name in names]
    return f"{len(targets)} targets — " + ", ".join(counts)


def _cell_table(rows: Sequence[Mapping[str, Any]], first: str, position: Any) -> list[str]:
    body = []
    for r in rows:
        flags = ", ".join(r["flags"]) + (" (the source cell)" if r.get("is_source") else "")
        body.append([
            position(r), interval(r["unadapted"]), interval(r["adapted"]), interval(r["gain"], sd=True),
            num(r["fg_unadapted"].get("value")), num(r["fg_adapted"].get("value")), flags or "–",
        ])  # fmt: skip
    headers = [first, "Dice unadapted [95%]", "Dice adapted [95%]", "gain [95%] ±seed sd", "fg unadapted",
               "fg adapted", "flags"]  # fmt: skip
    return [tabulate(body, headers=headers, **FMT), ""]


def _in_domain(sources: Sequence[Mapping[str, Any]]) -> list[str]:
    body = []
    for s in sources:
        cell = next((r for r in s["rows"] if r.get("is_source")), None)
        value = _f(s["in_domain"].get("value"))
        check = "–" if not math.isfinite(value) else ("yes" if value >= IN_DOMAIN_TARGET else "no")
        body.append([
            escape_inline(s["source"]), ", ".join(str(x) for x in s["seeds"]), interval(s["in_domain"], sd=True),
            interval(s["in_domain_adapted"]), interval(cell["unadapted"]) if cell else "(not on the grid)", check,
        ])  # fmt: skip
    headers = ["source setting", "seeds", "in-domain Dice (source test) ±seed sd", "same, adapted",
               "Dice on the grid cell equal to the source", f"≥ {IN_DOMAIN_TARGET:g}"]  # fmt: skip
    return [tabulate(body, headers=headers, **FMT), ""]


def verdict(p: Mapping[str, Any]) -> list[str]:
    """The predictor table's conclusions in plain words, from the computed fields of ``p`` (a ``predictors``
    item of ``analysis.json``)."""
    results = {r["name"]: r for r in p.get("predictors", [])}
    winner = p.get("winner")
    if winner is None:
        return ["No predictor could be evaluated (too few target cells or no diagnostics in the records)."]
    held_out = bool(p.get("held_out"))
    target = _f(p.get("target_rho"))

    def rho(name: str) -> str:
        r = results[name]
        if held_out:
            return f"held-out ρ = {interval(r['pooled_rho'])}"
        only = next(iter(r["per_setting"].values()), None)
        return f"ρ = {interval(only)} on the one source setting"

    basis = "pooled held-out prediction ρ" if held_out else "|ρ| on the only source setting (no held-out settings)"
    lines = [f"- **Winner** (by {basis}): {code_span(winner)}, {rho(winner)}."]
    best = p.get("best_pixel_baseline")
    versus = p.get("versus_best_pixel_baseline") or {}
    if best is None:
        lines.append("- No pixel-statistics baseline in the records: nothing to compare the distances with.")
    elif not held_out:
        lines.append(f"- Best pixel-statistics baseline: {code_span(best)}, {rho(best)}; the paired comparison needs "
                     "two or more source settings.")  # fmt: skip
    else:
        diffs = "; ".join(f"{code_span(d)} − {code_span(best)}: {interval(v)}" for d, v in versus.items())
        beats = p.get("beats_best_pixel_baseline") or []
        if beats:
            head = f"{', '.join(code_span(b) for b in beats)} beat{'s' if len(beats) == 1 else ''} it"
        else:
            head = "no latent distance beats it (every difference interval includes 0 or lies below)"
        lines.append(f"- Best pixel-statistics baseline: {code_span(best)}, {rho(best)}; {head}. Paired Δρ on the "
                     f"same cell resamples: {diffs or '–'}.")  # fmt: skip
    reaching = p.get("reaching_target_rho") or []
    if reaching:
        lines.append(f"- Reaching ρ ≥ {target:g}: {', '.join(code_span(r) for r in reaching)}.")
    else:
        lines.append(f"- No predictor reaches ρ ≥ {target:g}.")
    if "latent_bhattacharyya" in results:
        lines.append(f'- Bhattacharyya (the paper: "close, but not there yet"): {rho("latent_bhattacharyya")}.')
    return lines


def _predictor_table(p: Mapping[str, Any]) -> list[str]:
    settings = list(p.get("settings", []))
    body = []
    for r in p.get("predictors", []):
        directions = ", ".join(sorted({h["direction"] for h in r.get("held_out", [])})) or "–"
        body.append([
            code_span(r["name"]), escape_inline(r["kind"]), *(interval(r["per_setting"].get(s)) for s in settings),
            interval(r["pooled_rho"]), interval(r["pooled_mae"]), directions,
            interval((p.get("versus_best_pixel_baseline") or {}).get(r["name"])),
        ])  # fmt: skip
    headers = ["predictor", "kind", *(f"ρ on {escape_inline(s)} [95%]" for s in settings), "held-out ρ pooled [95%]",
               "held-out MAE [95%]", "fitted direction", "Δρ vs best pixel baseline [95%]"]  # fmt: skip
    n_cells = ", ".join(f"{escape_inline(s)}: {len(p['cells'].get(s, []))}" for s in settings)
    lines = [
        f"Spearman ρ between each predictor (seed means of the unadapted model's diagnostics) and the gain, per source "
        f"setting over its target cells (cells: {n_cells}; the cell equal to the source left out), and for the "
        "leave-one-source-setting-out prediction: an isotonic map gain ~ predictor fitted on the other settings' cells "
        "predicts the held-out setting's cells, pooled over settings. Intervals: percentile over "
        f"{p.get('n_boot', 0)} resamples of target cells within each setting, the same for every predictor (Δρ is "
        "paired).",
        "",
        tabulate(body, headers=headers, **FMT),
        "",
        *verdict(p),
        "",
    ]
    lines += [f"- Skipped {code_span(s['name'])}: {escape_inline(s['reason'])}." for s in p.get("skipped", [])]
    return [*lines, ""] if p.get("skipped") else lines


def _perlin(group: Mapping[str, Any], doc: Doc) -> list[str]:
    arm, base = escape_inline(group["arm"]), escape_inline(doc.get("baseline", "source_only"))
    lines = [f"## Perlin grid: {escape_inline(group['study'])} — {arm} vs {base}", "", "### In-domain Dice", ""]
    lines += _in_domain(group["sources"])
    bases = doc.get("bases", {})
    for s in group["sources"]:
        lines += [f"### Source {escape_inline(s['source'])}", ""]
        lines += _cell_table(s["rows"], "target (μ1, μ2)", lambda r: f"({_position(r['mu1'])}, {_position(r['mu2'])})")
        lines += [f"- Flags: {_flag_counts(s['rows'])}.", f"- Gain intervals: {_bases(s['rows'], 'gain', bases)}."]
        lines += [f"- Note: {escape_inline(n)}." for n in s.get("notes", [])]
        lines.append("")
    lines += ["### Predictors of the gain (held-out source settings)", ""]
    return lines + _predictor_table(group["predictors"])


def _shifts(group: Mapping[str, Any], doc: Doc) -> list[str]:
    arm, base = escape_inline(group["arm"]), escape_inline(doc.get("baseline", "source_only"))
    lines = [f"## Shift grid: {escape_inline(group['study'])} — {arm} vs {base}", ""]
    bases = doc.get("bases", {})
    for s in group["shifts"]:
        lines += [
            f"### Shift {code_span(s['source'])}",
            "",
            f"In-domain Dice (clean test split), seeds {', '.join(str(x) for x in s['seeds'])}: unadapted "
            f"{interval(s['in_domain'], sd=True)}, adapted {interval(s['in_domain_adapted'])}.",
            "",
        ]
        lines += _cell_table(s["rows"], "intensity", lambda r: _position(r["intensity"]))
        lines += [f"- Flags: {_flag_counts(s['rows'])}.", f"- Gain intervals: {_bases(s['rows'], 'gain', bases)}."]
        lines += [f"- Note: {escape_inline(n)}." for n in s.get("notes", [])]
        lines.append("")
    return lines


def to_markdown(doc: Doc) -> str:
    """``analysis.md`` from an ``analysis.json`` document; the same document always gives the same text."""
    t = doc.get("thresholds", {})
    bases = "; ".join(f"*{k}*: {escape_inline(v)}" for k, v in doc.get("bases", {}).items())
    lines = [
        TITLE,
        "",
        f"Metric {code_span(doc.get('metric', 'dice'))} (foreground Dice). Each row: one target domain; values are "
        f"seed means over the seeds where both the unadapted ({code_span(doc.get('baseline', 'source_only'))}) and "
        f"the adapted run exist; *gain* = adapted − unadapted, paired per seed. Intervals ({_f(doc.get('level')):g}) "
        f"by basis — {bases}. *fg*: predicted foreground fraction. Flags: *all white* — unadapted fg ≥ "
        f"{_f(t.get('all_white')):g}; *all black* — unadapted fg ≤ {_f(t.get('all_black')):g}; *recovered* — adapted "
        f"Dice ≥ {_f(t.get('recovered')):g}; *not improved* — the gain's interval includes 0 or lies below.",
        "",
    ]
    for group in doc.get("perlin", []):
        lines += _perlin(group, doc)
    for group in doc.get("shift_grid", []):
        lines += _shifts(group, doc)
    if doc.get("notes"):
        lines += ["## Notes", "", *(f"- {escape_inline(n)}" for n in doc["notes"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
