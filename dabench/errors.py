"""Errors that dabench raises on purpose, each with a message that says what to do next.

The CLI maps every :class:`DabenchError` to exit code 2 and one clear line on stderr.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DabenchError(Exception):
    """Base class of every error dabench raises deliberately."""


class SpecError(DabenchError):
    """A spec, parameter or command-line value is invalid."""


class UnknownComponentError(DabenchError):
    """A component name is not registered by any plugin."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid_sorted = sorted(valid)
        self.kind, self.name, self.valid = kind, name, valid_sorted
        hint = did_you_mean(name, valid_sorted)
        listing = ", ".join(valid_sorted) if valid_sorted else "(none registered)"
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Valid {kind}s: {listing}. "
            f"Run 'dabench list {kind}s' to see them with descriptions."
        )


class DuplicateNameError(DabenchError):
    """Two plugins register a component under the same name."""

    def __init__(self, kind: str, name: str, plugins: Iterable[str]) -> None:
        names = sorted(plugins)
        super().__init__(
            f"{kind} {name!r} is registered by more than one plugin: {', '.join(names)}. "
            "Rename one of them, or block a plugin with DABENCH_BLOCK_PLUGINS=<name>."
        )


class PluginLoadError(DabenchError):
    """A plugin's entry point could not be imported or registered."""


class DataError(DabenchError):
    """A dataset's files are missing, truncated, corrupt or in an unexpected format."""


class StoreError(DabenchError):
    """The result store cannot be read or written."""


class RunDiverged(Exception):  # noqa: N818 - a run outcome, recorded as ``failure = "diverged"``
    """A run's loss, parameters or outputs became non-finite. Not a user error: the run is recorded ``failed`` with
    ``failure = "diverged"`` and this message (``diverged at step k of n: ...``), never ``ok``."""

    def __init__(self, message: str, *, step: int | None = None, total: int | None = None) -> None:
        self.step, self.total = step, total
        where = f"diverged at step {step} of {total}: " if step is not None and total is not None else "diverged: "
        super().__init__(where + message)


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest valid name, or an empty string."""
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""
