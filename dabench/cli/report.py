"""``dabench leaderboard`` and ``dabench analyze``: records -> markdown tables, analyses and figures."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from dabench.cli.common import load_registry, out
from dabench.errors import SpecError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``leaderboard`` and ``analyze``."""
    board = sub.add_parser("leaderboard", help="write a markdown leaderboard from a result store")
    board.add_argument("--store", type=Path, default=Path("runs"))
    board.add_argument("--out", type=Path, help="write to this file (default: print)")
    board.add_argument("--title", default="dabench leaderboard")

    analyze = sub.add_parser("analyze", help="DANN-study analysis of dann4 records: decomposition, fits, plots")
    analyze.add_argument("--store", type=Path, default=Path("runs"))
    analyze.add_argument("--out", type=Path, required=True, help="folder for analysis.md, analysis.json and plots")
    analyze.add_argument("--metric", default="accuracy")

    board.set_defaults(func=cmd_leaderboard)
    analyze.set_defaults(func=cmd_analyze)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from dabench.report import leaderboard
    from dabench.run.store import ResultStore

    if not args.store.is_dir():
        raise SpecError(f"result store {str(args.store)!r} does not exist: run 'dabench run ... --store DIR' first.")
    registry = load_registry()
    directions = {m.name: m.higher_is_better for m in registry.metrics}
    citations = {m.name: m.paper.short() for m in registry.methods}
    bounds = {m.name: m.bounds for m in registry.metrics}
    command = "dabench leaderboard --store " + shlex.quote(str(args.store))
    if args.out:
        command += " --out " + shlex.quote(str(args.out))
    if args.title != "dabench leaderboard":
        command += " --title " + shlex.quote(args.title)
    scan = ResultStore(args.store).scan()
    unreadable = [_relative(path, args.store) for path in scan.unreadable]
    text = leaderboard.render(
        scan.records,
        directions=directions,
        citations=citations,
        bounds=bounds,
        command=command,
        title=args.title,
        unreadable=unreadable,
    )
    if unreadable:
        from dabench.cli.common import err

        err(
            f"warning: {len(unreadable)} unreadable record(s) in {args.store} left out of the leaderboard "
            f"({', '.join(unreadable[:5])}{', ...' if len(unreadable) > 5 else ''}); re-run the sweep that wrote "
            "the store: it re-runs them."
        )
    if args.out:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(args.out.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.out)
        except OSError as exc:
            raise SpecError(f"cannot write {str(args.out)!r}: {exc.strerror or exc}.") from None
        out(f"wrote {args.out}")
    else:
        out(text)
    return 0


def _relative(path: Path, store: Path) -> str:
    """``records/ab/abcd….json``: a record path relative to its store (as given when it is elsewhere)."""
    try:
        return str(path.relative_to(store))
    except ValueError:
        return str(path)


def registry_bounds(metric: str) -> tuple[float, float]:
    """The metric's range (for clipping plotted intervals); unbounded when the metric is not registered."""
    registry = load_registry()
    return registry.metrics.get(metric).bounds if metric in registry.metrics else (-float("inf"), float("inf"))


def cmd_analyze(args: argparse.Namespace) -> int:
    import json
    import re

    from dabench import analysis, analysis_report, plots
    from dabench.run.store import ResultStore

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
        out(f"wrote {path}")
    return 0
