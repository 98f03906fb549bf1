"""Reading a sweep file's TOML values: every check names the file and the key path (``options.n_bootstrap``) and
shows the offending value with its TOML type. The format itself is :mod:`dabench.run.sweepfile`'s reference."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from dabench.errors import DabenchError, SpecError, closest_name, did_you_mean


class SweepFileError(SpecError):
    """A mistake in a sweep file; the message names the file and the key path."""


class SweepFile:
    """The file being read, for error messages."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, path: str, message: str) -> SweepFileError:
        where = f"sweep file {self.name!r}" + (f", {path}" if path else "")
        return SweepFileError(f"{where}: {message}")

    @contextlib.contextmanager
    def at(self, path: str) -> Iterator[None]:
        """Re-raise a :class:`DabenchError` from validation with the file and ``path`` in front."""
        try:
            yield
        except SweepFileError:
            raise
        except DabenchError as exc:
            raise self.error(path, str(exc)) from None


def show(value: Any) -> str:
    """A value and its TOML type, for messages: ``'lots' (a string)``."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    kind = "a table" if isinstance(value, dict) else kinds.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def table(file: SweepFile, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise file.error(path, f"must be a table ([{path}] with key = value lines); got {show(value)}.")
    return value


def check_keys(file: SweepFile, path: str, table: Mapping[str, Any], valid: Sequence[str]) -> None:
    """Every key of ``table`` must be one of ``valid``; the error lists the unknown ones with suggestions."""
    unknown = [key for key in table if key not in valid]
    if not unknown:
        return
    prefix = f"{path}." if path else ""
    shown = ", ".join(f"[{prefix}{k}]" if isinstance(table[k], dict) else repr(k) for k in unknown)
    if len(unknown) == 1:
        hint = did_you_mean(unknown[0], valid)
    else:
        pairs = [(k, closest_name(k, valid)) for k in unknown]
        hint = "".join(f" {k!r}: did you mean {m!r}?" for k, m in pairs if m is not None)
    label = "grid" if path.startswith("grid") else path or "top-level"
    inside = f" in [{path}]" if path else " at the top level"
    raise file.error(path, f"unknown {label} keys: {shown}.{hint} Valid keys{inside}: {', '.join(valid)}.")


def offender(key: str, value: Any, ok: Callable[[Any], bool]) -> str | None:
    """What is wrong with a list value, for messages (``got 3 (an integer)``, ``seed[0] is 1.5 (a number)``), or
    None when it is a list of good items."""
    if not isinstance(value, list):
        return f"got {show(value)}"
    bad = next((i for i, item in enumerate(value) if not ok(item)), None)
    return None if bad is None else f"{key}[{bad}] is {show(value[bad])}"


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def strings(file: SweepFile, path: str, table: Mapping[str, Any], key: str, *, example: str) -> list[str]:
    value = table.get(key, [])
    wrong = offender(key, value, lambda item: isinstance(item, str))
    if wrong is not None:
        raise file.error(f"{path}.{key}", f"must be a list of strings, e.g. {key} = [{example}]; {wrong}.")
    return list(value)
