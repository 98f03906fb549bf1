"""The ``dabench`` command line; the only layer that prints. One module per group of commands, each adding its
sub-parsers with ``register(sub)``.

Exit codes: 0 success; 1 unexpected error (short message; ``--debug`` shows the traceback); 2 bad input or data
(:class:`~dabench.errors.DabenchError`, or argparse usage errors).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from dabench.cli import catalog, data, report, run
from dabench.cli.common import err
from dabench.errors import DabenchError

COMMAND_MODULES = (run, catalog, report, data)


def build_parser() -> argparse.ArgumentParser:
    from dabench import __version__

    parser = argparse.ArgumentParser(prog="dabench", description="Benchmark domain adaptation under data shift.")
    parser.add_argument("--version", action="version", version=f"dabench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dabench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DabenchError as exc:
        if args.debug:
            traceback.print_exc()
        err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        err("interrupted: nothing was recorded for the run in progress")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a raw traceback unless --debug
        if args.debug:
            traceback.print_exc()
        err(f"error: unexpected {type(exc).__name__}: {exc} (re-run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
