"""The StarGAN study's budget curve (paper 001, issue 15): tells a budget failure from a negative result.

An adapted model below the unadapted one can mean that pixel-level adaptation does not help here, or that the GAN
had not converged. The curve separates the two: per ordered pair with adapted runs at several ``gan_iters``, the
adapted AUC at each budget beside the pair's external AUC (Δ and whether the intervals separate), its top-1
accuracy, the semantic retention, and how much the GAN's losses still moved over the second half of each run
(:func:`late_movement`): a curve that climbs with the budget while the losses are still moving is a budget failure;
a flat or falling curve with settled losses is a negative result.

Losses followed: ``d_adversarial`` (−E[D(x)] + E[D(G(x, c))], the negated Wasserstein estimate of WGAN-GP),
``g_cycle`` (the reconstruction L1) and ``g_semantic`` (the CyCADA term), from the run's recorded loss history
(window means every ``log_every`` generator updates).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FOLLOWED = ("d_adversarial", "g_cycle", "g_semantic")


def late_movement(history: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """Per :data:`FOLLOWED` loss in ``history`` (with its ``iteration`` axis): the window mean at the first window
    past half of the run (``half``), the last (``end``) and the relative change ``(end − half) / |half|``."""
    iterations = [float(i) for i in history.get("iteration") or []]
    if len(iterations) < 2:
        return {}
    middle = next(i for i, it in enumerate(iterations) if it >= iterations[-1] / 2)
    moved = {}
    for name in FOLLOWED:
        values = [float(v) for v in history.get(name) or []]
        if len(values) != len(iterations):
            continue
        half, end = values[middle], values[-1]
        change = (end - half) / abs(half) if half != 0 else math.nan
        moved[name] = {"half": half, "end": end, "change": change}
    return moved


def _mean_movement(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """:func:`late_movement` averaged over the runs (seeds) that recorded a loss history."""
    per_run = [late_movement((r.get("training") or {}).get("gan_losses") or {}) for r in runs]
    per_run = [m for m in per_run if m]
    out: dict[str, dict[str, float]] = {}
    for name in FOLLOWED:
        rows = [m[name] for m in per_run if name in m]
        if rows:
            out[name] = {key: statistics.fmean(row[key] for row in rows) for key in ("half", "end", "change")}
    return out


def separated(low: Mapping[str, Any] | None, high: Mapping[str, Any] | None) -> bool:
    """``high``'s interval lies entirely above ``low``'s (both estimates with ``low`` / ``high``)."""
    return bool(
        low and high and high.get("low") is not None and low.get("high") is not None and high["low"] > low["high"]
    )


def curve(
    by_budget: Mapping[int, Sequence[Mapping[str, Any]]],
    estimate: Any,
    external: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """One point per ``gan_iters`` (ascending) of a pair's adapted runs: the adapted ``estimate(runs, "target")``
    (and ``estimate(runs, "target", "accuracy")``), its Δ vs ``external``, ``separated`` (adapted's interval above
    external's), the mean semantic retention and the losses' :func:`late_movement`."""
    points = []
    for iters in sorted(by_budget):
        runs = by_budget[iters]
        adapted = estimate(runs, "target")
        if adapted is None:
            continue
        retention = [(r.get("training") or {}).get("semantic_retention") for r in runs]
        kept = [float(v) for v in retention if isinstance(v, int | float)]
        delta = adapted["value"] - external["value"] if external else None
        points.append(
            {
                "gan_iters": iters,
                "adapted": adapted,
                "adapted_accuracy": estimate(runs, "target", "accuracy"),
                "delta_vs_external": delta,
                "separated": separated(external, adapted),
                "semantic_retention": statistics.fmean(kept) if kept else None,
                "late_movement": _mean_movement(runs),
            }
        )
    return points


def markdown(pairs: Sequence[Mapping[str, Any]], auc: Any, interval: Any) -> list[str]:
    """The section of ``deployment.md`` for the pairs with adapted runs at more than one budget (empty when none);
    ``auc`` / ``interval`` format an AUC and an estimate as the page does."""
    shown = [p for p in pairs if len(p.get("budget_curve") or []) > 1]
    if not shown:
        return []
    lines = [
        "## Budget curve (budget failure or negative result?)",
        "",
        "The adapted AUC of the pairs run at several budgets (`gan_iters`: generator updates, each after 5 critic "
        "updates; every run has its own schedule, constant then decaying to zero over its second half), beside "
        "the external AUC. *half → end*: the loss's window mean at the first window past half of the run and at "
        "its end, with the relative change (`d_adversarial` is the negated Wasserstein estimate; a large change "
        "means the GAN was still moving when the run stopped).",
        "",
        "| source → target | gan_iters | adapted | external | Δ vs external | separated | adapted accuracy "
        "| semantics kept | d_adversarial half → end | g_cycle half → end | g_semantic half → end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in shown:
        for point in p["budget_curve"]:
            moved = point["late_movement"]
            cells = [
                f"{moved[k]['half']:.3g} → {moved[k]['end']:.3g} ({100 * moved[k]['change']:+.0f} %)"
                if k in moved and math.isfinite(moved[k]["change"])
                else "–"
                for k in FOLLOWED
            ]
            delta = point["delta_vs_external"]
            retention = point["semantic_retention"]
            lines.append(
                f"| {p['source']} → {p['target']} | {point['gan_iters']} | {interval(point['adapted'])} "
                f"| {interval(p['external'])} | {'–' if delta is None else f'{100 * delta:+.2f}'} "
                f"| {'yes' if point['separated'] else 'no'} | {interval(point['adapted_accuracy'])} "
                f"| {'–' if retention is None else f'{retention:.3f}'} | " + " | ".join(cells) + " |"
            )
    lines.append("")
    return lines


def figure(pairs: Sequence[Mapping[str, Any]], stem: Path) -> tuple[Path, Path] | None:
    """Adapted AUC (with its interval) against ``gan_iters`` per pair run at several budgets, the pair's external
    AUC as a dashed line of the same colour; None when no pair has a curve."""
    shown = [p for p in pairs if len(p.get("budget_curve") or []) > 1]
    if not shown:
        return None
    from dabench.report.figures import new_figure, save_figure, style_axes

    fig = new_figure((4.5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for index, p in enumerate(shown):
        colour = f"C{index}"
        points = p["budget_curve"]
        xs = [pt["gan_iters"] for pt in points]
        ys = [100 * pt["adapted"]["value"] for pt in points]
        low = [100 * (pt["adapted"]["value"] - (pt["adapted"].get("low") or pt["adapted"]["value"])) for pt in points]
        high = [100 * ((pt["adapted"].get("high") or pt["adapted"]["value"]) - pt["adapted"]["value"]) for pt in points]
        label = f"{p['source']} → {p['target']}"
        ax.errorbar(xs, ys, yerr=[low, high], marker="o", color=colour, capsize=2, label=label)
        if p.get("external"):
            ax.axhline(100 * p["external"]["value"], color=colour, linestyle="--", linewidth=1)
    from matplotlib.ticker import NullFormatter

    budgets = sorted({pt["gan_iters"] for p in shown for pt in p["budget_curve"]})
    ax.set_xscale("log")
    ax.set_xticks(budgets, [f"{b:,}" for b in budgets])
    ax.xaxis.set_minor_formatter(NullFormatter())
    style_axes(
        ax,
        xlabel="generator updates (gan_iters)",
        ylabel="adapted AUC (%)",
        title="Budget curve (dashed: external AUC)",
    )
    ax.legend(fontsize="small")
    return save_figure(fig, stem)
