"""``dabench predictors evaluate``: score every benefit predictor of a study store held out, as its sweep declared
(:mod:`dabench.run.benefit_plan`), and publish a leaderboard, figures and the fitted maps that ``dabench advise``
applies (:mod:`dabench.cli.advise`)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from dabench.cli.common import err, load_registry, out
from dabench.errors import SpecError, StoreError

EVALUATION_FILE = "evaluation.json"
N_BOOT = 1000
SEED = 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``predictors evaluate``."""
    parser = sub.add_parser("predictors", help="benefit predictors: held-out evaluation of a study store")
    inner = parser.add_subparsers(dest="predictors_command", required=True, metavar="COMMAND")
    ev = inner.add_parser("evaluate", help="score every benefit predictor against a method's realised benefit")
    ev.add_argument("--store", type=Path, action="append", required=True, help="study store (repeat to pool stores)")
    ev.add_argument("--method", required=True, help="the adaptation method whose benefit is predicted")
    ev.add_argument("--method-params", default="", metavar="K=V,...", help="pick one variant of the method's runs")
    ev.add_argument(
        "--out", type=Path, help="output folder (default: STORE/predictors/METHOD; required with 2+ stores)"
    )
    ev.set_defaults(func=cmd_evaluate)
    register_compare(inner)


def parse_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError(f"--method-params {text!r}: write key=value pairs separated by commas, e.g. lambda_max=1.")
        pairs[key.strip()] = value.strip()
    return pairs


def predictor_infos(registry: Any) -> dict[str, Any]:
    from dabench.predictors.evaluation import PredictorInfo

    return {
        spec.name: PredictorInfo(estimates=spec.estimates, benefit_map=spec.benefit_map, paper=spec.paper.short())
        for spec in registry.benefit_predictors
    }


def store_units(store: Path, method: str, method_params: dict[str, str]) -> tuple[list[Any], list[str]]:
    """The store's units for ``method`` (and the join's notes); a missing store is a clear error."""
    from dabench.predictors.units import join_units
    from dabench.run.store import ResultStore

    if not (store / "records").is_dir():
        raise StoreError(f"{store} is not a result store (no records/ folder); run its sweep first (dabench sweep).")
    joined = join_units(list(ResultStore(store).records()), method, method_params=method_params or None)
    return list(joined.units), [f"{store}: {note}" for note in joined.notes]


