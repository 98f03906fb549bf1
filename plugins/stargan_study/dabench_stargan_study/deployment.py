"""The StarGAN study's analysis (paper 001, §2.1, §2.3, Fig 1A, Fig 2, Fig 4): per ordered domain pair the internal,
external, adapted and ceiling AUC, salvage, the four deployment strategies and the domain spread.

Records (``stargan`` runs; ``gan_iters = 0`` is stage 1 alone — the paper's baseline CNN, the same F_S the adapted
run starts from, trained with the same seed):

* ``digit_pairs`` a → b, ``gan_iters = 0``: **internal** (its ``source`` test: a's test split) and **external** (its
  ``target`` test); with a = b: the **ceiling** / bespoke model of b;
* ``digit_pairs`` a → b, ``gan_iters > 0``: **adapted** (fine-tuned on a's train images translated into b), and its
  training report: F_S's accuracy on the translated images relative to the originals (semantics kept) and the GAN's
  loss history. A pair run at several budgets is reported at its largest ``gan_iters`` (column ``gan_iters``), and
  all of them in the budget curve (:mod:`dabench_stargan_study.budget`);
* ``digit_global`` at ``digits3:pooled,fraction=F``, ``gan_iters = 0``: the **global** model, per domain.

Intervals: one seed — the run's bootstrap interval (1,000 replicates in the study's sweeps); several — Student-t over
seeds of the per-seed values. Salvage (Valliani et al.): (adapted − external) / (internal − external) per pair, with
its mean and median beside the paper's 35 % and 83.16 %. Domain spread: the population variance (in %²) of the global
model's per-domain AUC at each data fraction (paper: 112.06 at 0.1 %, 0.01 at 100 %). Files: ``deployment.md``,
``deployment.json``, ``domain_spread.png`` / ``.svg`` and, when a pair has a budget curve, ``budget_curve.png`` /
``.svg``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dabench.stats.fitting import t_interval
from dabench_digits3.loader import DOMAINS
from dabench_stargan_study import budget

METRIC = "auc"
ACCURACY = "accuracy"  # the study's second metric: reported beside AUC, never ranked
PAPER = {"internal": 0.9987, "external": 0.9185, "adapted": 0.9466, "salvage_mean": 0.35, "salvage_median": 0.8316}
PAPER_SPREAD = {0.001: 112.06, 1.0: 0.01}


def _domain(ref: Mapping[str, Any] | None) -> str:
    return str((ref or {}).get("domain") or "")


def _iters(record: Mapping[str, Any]) -> int:
    return int(((record.get("spec") or {}).get("params") or {}).get("gan_iters", 1))


def _kind(record: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(kind, source domain, target domain) of a usable record; kind ∈ baseline, adapted, global."""
    spec = record.get("spec") or {}
    if record.get("status") != "ok" or (spec.get("method") or {}).get("name") != "stargan":
        return None
    iters = _iters(record)
    if spec.get("protocol") == "digit_pairs":
        source, target = _domain(spec.get("dataset")), _domain(spec.get("target"))
        return ("baseline" if iters == 0 else "adapted"), source, target
    if spec.get("protocol") == "digit_global" and iters == 0:
        return "global", _domain(spec.get("dataset")), ""
    return None


def applies(records: Sequence[Mapping[str, Any]]) -> bool:
    """Any ok stargan record of the study's protocols."""
    return any(_kind(r) is not None for r in records)


def _estimate(runs: Sequence[Mapping[str, Any]], domain: str, metric: str = METRIC) -> dict[str, Any] | None:
    """Mean over seeds with its interval (see the module docstring), or None when no run scored ``domain``."""
    scores = [r["metrics"][domain][metric] for r in runs if metric in (r.get("metrics") or {}).get(domain, {})]
    if not scores:
        return None
    values = [float(s["value"]) for s in scores]
    mean, low, high = t_interval(values)
    if len(values) == 1:
        low, high = scores[0].get("low"), scores[0].get("high")
    return {"value": mean, "low": low, "high": high, "n_seeds": len(values)}


def _salvage(adapted: float, external: float, internal: float) -> float:
    from dabench.stats.derived import salvage

    return salvage(adapted, external, internal)


def _fraction(domain: str) -> float:
    for option in domain.split(",")[1:]:
        key, _, value = option.partition("=")
        if key == "fraction":
            return float(value)
    return 1.0


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pairs, strategies and domain spread (see the module docstring)."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        kind = _kind(record)
        if kind is not None:
            groups[kind].append(record)
    pairs = []
    for source in DOMAINS:
        for target in DOMAINS:
            if source == target:
                continue
            base = groups.get(("baseline", source, target), [])
            by_budget: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
            for record in groups.get(("adapted", source, target), []):
                by_budget[_iters(record)].append(record)
            adapted = by_budget[max(by_budget)] if by_budget else []
            row: dict[str, Any] = {"source": source, "target": target, "gan_iters": max(by_budget, default=None)}
            row["internal"] = _estimate(base, "source")
            row["external"] = _estimate(base, "target")
            row["adapted"] = _estimate(adapted, "target")
            row["budget_curve"] = budget.curve(by_budget, _estimate, row["external"])
            row["ceiling"] = _estimate(groups.get(("baseline", target, target), []), "target")
            row["accuracy"] = _accuracy_row(base, adapted)
            if not any(row[k] for k in ("internal", "external", "adapted")):
                continue
            have = row["internal"] and row["external"] and row["adapted"]
            row["salvage"] = (
                _salvage(row["adapted"]["value"], row["external"]["value"], row["internal"]["value"]) if have else None
            )
            row["separated"] = budget.separated(row["external"], row["adapted"])
            retention = [r.get("training", {}).get("semantic_retention") for r in adapted]
            retention = [float(v) for v in retention if isinstance(v, int | float)]
            row["semantic_retention"] = statistics.fmean(retention) if retention else None
            row["external_retention"] = _accuracy_ratio(base)
            row["gan_losses_final"] = _final_losses(adapted)
            pairs.append(row)
    salvages = [p["salvage"] for p in pairs if isinstance(p["salvage"], float) and math.isfinite(p["salvage"])]
    return {
        "metric": METRIC,
        "pairs": pairs,
        "salvage_mean": statistics.fmean(salvages) if salvages else None,
        "salvage_median": statistics.median(salvages) if salvages else None,
        "strategies": _strategies(pairs, groups),
        "domain_spread": _spread(groups),
        "paper": PAPER,
        "paper_domain_spread": {str(k): v for k, v in PAPER_SPREAD.items()},
    }


