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
    board.add_argument(
        "--selection",
        help="model-selection rules shown side by side for runs with checkpoints, e.g. last,snd,entropy,ensv,oracle",
    )

    analyze = sub.add_parser(
        "analyze", help="run every analysis that applies to a store's records (tables, fits, figures)"
    )
    analyze.add_argument("--store", type=Path, default=Path("runs"))
    analyze.add_argument("--out", type=Path, required=True, help="folder the analyses write their files to")
    analyze.add_argument("--metric", help="metric to analyse (default: each analysis's own, e.g. accuracy)")

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
    rules = [r.strip() for r in args.selection.split(",") if r.strip()] if args.selection else []
    validators = {v.name: v.higher_is_better for v in registry.validators}
    if rules:
        from dabench.run.selection import rules_valid

        rules_valid(rules, validators)
        command += " --selection " + shlex.quote(",".join(rules))
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
        protocols={p.name: p.description for p in registry.protocols},
    )
    if rules:
        from dabench.report.selection_table import render_selection

        section = render_selection(scan.records, rules, validators=validators, higher_is_better=directions)
        text = text.rstrip("\n") + "\n\n" + (section or "No record kept checkpoints (run with --checkpoint-every).\n")
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


def cmd_analyze(args: argparse.Namespace) -> int:
    """Run every registered analysis that applies to the store's records (``register_analyses``), each writing its
    files under ``--out``; none applies, or two write the same file, is an error."""
    from dabench.run.store import ResultStore
    from dabench.studyspecs import AnalysisContext

    if not args.store.is_dir():
        raise SpecError(f"result store {str(args.store)!r} does not exist: run a study's sweep into it first.")
    registry = load_registry()
    records = list(ResultStore(args.store).records())
    chosen = [a for a in registry.analyses if a.applies(records)]
    if not chosen:
        names = ", ".join(f"{a.name} ({a.description})" if a.description else a.name for a in registry.analyses)
        raise SpecError(
            f"no analysis applies to the {len(records)} record(s) in {str(args.store)!r}; installed analyses: "
            f"{names or '(none)'}. Run a study's sweep into the store first ('dabench list analyses')."
        )
    if args.metric is not None:
        registry.metrics.get(args.metric)  # an unknown metric: "did you mean" and the valid names
    command = f"dabench analyze --store {shlex.quote(str(args.store))} --out {shlex.quote(str(args.out))}"
    ctx = AnalysisContext(
        metric=args.metric,
        bounds={m.name: m.bounds for m in registry.metrics},
        higher_is_better={m.name: m.higher_is_better for m in registry.metrics},
        command=command + (f" --metric {shlex.quote(args.metric)}" if args.metric else ""),
    )
    written: dict[Path, str] = {}
    for analysis in chosen:
        for path in analysis.run(records, args.out, ctx):
            if path in written:
                raise SpecError(
                    f"analyses {written[path]!r} and {analysis.name!r} both write {str(path)!r}; block one plugin "
                    "(DABENCH_BLOCK_PLUGINS=<name>) or analyse into separate folders."
                )
            written[path] = analysis.name
    for path in written:
        out(f"wrote {path}")
    return 0
