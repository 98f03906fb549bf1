"""``dabench advise --method M --dataset D --target T``: will adapting with M help on this target, and by how much?

Trains (or loads from the store) the source-only model with every benefit predictor, computes them on the target's
unlabelled images, and applies the maps of the predictor that validated best held out (lowest decision regret over
every published evaluation of M for the task type: ``evaluation.json`` files written by ``dabench predictors
evaluate``). Prints the predicted target score and benefit with intervals (from that predictor's held-out errors),
the recommendation, and how well the predictor validated and where. Exit 2 when no validated predictor exists for
the task type and method.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.cli.common import count, load_registry, out, resolve_data_root
from dabench.errors import SpecError

DEFAULT_VALIDATION = Path("leaderboards")
LEVEL = "80 %"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("advise", help="predict, before adapting, whether a method will help on a target")
    p.add_argument("--method", required=True, help="the adaptation method you consider (e.g. adabn)")
    p.add_argument("--dataset", required=True, help="your labelled source dataset (NAME or NAME:DOMAIN)")
    p.add_argument("--target", help="the target dataset (unlabelled use only: its labels are never read)")
    p.add_argument("--shift", help="or a shift chain that makes the target from the dataset, e.g. gaussian_blur:1.5")
    p.add_argument("--seed", type=count, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a source_only parameter")
    p.add_argument(
        "--validation",
        type=Path,
        action="append",
        help="evaluation.json files or folders holding them (default: every one under ./leaderboards)",
    )
    p.add_argument("--store", type=Path, default=Path("runs"), help="result store (default: runs)")
    p.add_argument("--data-root", help="folder with the datasets (default: $DABENCH_DATA)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_advise)


@dataclass(frozen=True)
class Validated:
    """One published evaluation of one predictor: where it comes from and its held-out result."""

    path: Path
    scheme: str
    stores: tuple[str, ...]
    result: Any
    controls: dict[str, float | None]


def find_evaluations(paths: list[Path], method: str, task_type: str) -> list[Validated]:
    """Every predictor result of ``method`` for ``task_type`` in the evaluation files under ``paths``."""
    from dabench.predictors.evaluation import Evaluation

    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("evaluation.json")) if path.is_dir() else [path] if path.exists() else []
    found: list[Validated] = []
    for file in files:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("method") != method or task_type not in doc.get("task_types", []):
            continue
        for scheme, data in doc.get("evaluations", {}).items():
            evaluation = Evaluation.from_json(data)
            controls = {c.name: c.regret_pp for c in evaluation.controls}
            for result in evaluation.predictors:
                if result.final is not None and result.regret_pp is not None:
                    found.append(Validated(file, scheme, tuple(doc.get("stores", [])), result, controls))
    return found


def maximal(found: list[Validated]) -> list[Validated]:
    """The evaluations not contained in a larger one: a store's own evaluation is dropped when a pooled evaluation of
    the same scheme covers its store and more (its units would otherwise count twice)."""
    return [v for v in found if not any(w.scheme == v.scheme and set(v.stores) < set(w.stores) for w in found)]


def choose(found: list[Validated]) -> tuple[str, list[Validated]]:
    """The predictor with the lowest mean held-out regret over the :func:`maximal` evaluations that scored it (ties:
    the higher mean Spearman ρ), and those rows."""
    by_name: dict[str, list[Validated]] = {}
    for v in maximal(found):
        by_name.setdefault(v.result.name, []).append(v)

    def rank(n: str) -> tuple[float, float, str]:
        rows = by_name[n]
        rho = [v.result.spearman for v in rows if v.result.spearman is not None]
        return statistics.mean(v.result.regret_pp for v in rows), -(statistics.mean(rho) if rho else -1.0), n

    name = min(by_name, key=rank)
    return name, by_name[name]


SCHEME_ORDER = ("leave_one_dataset_out", "external", "leave_one_shift_family_out")


def applied(rows: list[Validated]) -> Validated:
    """The evaluation whose final maps and held-out errors ``advise`` applies: the one with the most units (its maps
    are fitted on the most data); ties: the harder scheme (a new dataset before a new shift family)."""
    return max(
        rows, key=lambda v: (v.result.n_units, -SCHEME_ORDER.index(v.scheme) if v.scheme in SCHEME_ORDER else -9)
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _span(interval: tuple[float, float] | None, signed: bool = False) -> str:
    if interval is None:
        return "no interval (never held out)"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(interval[0])} to {f.format(interval[1])}"


def recommendation(method: str, interval: tuple[float, float] | None, epsilon: float, trusted: bool) -> str:
    """``adapt with M`` when the benefit's interval lies above ``epsilon``, ``no benefit expected`` when it lies at
    or below it, else (or when, held out, the predictor did worse than the better of always and never adapting:
    not ``trusted``) ``uncertain``."""
    if interval is None or not trusted:
        return "uncertain"
    if interval[0] > epsilon:
        return f"adapt with {method}"
    if interval[1] <= epsilon:
        return "no benefit expected"
    return "uncertain"


def cmd_advise(args: argparse.Namespace) -> int:
    from dabench.predictors.evaluation import predict
    from dabench.run.execution import execute
    from dabench.run.resolve import RunRequest, parse_set, resolve
    from dabench.run.store import ResultStore

    if not args.target and not args.shift:
        raise SpecError("advise needs a target: --target DATASET (a natural shift) or --shift CHAIN (e.g. noise:0.5).")
    registry = load_registry()
    dataset = registry.datasets.get(args.dataset.split(":")[0])
    registry.methods.get(args.method)  # unknown method: "did you mean"
    paths = args.validation or [DEFAULT_VALIDATION]
    found = find_evaluations(paths, args.method, dataset.task_type)
    if not found:
        raise SpecError(
            f"no validated benefit predictor for {dataset.task_type} and method {args.method!r} in "
            f"{', '.join(map(str, paths))}: evaluate one on a study store first (dabench predictors evaluate --store S "
            f"--method {args.method}; see sweeps/pred_*.toml), or point --validation at its evaluation.json."
        )
    name, rows = choose(found)
    request = RunRequest(
        method="source_only",
        dataset=args.dataset,
        target=args.target,
        shift=args.shift,
        params=parse_set(args.set),
        seed=args.seed,
        predictors=("all",),
        n_bootstrap=0,
    )
    spec = resolve(request, registry)
    store = ResultStore(args.store)
    store.ensure_writable()
    outcome = execute(spec, registry, store, data_root=resolve_data_root(args.data_root), device=args.device)
    record = outcome.record
    if record.get("status") != "ok":
        raise SpecError(f"the source-only run failed ({record.get('error')}); see {store.path(spec.key())}.")
    benefit = record["benefit_predictors"]
    values = benefit["domains"].get("target", {})
    source_value = next(iter(benefit["source"]["values"].values()))
    how = "loaded from" if outcome.status == "cached" else "trained now, stored in"
    out(f"source-only model {spec.key()[:12]} ({how} {args.store}); source {benefit['estimates']} {source_value:.3f}")
    best = applied(rows)
    epsilon = json.loads(best.path.read_text(encoding="utf-8"))["plan"]["epsilon"]
    if name not in values:
        raise SpecError(
            f"predictor {name!r} gave no value on this target ({benefit['skipped'].get(name, 'no value')})."
        )
    p = predict(best.result, values[name], source_value)
    out(f"predictor: {name} ({best.result.info.paper}), the best validated for {dataset.task_type} / {args.method}")
    out(f"predicted target {benefit['source']['metric']}: {p.target_score:.3f} ({LEVEL}: {_span(p.target_80)})")
    out(f"predicted benefit of {args.method}: {p.benefit:+.3f} ({LEVEL}: {_span(p.benefit_80, signed=True)})")
    controls = [v for v in (best.controls.get(c) for c in ("always_adapt", "never_adapt")) if v is not None]
    trusted = not controls or best.result.regret_pp <= min(controls)
    out(f"recommendation: {recommendation(args.method, p.benefit_80, epsilon, trusted)}")
    if not trusted:
        out("  (held out, this predictor did worse than always or never adapting, so its advice is not trusted)")
    out("how it validated (held out; regret = score lost vs the oracle choice):")
    for v in sorted(rows, key=lambda r: (r.scheme, str(r.path))):
        r = v.result
        ci = f"[{_fmt(r.spearman_ci[0])}, {_fmt(r.spearman_ci[1])}]" if r.spearman_ci else ""
        out(
            f"  {v.scheme} on {', '.join(v.stores)}: MAE {_fmt(r.mae_pp, 2)} pp, Spearman {_fmt(r.spearman)} {ci}, "
            f"AUROC {_fmt(r.auroc)}, regret {_fmt(r.regret_pp, 2)} pp (always adapt "
            f"{_fmt(v.controls.get('always_adapt'), 2)}, never {_fmt(v.controls.get('never_adapt'), 2)}), "
            f"{r.n_units} units ({v.path})"
        )
    return 0
