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
    report_failures(registry)
    return 0


def report_failures(registry: Registry) -> None:
    for info in registry.plugins:
        if info.status == "failed":
            err(f"warning: plugin {info.name!r} failed to load: {info.error} (see 'dabench plugins')")


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    registry = load_registry()
    rows = [[p.name, p.status, p.module, f"{p.distribution} {p.version}".strip(), p.error] for p in registry.plugins]
    out(tabulate(rows, headers=["plugin", "status", "module", "distribution", "error"], tablefmt="github"))
    return 0