def _accuracy_row(base: Sequence[Mapping[str, Any]], adapted: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Top-1 accuracy on the target of the unadapted (external) and the adapted model, Δ and separation: the
    decision the paper's AUC does not show (AUC ranks each class's scores; accuracy takes the arg-max)."""
    external, fine_tuned = _estimate(base, "target", ACCURACY), _estimate(adapted, "target", ACCURACY)
    if external is None and fine_tuned is None:
        return None
    delta = fine_tuned["value"] - external["value"] if external and fine_tuned else None
    return {
        "external": external,
        "adapted": fine_tuned,
        "delta": delta,
        "separated": budget.separated(external, fine_tuned),
    }


def _accuracy_ratio(runs: Sequence[Mapping[str, Any]]) -> float | None:
    """F_S's accuracy on the real target test split over its accuracy on the source test split (mean over seeds):
    what the semantic retention would be for translations indistinguishable from the target, F_S's own shift."""
    ratios = []
    for run in runs:
        metrics = run.get("metrics") or {}
        source = (metrics.get("source") or {}).get("accuracy", {}).get("value")
        target = (metrics.get("target") or {}).get("accuracy", {}).get("value")
        if isinstance(source, int | float) and isinstance(target, int | float) and source > 0:
            ratios.append(float(target) / float(source))
    return statistics.fmean(ratios) if ratios else None


def _final_losses(runs: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """The last recorded value of each GAN loss, averaged over seeds (None when no run reported losses)."""
    finals: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for name, history in (run.get("training", {}).get("gan_losses") or {}).items():
            if name == "iteration":  # the x axis of the history, not a loss
                continue
            values = [v for v in history if isinstance(v, int | float)]
            if values:
                finals[name].append(float(values[-1]))
    return {k: statistics.fmean(v) for k, v in sorted(finals.items())} or None


def _strategies(pairs: Sequence[Mapping[str, Any]], groups: Mapping[tuple[str, str, str], Any]) -> list[dict]:
    """Per target domain, Fig 1A's four deployment strategies: local (a model of another domain, unadapted: mean
    external), bespoke (its own model: the ceiling), global (one model on every domain, all data), adapted (a model
    of another domain adapted to it: mean adapted)."""
    global_runs = [
        r for (kind, dom, _), runs in groups.items() if kind == "global" and _fraction(dom) == 1.0 for r in runs
    ]
    rows = []
    for target in DOMAINS:
        mine = [p for p in pairs if p["target"] == target]

        def mean_of(key: str, rows_: Sequence[Mapping[str, Any]] = mine) -> float | None:
            values = [p[key]["value"] for p in rows_ if p.get(key)]
            return statistics.fmean(values) if values else None

        glob = _estimate(global_runs, target)
        ceiling = next((p["ceiling"]["value"] for p in mine if p.get("ceiling")), None)
        rows.append(
            {
                "target": target,
                "local": mean_of("external"),
                "bespoke": ceiling,
                "global": glob["value"] if glob else None,
                "adapted": mean_of("adapted"),
            }
        )
    return rows


def _spread(groups: Mapping[tuple[str, str, str], list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    from dabench.stats.derived import domain_spread

    by_fraction: dict[float, list[Mapping[str, Any]]] = defaultdict(list)
    for (kind, domain, _), runs in groups.items():
        if kind == "global":
            by_fraction[_fraction(domain)].extend(runs)
    rows = []
    for fraction in sorted(by_fraction):
        runs = by_fraction[fraction]
        per_domain = {d: (_estimate(runs, d) or {}).get("value", math.nan) for d in DOMAINS}
        seeds = [
            domain_spread({d: r["metrics"][d][METRIC]["value"] for d in DOMAINS if d in r["metrics"]}, scale=100)
            for r in runs
        ]
        rows.append(
            {
                "fraction": fraction,
                "per_domain": per_domain,
                "pooled": (_estimate(runs, "pooled") or {}).get("value"),
                "spread": domain_spread(per_domain, scale=100),
                "spread_per_seed": seeds,
                "paper_spread": PAPER_SPREAD.get(fraction),
            }
        )
    return rows


def analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: Any) -> list[Path]:
    """Write ``deployment.md``, ``deployment.json`` and the domain-spread figure under ``out_dir``."""
    from dabench.stats.precision import published_json
    from dabench_stargan_study.deployment_report import markdown, spread_figure

    summary = summarise(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "deployment.md", out_dir / "deployment.json"
    md.write_text(markdown(summary, getattr(ctx, "command", "")))
    js.write_text(published_json(summary))
    written = [md, js]
    if summary["domain_spread"]:
        written += list(spread_figure(summary["domain_spread"], out_dir / "domain_spread"))
    curve = budget.figure(summary["pairs"], out_dir / "budget_curve")
    if curve is not None:
        written += list(curve)
    return written
