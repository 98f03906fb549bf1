"""The multi-level adversarial segmentation study's training curves: target Dice after every adversarial epoch.

The runs offer G as a checkpoint after each epoch of the adversarial stage (Origin: after each epoch past the G
stage), and the records keep each checkpoint's target Dice (``checkpoints.entries``, all target test images here).
The last iterate alone is a noisy summary of an adversarial run — its target Dice can move by 0.1 or more from one
epoch to the next — so this analysis describes the whole trajectory, grouped as :mod:`dabench_mlan_study.gap`
groups (source → target with the staged schedule, then variant), epochs aligned by G updates past the G stage
(``k`` = 1 … ``adv_epochs`` for every variant, so Origin and UDA-sed at the same ``k`` have made as many G updates):

* **last**: the final model's Dice (what ``gap.md`` compares);
* **tail mean**: the mean Dice over the last quarter of the checkpoints (⌈adv_epochs / 4⌉ epochs), and **tail sd**
  its epoch-to-epoch standard deviation — the Dice a checkpoint drawn from the end of training has, and how much it
  swings. Descriptive: the tail's epochs are not independent samples, so no interval is claimed for one run;
* **trend**: tail mean minus the mean over the quarter before it (> 0: still rising at the end);
* **Δ tail vs Origin**: per seed and over seeds (Student-t 95%), the same comparison as ``gap.md`` on tail means;
* **best epoch**: the oracle checkpoint (selected with target labels; a ceiling for model selection, not a result).

Written to ``curve.md``, ``curve.json`` and ``curve.png`` / ``.svg`` (mean over seeds of Origin, UDA-sed, SDA-sed and
the target-trained model, each section a panel). Paper: arXiv 2002.08587, §2.2 (train "alternately … until
convergence"; 100 adversarial epochs in §3.1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dabench.stats.fitting import t_interval
from dabench_mlan_study.gap import METRIC, NAMES, ORDER, row_key

#: the variants drawn in the figure, with their legend labels (the table has every variant)
DRAWN = {"uda/none": "Origin", "uda/sed": "UDA-sed", "sda/sed": "SDA-sed", "trained on target": "target-trained"}


def trajectory(record: Mapping[str, Any]) -> list[tuple[int, float]]:
    """``(k, target Dice)`` of a record's epoch checkpoints, ``k`` counting epochs past the G stage (and, for a
    variant with discriminators, past the discriminator stage); the duplicate ``final`` entry is left out."""
    params = (record.get("spec") or {}).get("params") or {}
    offset = int(params.get("g_epochs", 0))
    if str(params.get("discriminators", "sed")) != "none":
        offset += int(params.get("d_epochs", 0))
    points = []
    for entry in (record.get("checkpoints") or {}).get("entries", []):
        if entry.get("label") == "final":
            continue
        dice = (((entry.get("domains") or {}).get("target") or {}).get("metrics") or {}).get(METRIC)
        if dice is not None:
            points.append((int(entry["epoch"]) - offset, float(dice["value"])))
    return sorted(points)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _sd(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    m = _mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def describe(points: Sequence[tuple[int, float]]) -> dict[str, Any]:
    """Last, tail mean / sd, trend and best epoch of one run's trajectory (see the module docstring)."""
    values = [v for _, v in points]
    n = len(values)
    quarter = max(1, math.ceil(n / 4))
    tail, before = values[n - quarter :], values[max(0, n - 2 * quarter) : n - quarter]
    best = max(range(n), key=values.__getitem__) if n else None
    return {
        "epochs": n,
        "last": values[-1] if n else math.nan,
        "tail_epochs": quarter,
        "tail_mean": _mean(tail),
        "tail_sd": _sd(tail),
        "trend": _mean(tail) - _mean(before) if before else math.nan,
        "best": values[best] if best is not None else math.nan,
        "best_epoch": points[best][0] if best is not None else None,
    }


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per section and variant: the mean curve over seeds and each seed's :func:`describe` (module docstring)."""
    runs: dict[str, dict[str, dict[int, list[tuple[int, float]]]]] = defaultdict(lambda: defaultdict(dict))
    trained: dict[str, dict[int, list[tuple[int, float]]]] = defaultdict(dict)
    for record in records:
        key = row_key(record)
        points = trajectory(record) if key is not None else []
        if key is None or len(points) < 2:
            continue
        section, variant = key
        seed = int(record["spec"]["seed"])
        if variant == "trained on target":
            trained[section][seed] = points
        else:
            runs[section][variant][seed] = points
    sections = []
    for section, variants in sorted(runs.items()):
        target = section.split(" → ")[1]
        if trained.get(target):
            variants["trained on target"] = trained[target]
        origin = {s: describe(p)["tail_mean"] for s, p in variants.get("uda/none", {}).items()}
        rows = []
        for variant in sorted(variants, key=ORDER.index):
            by_seed = variants[variant]
            seeds = sorted(by_seed)
            described = [describe(by_seed[s]) | {"seed": s} for s in seeds]
            epochs = sorted(set.intersection(*(set(k for k, _ in by_seed[s]) for s in seeds)))
            curve = [_mean([dict(by_seed[s])[k] for s in seeds]) for k in epochs]
            row: dict[str, Any] = {"variant": variant, "name": NAMES[variant], "seeds": seeds, "per_seed": described}
            row["curve"] = {"epochs": epochs, "mean": curve}
            for field in ("last", "tail_mean", "tail_sd", "trend", "best"):
                row[field] = _mean([d[field] for d in described])
            row["tail_epochs"] = described[0]["tail_epochs"]
            shared = [s for s in seeds if s in origin]
            if variant not in ("uda/none", "trained on target") and shared:
                deltas = [d["tail_mean"] - origin[d["seed"]] for d in described if d["seed"] in origin]
                row["tail_delta_per_seed"] = dict(zip(shared, deltas, strict=True))
                row["tail_delta"], row["tail_delta_low"], row["tail_delta_high"] = t_interval(deltas)
            rows.append(row)
        sections.append({"section": section, "rows": rows})
    return {"metric": METRIC, "sections": sections}


