"""``dabench data list|verify|fetch``: where each dataset's files are, checksums, and explicit downloads."""

from __future__ import annotations

import argparse

from dabench.cli.common import err, load_registry, out, resolve_data_root


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data`` and its actions."""
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
    data.set_defaults(func=cmd_data)


def cmd_data(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from dabench.run import datafiles

    registry = load_registry()
    root = resolve_data_root(args.data_root)
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
        out(tabulate(rows, headers=["dataset", "looks in", "files", "status"], tablefmt="github"))
        return 0
    spec = registry.datasets.get(args.name)
    if args.data_command == "verify":
        checks = datafiles.verify_dataset(spec, root)
    else:

        def progress(path: str, done: int, total: int | None) -> None:
            if total and done == total:
                out(f"  {path}: {done} bytes")

        checks = datafiles.fetch_dataset(spec, root, progress=progress)
    rows = [[c.file.path, c.status, c.message] for c in checks]
    out(tabulate(rows, headers=["file", "status", "note"], tablefmt="github"))
    bad = [c for c in checks if not c.good]
    if bad:
        err(
            f"error: {len(bad)} file(s) of {spec.name!r} are missing or do not match their published checksums; "
            "see the notes above."
        )
        return 2
    return 0
