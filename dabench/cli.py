"""The ``dabench`` command line; the only module that prints.

Exit codes: 0 success; 1 unexpected error (short message; ``--debug`` shows the traceback); 2 bad input or data
(:class:`~dabench.errors.DabenchError`, or argparse usage errors).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dabench.errors import DabenchError, DataError, SpecError

if TYPE_CHECKING:
    from dabench.registry import Registry

KIND_NAMES = {
    "methods": "method",
    "datasets": "dataset",
    "shifts": "shift",
    "metrics": "metric",
    "validators": "validator",
}


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _data_root(value: str | None) -> Path | None:
    root = value or os.environ.get("DABENCH_DATA") or None
    if root is None:
        return None
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(
            f"data root {str(path)!r} does not exist or is not a directory: pass --data-root DIR "
            "(or set DABENCH_DATA) to the folder holding the datasets; see 'dabench data list'."
        )
    return path


def _registry() -> Registry:
    from dabench.registry import build_registry

    return build_registry()


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _floats(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SpecError(f"--test-intensities {text!r} must be comma-separated numbers, e.g. 0,0.5,1.") from None


def _parser() -> argparse.ArgumentParser:
    from dabench import __version__

    parser = argparse.ArgumentParser(prog="dabench", description="Benchmark domain adaptation under data shift.")
    parser.add_argument("--version", action="version", version=f"dabench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one method on one dataset (cached by spec)")
    run.add_argument("--method", required=True)
    run.add_argument("--dataset", required=True, help="NAME or NAME:DOMAIN")
    run.add_argument("--target", help="target dataset (NAME or NAME:DOMAIN); default: the dataset itself")
    run.add_argument("--shift", help="shift chain applied to the target, e.g. noise:0.8 or noise:0.8+blur:3")
    run.add_argument("--intensity", type=_float, help="intensity for a single --shift given without ':X'")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a method parameter")
    run.add_argument("--metrics", help="comma-separated metric names (default: all for the task type)")
    run.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap replicates for intervals (0: none)")
    run.add_argument("--interval", default="percentile", choices=["percentile", "bca"], help="bootstrap interval")
    run.add_argument("--protocol", default="uda", help="uda (default) or dann4 (the DANN study's 4-dataset protocol)")
    run.add_argument("--da-dataset", help="dann4: dataset the DA sets C and D come from (default: --dataset)")
    run.add_argument("--da-shift", help="dann4: shift chain that makes D from C, e.g. noise:0.5")
    run.add_argument("--test-intensities", help="dann4: comma-separated test-shift intensities (default: the paper's)")
    _common_run_args(run)

    sweep = sub.add_parser("sweep", help="run a grid of runs from a TOML sweep file (resumable)")
    sweep.add_argument("file", type=Path)
    _common_run_args(sweep)

    lst = sub.add_parser("list", help="list registered components")
    lst.add_argument("kind", nargs="?", choices=sorted(KIND_NAMES), help="one kind (default: all)")

    sub.add_parser("plugins", help="show loaded, failed and blocked plugins")

    board = sub.add_parser("leaderboard", help="write a markdown leaderboard from a result store")
    board.add_argument("--store", type=Path, default=Path("runs"))
    board.add_argument("--out", type=Path, help="write to this file (default: print)")
    board.add_argument("--title", default="dabench leaderboard")

    analyze = sub.add_parser("analyze", help="DANN-study analysis of dann4 records: decomposition, fits, plots")
    analyze.add_argument("--store", type=Path, default=Path("runs"))
    analyze.add_argument("--out", type=Path, required=True, help="folder for analysis.md, analysis.json and plots")
    analyze.add_argument("--metric", default="accuracy")

    data = sub.add_parser("data", help="inspect, verify and fetch dataset files")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    for name, helptext in (
        ("list", "each dataset, where it looks, present or not"),
        ("verify", "check official files against published checksums"),
        ("fetch", "download official files (checksummed, resumable)"),
    ):
        action = data_sub.add_parser(name, help=helptext)
        if name != "list":
            action.add_argument("name")
        action.add_argument("--data-root", help="data folder (default: $DABENCH_DATA)")
    return parser


def _common_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N] (default: cpu)")
    parser.add_argument("--store", type=Path, default=Path("runs"), help="result store directory (default: runs)")
    parser.add_argument("--data-root", help="folder with the datasets (default: $DABENCH_DATA)")
    parser.add_argument("--force", action="store_true", help="re-run even when a completed record exists")


def cmd_run(args: argparse.Namespace) -> int:
    from dabench.execution import execute
    from dabench.resolve import RunRequest, parse_set, resolve
    from dabench.store import ResultStore

    registry = _registry()
    metrics = tuple(m.strip() for m in args.metrics.split(",")) if args.metrics else None
    request = RunRequest(
        protocol=args.protocol,
        interval=args.interval,
        da_dataset=args.da_dataset,
        da_shift=args.da_shift,
        test_intensities=_floats(args.test_intensities),
        method=args.method,
        dataset=args.dataset,
        target=args.target,
        shift=args.shift,
        intensity=args.intensity,
        params=parse_set(args.set),
        seed=args.seed,
        metrics=metrics,
        n_bootstrap=args.n_bootstrap,
    )
    spec = resolve(request, registry)
    data_root = _data_root(args.data_root)
    store = ResultStore(args.store)
    store.ensure_writable()
    from dabench.runner import resolve_device

    resolve_device(args.device)
    outcome = execute(spec, registry, store, data_root=data_root, device=args.device, force=args.force)
    if outcome.status == "cached":
        _out(f"cache hit: {spec.key()[:12]} already completed in {args.store} (skipped; --force re-runs it)")
    _print_record(outcome.record)
    if outcome.status == "failed":
        _err(f"error: run failed: {outcome.record['error']} (recorded as failed in {store.path(spec.key())})")
        return 1
    _out(f"record: {store.path(spec.key())}")
    return 0


def _print_record(record: dict[str, Any]) -> None:
    from tabulate import tabulate

    from dabench.leaderboard import setting_of

    protocol, dataset, target, shift = setting_of(record)
    spec = record["spec"]
    _out(
        f"{spec['method']['name']} on {dataset} → {target if target != '-' else dataset} (shift {shift}, "
        f"protocol {protocol}, seed {spec['seed']})"
    )
    if record.get("status") != "ok":
        return
    rows = []
    for domain, metrics in record["metrics"].items():
        for name, est in metrics.items():
            rows.append([domain, name, f"{est['value']:.4f}", f"[{est['low']:.4f}, {est['high']:.4f}]"])
        for name, value in record.get("validators", {}).get(domain, {}).items():
            rows.append([domain, f"{name} (validator)", f"{value:.4f}", ""])
    _out(tabulate(rows, headers=["domain", "metric", "value", "95% CI"], tablefmt="github", disable_numparse=True))
    timings = record.get("timings", {})
    _out(f"time: {timings.get('total_s', 0):.1f} s (fit {timings.get('fit_s', 0):.1f} s)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from dabench.runner import resolve_device
    from dabench.store import ResultStore
    from dabench.sweep import Progress, load_sweep, run_sweep

    registry = _registry()
    sweep = load_sweep(args.file, registry)
    data_root = _data_root(args.data_root)
    store = ResultStore(args.store)
    store.ensure_writable()
    resolve_device(args.device)
    _out(f"sweep {sweep.name}: {len(sweep.specs)} runs → {args.store}")

    def report(p: Progress) -> None:
        acc = p.outcome.record.get("metrics", {}).get("target", {}).get("accuracy", {}).get("value")
        extra = f" target acc {acc:.3f}" if acc is not None else ""
        if p.outcome.status == "failed":
            extra = f" FAILED: {p.outcome.record.get('error', '')[:200]}"
        spec = p.spec
        _out(
            f"[{p.index}/{p.total}] {p.outcome.status:6s} {spec.method.name} {spec.dataset.label()} "
            f"{spec.shift_label()} seed={spec.seed}{extra} | elapsed {p.elapsed_s:.0f}s, ETA {p.eta_s:.0f}s"
        )

    outcomes = run_sweep(
        sweep, registry, store, data_root=data_root, device=args.device, force=args.force, on_progress=report
    )
    failed = sum(o.status == "failed" for o in outcomes)
    cached = sum(o.status == "cached" for o in outcomes)
    _out(f"done: {len(outcomes) - failed - cached} ran, {cached} cached, {failed} failed")
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    registry = _registry()
    kinds = [args.kind] if args.kind else sorted(KIND_NAMES)
    for kind in kinds:
        table = registry.table(KIND_NAMES[kind])
        _out(f"{kind}:")
        for name in table.names():
            spec = table.get(name)
            _out(f"  {name:<18} [{table.providers[name]}] {getattr(spec, 'description', '')}")
    _report_failures(registry)
    return 0


def _report_failures(registry: Registry) -> None:
    for info in registry.plugins:
        if info.status == "failed":
            _err(f"warning: plugin {info.name!r} failed to load: {info.error} (see 'dabench plugins')")


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    registry = _registry()
    rows = [[p.name, p.status, p.module, f"{p.distribution} {p.version}".strip(), p.error] for p in registry.plugins]
    _out(tabulate(rows, headers=["plugin", "status", "module", "distribution", "error"], tablefmt="github"))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from dabench import leaderboard
    from dabench.store import ResultStore

    if not args.store.is_dir():
        raise SpecError(f"result store {str(args.store)!r} does not exist: run 'dabench run ... --store DIR' first.")
    registry = _registry()
    directions = {m.name: m.higher_is_better for m in registry.metrics}
    citations = {m.name: m.paper.short() for m in registry.methods}
    bounds = {m.name: m.bounds for m in registry.metrics}
    command = "dabench leaderboard --store " + shlex.quote(str(args.store))
    if args.out:
        command += " --out " + shlex.quote(str(args.out))
    if args.title != "dabench leaderboard":
        command += " --title " + shlex.quote(args.title)
    text = leaderboard.render(
        ResultStore(args.store).records(),
        directions=directions,
        citations=citations,
        bounds=bounds,
        command=command,
        title=args.title,
    )
    if args.out:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(args.out.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.out)
        except OSError as exc:
            raise SpecError(f"cannot write {str(args.out)!r}: {exc.strerror or exc}.") from None
        _out(f"wrote {args.out}")
    else:
        _out(text)
    return 0


def registry_bounds(metric: str) -> tuple[float, float]:
    """The metric's range (for clipping plotted intervals); unbounded when the metric is not registered."""
    registry = _registry()
    return registry.metrics.get(metric).bounds if metric in registry.metrics else (-float("inf"), float("inf"))


