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
        self.kind, self.name, self.plugins = kind, name, names
        super().__init__(
            f"{kind} {name!r} is registered by more than one plugin: {', '.join(names)}; none of them is used. "
            f"Rename one of them, or block a plugin with DABENCH_BLOCK_PLUGINS=<name> "
            f"(e.g. DABENCH_BLOCK_PLUGINS={names[-1]}); 'dabench plugins' lists every conflict."
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
        self.step, self.total, self.detail = step, total, message
        where = f"diverged at step {step} of {total}: " if step is not None and total is not None else "diverged: "
        super().__init__(where + message)


def closest_name(name: str, valid: Iterable[str]) -> str | None:
    """The valid name a user most likely meant by ``name``, or None.

    In order: a case-insensitive exact match; a valid name that starts with ``name`` (an abbreviation: ``acc`` ->
    ``accuracy``; the shortest wins); a valid name with a ``_``-separated word that starts with ``name`` (``f1`` ->
    ``macro_f1``); else the closest spelling (``difflib``, similarity >= 0.6)."""
    names = sorted(set(valid))
    text = name.strip().lower()
    if not text:
        return None
    exact = [v for v in names if v.lower() == text]
    prefixed = sorted((v for v in names if v.lower().startswith(text)), key=len)
    worded = sorted((v for v in names if any(w.startswith(text) for w in v.lower().split("_"))), key=len)
    for candidates in (exact, prefixed, worded):
        if candidates:
            return candidates[0]
    matches = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the name the user most likely meant (:func:`closest_name`), or ``""``."""
    match = closest_name(name, valid)
    return f" Did you mean {match!r}?" if match is not None and match != name else ""