def plans(stores: list[Path], method: str) -> list[Any]:
    from dabench.run.benefit_plan import PLAN_FILE, read_plan

    found = []
    for store in stores:
        plan = read_plan(store)
        if plan is None:
            raise StoreError(
                f"{store} declares no benefit-predictor plan ({store / PLAN_FILE}): held-out validation is declared in "
                "the sweep file's [predictors] table before anything runs (see sweeps/pred_digits.toml)."
            )
        if method not in plan.methods:
            raise SpecError(
                f"{store}'s plan predicts the benefit of {', '.join(plan.methods)}, not {method!r}; pick one of those."
            )
        found.append(plan)
    return found


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dabench.predictors import heldout
    from dabench.predictors.report import render_markdown, write_scatter
    from dabench.report.markdown import write_text
    from dabench.stats.precision import SIGNIFICANT_DIGITS, round_json

    stores: list[Path] = list(dict.fromkeys(args.store))
    if len(stores) > 1 and args.out is None:
        raise SpecError("several --store: give --out DIR for the pooled evaluation.")
    declared = plans(stores, args.method)
    schemes = [s for s in declared[0].validation if all(s in p.validation for p in declared)]
    epsilon = declared[0].epsilon
    registry = load_registry()
    infos = predictor_infos(registry)
    method_params = parse_pairs(args.method_params)
    units: list[Any] = []
    notes: list[str] = []
    for store in stores:
        more, why = store_units(store, args.method, method_params)
        units += more
        notes += why
    if not units:
        raise SpecError(
            f"no source-only record with benefit predictors matches a {args.method} record (same spec and seed) in "
            f"{', '.join(map(str, stores))}: run the study's sweep first."
        )
    present = {name for unit in units for name in unit.predictions}
    infos = {name: info for name, info in infos.items() if name in present}  # those of this task type that ran
    evaluations: dict[str, Any] = {}
    for scheme in schemes:
        if scheme == "external":
            fit_units: list[Any] = []
            for fit_store in declared[0].fit_on:
                more, why = store_units(Path(fit_store), args.method, method_params)
                fit_units += more
                notes += why
            evaluations[scheme] = heldout.evaluate_external(
                fit_units, units, infos, epsilon=epsilon, n_boot=N_BOOT, seed=SEED
            )
        elif len(heldout.fold_groups(units, scheme)) < 2:
            what = "datasets" if scheme == "leave_one_dataset_out" else "shift families"
            notes.append(f"{scheme} not evaluated: these units span one group only; pool stores of several {what}.")
        else:
            evaluations[scheme] = heldout.evaluate(
                units, infos, scheme=scheme, epsilon=epsilon, n_boot=N_BOOT, seed=SEED
            )
    folder = args.out if args.out is not None else stores[0] / "predictors" / args.method
    label = ", ".join(str(s) for s in stores)
    task_types = sorted({u.task_type for u in units})
    command = " ".join(
        ["predictors", "evaluate", *(f"--store {shlex.quote(str(s))}" for s in stores), "--method", args.method]
        + (["--method-params", shlex.quote(args.method_params)] if args.method_params else [])
        + ["--out", shlex.quote(str(folder))]
    )
    parts = [f"<!-- generated by dabench; do not edit -->\nRegenerate with: `dabench {command}`\n"]
    for scheme, evaluation in evaluations.items():
        title = f"Benefit predictors for {args.method} — {scheme.replace('_', ' ')}"
        extra = (f"maps fitted on {', '.join(declared[0].fit_on)}",) if scheme == "external" else ()
        parts.append(render_markdown(evaluation, title=title, store_label=label, method=args.method, notes=extra))
        write_scatter(evaluation, folder / "figures" / scheme)
    if notes:
        parts.append("## Left out\n\n" + "\n".join(f"- {n}" for n in sorted(set(notes))) + "\n")
    document = {
        "command": f"dabench {command}",
        "method": args.method,
        "method_params": method_params,
        "stores": [str(s) for s in stores],
        "task_types": task_types,
        "plan": declared[0].to_json(),
        "evaluations": {scheme: e.to_json() for scheme, e in evaluations.items()},
    }
    folder.mkdir(parents=True, exist_ok=True)
    rounded = round_json(document, SIGNIFICANT_DIGITS)
    write_text(
        folder / EVALUATION_FILE, json.dumps(rounded, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    )
    markdown = "\n".join(parts)
    write_text(folder / "leaderboard.md", markdown)
    out(markdown)
    out(f"written: {folder / 'leaderboard.md'}, {folder / EVALUATION_FILE}, {folder / 'figures'}")
    if not evaluations:
        err("warning: the stores' plans share no validation scheme; nothing was evaluated.")
    return 0


ESTIMATORS = ("atc_mc", "atc_ne", "doc", "average_confidence", "cot", "agreement")
"""The accuracy estimators the comparison table shows (their MAE needs no fitted calibration)."""


def register_compare(inner: argparse._SubParsersAction) -> None:
    cmp = inner.add_parser("compare", help="published accuracy-estimation errors beside dabench's held-out ones")
    cmp.add_argument("--published", type=Path, required=True, help="JSON list of published values (see the file)")
    cmp.add_argument(
        "--evaluations", type=Path, required=True, help="folder of predictor evaluations (*/evaluation.json)"
    )
    cmp.add_argument("--method", required=True, help="whose evaluations to read (MAE does not depend on it)")
    cmp.add_argument("--out", type=Path, required=True, help="markdown file to write")
    cmp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from dabench.predictors.evaluation import Evaluation
    from dabench.report.markdown import escape_inline, write_text

    try:
        published = json.loads(args.published.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"--published {args.published}: not a readable JSON list ({exc}).") from None
    headers = ["where", "validation", *ESTIMATORS, "best"]
    rows = []
    for item in published:
        cells = [f"{item['value']:.2f}" if item["predictor"] == name else "" for name in ESTIMATORS]
        rows.append([f"published: {escape_inline(item['setting'])}", escape_inline(item["source"]), *cells, ""])
    for file in sorted(args.evaluations.glob("*/evaluation.json")):
        doc = json.loads(file.read_text(encoding="utf-8"))
        if doc.get("method") != args.method or doc.get("task_types") != ["classification"]:
            continue  # segmentation estimates pixel accuracy, not the ranked Dice: not comparable
        for scheme, data in sorted(doc["evaluations"].items()):
            evaluation = Evaluation.from_json(data)
            mae = {r.name: r.mae_pp for r in evaluation.predictors if r.name in ESTIMATORS and r.mae_pp is not None}
            if not mae:
                continue
            best = min(mae, key=lambda n: (mae[n], n))
            cells = [f"{mae[n]:.2f}" if n in mae else "–" for n in ESTIMATORS]
            where = f"dabench: {', '.join(doc['stores'])} ({evaluation.n_units} units)"
            rows.append([escape_inline(where), scheme.replace("_", " "), *cells, f"{best} {mae[best]:.2f}"])
    command = (
        f"dabench predictors compare --published {shlex.quote(str(args.published))} --evaluations "
        f"{shlex.quote(str(args.evaluations))} --method {args.method} --out {shlex.quote(str(args.out))}"
    )
    text = (
        "<!-- generated by dabench; do not edit -->\n"
        f"Regenerate with: `{command}`\n\n"
        "# Accuracy estimation: published error beside dabench's held-out error\n\n"
        "Mean absolute error (pp) of each label-free accuracy estimator's target-accuracy estimate against the "
        "source-only model's realised target accuracy, per published classification evaluation (held-out units; "
        "these estimators fit nothing when the primary metric is accuracy, so the scheme only selects the units). "
        f"Published values from `{args.published.name}`.\n\n"
        + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )
    write_text(args.out, text)
    out(text)
    return 0