def cmd_analyze(args: argparse.Namespace) -> int:
    import json
    import re

    from dabench import analysis, analysis_report, plots
    from dabench.store import ResultStore

    if not args.store.is_dir():
        raise SpecError(f"result store {str(args.store)!r} does not exist: run a dann4 sweep into it first.")
    records = [r for r in ResultStore(args.store).records() if r.get("spec", {}).get("protocol") == "dann4"]
    if not records:
        raise SpecError(f"no dann4 records in {str(args.store)!r}: the analysis needs the DANN study's protocol.")
    decompositions = analysis.decompose(records, metric=args.metric)
    fits = analysis.fit_all(decompositions)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "analysis.md").write_text(analysis_report.to_markdown(decompositions, fits))
        (args.out / "analysis.json").write_text(
            json.dumps(analysis_report.to_json(decompositions, fits), indent=1, sort_keys=True, allow_nan=False) + "\n"
        )
    except OSError as exc:
        raise SpecError(f"cannot write to {str(args.out)!r}: {exc.strerror or exc}.") from None
    written = [args.out / "analysis.md", args.out / "analysis.json"]
    curves = analysis.accuracy_curves(records, metric=args.metric)
    if curves:
        bounds = registry_bounds(args.metric)
        written += plots.plot_accuracy_curves(
            curves, args.out / "accuracy_vs_test_intensity", metric=args.metric, bounds=bounds
        )
    for d in decompositions:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{d.method}_{d.dataset}_{d.da_dataset}_{d.test_shift}").strip("_")
        if len(d.da_intensities) >= 2 and len(d.test_intensities) >= 2:
            written += plots.plot_gain_heatmap(d, args.out / f"gain_heatmap_{stem}")
            fit = next((f["gain"] for dd, f in zip(decompositions, fits, strict=True) if dd is d), None)
            written += plots.plot_gain_surface(d, args.out / f"gain_surface_{stem}", fit=fit)
    from dabench.domain_groups import per_domain_groups

    boxes = per_domain_groups(records, metric=args.metric, intensity=max(records[0]["spec"]["test_intensities"]))
    if boxes:
        written += plots.plot_domain_boxplots(boxes, args.out / "accuracy_per_colour_domain", metric=args.metric)
    for path in written:
        _out(f"wrote {path}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from dabench import datafiles

    registry = _registry()
    root = _data_root(args.data_root)
    if args.data_command == "list":
        rows = []
        for spec in registry.datasets:
            if not spec.folder:
                rows.append([spec.name, "(embedded or generated)", "-", "always available"])
                continue
            where = str(root / spec.folder) if root else f"$DABENCH_DATA/{spec.folder}"
            statuses = datafiles.dataset_status(spec, root) if root else []
            present = sum(s.present for s in statuses)
            required = [s for s in statuses if not s.file.optional]
            state = (
                "no data root set"
                if root is None
                else (
                    "present"
                    if required and all(s.present for s in required)
                    else "present (folder)"
                    if not required and (root / spec.folder).exists()
                    else "missing"
                )
            )
            rows.append([spec.name, where, f"{present}/{len(statuses)}", state])
        _out(tabulate(rows, headers=["dataset", "looks in", "files", "status"], tablefmt="github"))
        return 0
    spec = registry.datasets.get(args.name)
    if args.data_command == "verify":
        checks = datafiles.verify_dataset(spec, root)
    else:

        def progress(path: str, done: int, total: int | None) -> None:
            if total and done == total:
                _out(f"  {path}: {done} bytes")

        checks = datafiles.fetch_dataset(spec, root, progress=progress)
    rows = [[c.file.path, c.status, c.message] for c in checks]
    _out(tabulate(rows, headers=["file", "status", "note"], tablefmt="github"))
    bad = [c for c in checks if not c.good]
    if bad:
        _err(
            f"error: {len(bad)} file(s) of {spec.name!r} are missing or do not match their published checksums; "
            "see the notes above."
        )
        return 2
    return 0


COMMANDS = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "list": cmd_list,
    "plugins": cmd_plugins,
    "leaderboard": cmd_leaderboard,
    "data": cmd_data,
    "analyze": cmd_analyze,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dabench`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DabenchError as exc:
        if args.debug:
            traceback.print_exc()
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted: nothing was recorded for the run in progress")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a raw traceback unless --debug
        if args.debug:
            traceback.print_exc()
        _err(f"error: unexpected {type(exc).__name__}: {exc} (re-run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
