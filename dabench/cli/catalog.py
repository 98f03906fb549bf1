"""``dabench list`` and ``dabench plugins``: what is registered, and which plugins loaded."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dabench.cli.common import err, load_registry, out

if TYPE_CHECKING:
    from dabench.registry import Registry

KIND_NAMES = {
    "methods": "method",
    "datasets": "dataset",
    "shifts": "shift",
    "metrics": "metric",
    "validators": "validator",
    "protocols": "protocol",
    "analyses": "analysis",
    "benefit_predictors": "benefit_predictor",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``list`` and ``plugins``."""
    lst = sub.add_parser("list", help="list registered components")
    lst.add_argument("kind", nargs="?", choices=sorted(KIND_NAMES), help="one kind (default: all)")

    sub.add_parser("plugins", help="show loaded, failed and blocked plugins").set_defaults(func=cmd_plugins)

    lst.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    registry = load_registry()
    kinds = [args.kind] if args.kind else sorted(KIND_NAMES)
    for kind in kinds:
        table = registry.table(KIND_NAMES[kind])
        out(f"{kind}:")
        for name in table.names():
            spec = table.get(name)
            out(f"  {name:<18} [{table.providers[name]}] {getattr(spec, 'description', '')}")
        for conflict in table.conflict_list():
            out(
                f"  {conflict.name:<18} [conflict: {', '.join(conflict.plugins)}] unusable until one plugin is "
                "blocked (DABENCH_BLOCK_PLUGINS=<name>) or renames it"
            )
    report_failures(registry)
    return 0


def report_failures(registry: Registry) -> None:
    """One stderr line per failed plugin, plugin warning and name conflict."""
    for info in registry.plugins:
        if info.status == "failed":
            err(f"warning: plugin {info.name!r} failed to load: {info.error} (see 'dabench plugins')")
        for warning in info.warnings:
            err(f"warning: plugin {info.name!r}: {warning}")
    for conflict in registry.conflicts():
        err(f"conflict: {conflict.error()}")


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    registry = load_registry()
    involved: dict[str, list[str]] = {}
    for conflict in registry.conflicts():
        for plugin in conflict.plugins:
            others = ", ".join(p for p in conflict.plugins if p != plugin)
            involved.setdefault(plugin, []).append(f"conflict: {conflict.kind} {conflict.name!r} also in {others}")
    rows = []
    for p in registry.plugins:
        problems = [p.error] if p.error else []
        problems += [f"warning: {w}" for w in p.warnings]
        status = p.status
        if p.status == "loaded" and p.name in involved:
            status, problems = "conflict", problems + involved.pop(p.name)
        rows.append([p.name, status, p.module, p.label(), p.code(), "; ".join(problems)])
    headers = ["plugin", "status", "module", "distribution", "code", "problems"]
    out(tabulate(rows, headers=headers, tablefmt="github"))
    for conflict in registry.conflicts():
        out(f"conflict: {conflict.error()}")
    return 0
