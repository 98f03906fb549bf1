"""The ``dabench`` command line; the only layer that prints. One module per group of commands, each adding its
sub-parsers with ``register(sub)``.

Exit codes: 0 success; 1 unexpected error (short message; ``--debug`` shows the traceback); 2 bad input or data
(:class:`~dabench.errors.DabenchError`, or a usage error such as an unknown flag), always as one ``error: ...`` line
on stderr; 130 interrupted; 141 (128 + SIGPIPE, as a shell reports a process killed by a closed pipe) when stdout
was closed early, e.g. ``dabench list | head -1``: the rest of the output is dropped quietly, without a traceback.

``--debug`` is accepted before or after the command (``dabench --debug run ...`` or ``dabench run ... --debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from dabench.cli import advise, catalog, data, predictors, report, reproduce, run
from dabench.cli.common import err
from dabench.errors import DabenchError

COMMAND_MODULES = (run, catalog, report, data, reproduce, predictors, advise)
EXIT_BROKEN_PIPE = 141


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error:`` line (exit 2) that says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {one_line(message)} (see '{self.prog} --help')\n")


_LINE_BREAKS = {
    code: repr(chr(code))[1:-1] for code in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)
}


def one_line(text: str) -> str:
    """``text`` with every line-breaking character escaped (``\\n``, ``\\x1e``, ...), so that an error is always one
    line even when it quotes an argument that holds one."""
    return text.translate(_LINE_BREAKS)


def build_parser() -> argparse.ArgumentParser:
    from dabench import __version__

    parser = Parser(prog="dabench", description="Benchmark domain adaptation under data shift.")
    parser.add_argument("--version", action="version", version=f"dabench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    _add_debug_to_commands(parser)
    return parser


def _add_debug_to_commands(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after every (sub-)command too; absent there, it leaves the top-level value alone."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                command.add_argument(
                    "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors"
                )
                _add_debug_to_commands(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dabench`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed what to say
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args))
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except DabenchError as exc:
        if args.debug:
            traceback.print_exc()
        err(f"error: {one_line(str(exc))}")
        return 2
    except KeyboardInterrupt:
        err("interrupted: nothing was recorded for the run in progress")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a raw traceback unless --debug
        if args.debug:
            traceback.print_exc()
        err(f"error: unexpected {type(exc).__name__}: {one_line(str(exc))} (re-run with --debug for the traceback)")
        return 1


def _silence_stdout() -> None:
    """The reader of stdout went away: point stdout at the null device so that the interpreter's final flush does
    not fail again (and print 'Exception ignored ... BrokenPipeError')."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # no file descriptor (e.g. captured): no flush
        stdout = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stdout)
        finally:
            os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