def _f(x: Any, signed: bool = False) -> str:
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "–"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _per_seed(row: Mapping[str, Any]) -> str:
    return "; ".join(f"{s}: {_f(d, True)}" for s, d in row.get("tail_delta_per_seed", {}).items()) or "–"


def markdown(summary: Mapping[str, Any], command: str) -> str:
    lines = [
        "# Multi-level adversarial segmentation (paper 003): target Dice over the adversarial stage",
        "",
        "<!-- generated by dabench from the run records; do not edit by hand -->",
        "",
        f"Regenerate with: `{command}`" if command else "",
        "",
        "Target test Dice of every epoch checkpoint, epochs counted past the G stage (and the discriminator stage), "
        "so every variant has made as many G updates at one epoch; means over seeds. *last*: the final model. "
        "*tail*: the last quarter of the epochs — its mean and epoch-to-epoch sd (descriptive; no interval for one "
        "run). *trend*: tail mean minus the quarter before it. *Δ tail vs Origin*: per seed, and over seeds with a "
        "Student-t 95% interval. *best*: the oracle checkpoint (chosen with target labels: a ceiling, not a result).",
    ]
    for section in summary["sections"]:
        lines += [
            "",
            f"## {section['section']}",
            "",
            "| variant | seeds | epochs | last | tail epochs | tail mean | tail sd | trend | Δ tail vs Origin per seed "
            "| Δ tail over seeds [95%] | best (mean) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in section["rows"]:
            delta = (
                f"{_f(r['tail_delta'], True)} [{_f(r['tail_delta_low'], True)}, {_f(r['tail_delta_high'], True)}]"
                if "tail_delta" in r
                else "–"
            )
            lines.append(
                f"| {r['name']} | {len(r['seeds'])} | {len(r['curve']['epochs'])} | {_f(r['last'])} | "
                f"{r['tail_epochs']} | {_f(r['tail_mean'])} | {_f(r['tail_sd'])} | {_f(r['trend'], True)} | "
                f"{_per_seed(r)} | {delta} | {_f(r['best'])} |"
            )
    return "\n".join(lines) + "\n"


def figure(summary: Mapping[str, Any], stem: Path) -> tuple[Path, Path] | None:
    """One panel per section: the mean-over-seeds curve of each of :data:`DRAWN`; None without any section."""
    sections = summary["sections"]
    if not sections:
        return None
    from dabench.report.figures import new_figure, save_figure, style_axes

    fig = new_figure((4.5 * len(sections), 3.2))
    for index, section in enumerate(sections, start=1):
        ax = fig.add_subplot(1, len(sections), index)
        for colour, row in enumerate(r for r in section["rows"] if r["variant"] in DRAWN):
            curve = row["curve"]
            label = DRAWN[row["variant"]]
            ax.plot(curve["epochs"], curve["mean"], marker="o", markersize=2, color=f"C{colour}", label=label)
        style_axes(
            ax,
            xlabel="epochs past the G stage",
            ylabel="target Dice (mean over seeds)",
            title=section["section"].replace(" → ", " →\n"),
            legend=False,
        )
        ax.legend(fontsize="x-small", loc="lower right", ncol=2)
    return save_figure(fig, stem)


def analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: Any) -> list[Path]:
    """Write ``curve.md``, ``curve.json`` and the figure under ``out_dir``."""
    from dabench.stats.precision import published_json

    summary = summarise(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "curve.md", out_dir / "curve.json"
    md.write_text(markdown(summary, getattr(ctx, "command", "")))
    js.write_text(published_json(summary))
    written = [md, js]
    drawn = figure(summary, out_dir / "curve")
    if drawn is not None:
        written += list(drawn)
    return written


def applies(records: Sequence[Mapping[str, Any]]) -> bool:
    """Any mlan record of the study with at least two epoch checkpoints."""
    return any(row_key(r) is not None and len(trajectory(r)) >= 2 for r in records)
