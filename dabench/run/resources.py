"""Cluster resources of a sweep: what one array task asks the scheduler for (``--executor slurm``).

A sweep file's ``[resources]`` table sets the defaults and ``[resources.<method>]`` overrides them for one method
(validated by :mod:`dabench.run.sweepfile`); the command line (``--partition``, ``--time``, ``--mem``,
``--gpus-per-task``, ``--cpus-per-task``) overrides the file's defaults, and a method's own table wins over both —
the most specific setting wins. Unset fields fall back to :data:`DEFAULTS`. Specs whose resources are equal run in
one job array.

Fields: ``partition`` (string), ``time`` (minutes, integer >= 1), ``mem`` (GB, number > 0), ``gpus_per_task``
(integer >= 0), ``cpus_per_task`` (integer >= 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from dabench.errors import DabenchError, SpecError, did_you_mean

if TYPE_CHECKING:
    from dabench.registry import Registry

RESOURCE_KEYS = ("partition", "time", "mem", "gpus_per_task", "cpus_per_task")
_EXAMPLES = {"partition": '"gpu"', "time": "60", "mem": "16", "gpus_per_task": "1", "cpus_per_task": "4"}


@dataclass(frozen=True)
class Resources:
    """What one array task asks for; ``None`` means "not set here" (a lower layer or the default decides)."""

    partition: str | None = None
    time: int | None = None
    mem: float | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None

    def over(self, base: Resources) -> Resources:
        """These settings, falling back to ``base`` for the fields not set here."""
        return replace(
            base, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        )

    def describe(self) -> str:
        """``partition gpu, 60 min, 16 GB, 1 GPU, 4 CPUs`` (set fields only)."""
        parts = [
            f"partition {self.partition}" if self.partition is not None else "",
            f"{self.time} min" if self.time is not None else "",
            f"{self.mem:g} GB" if self.mem is not None else "",
            f"{self.gpus_per_task} GPU" if self.gpus_per_task is not None else "",
            f"{self.cpus_per_task} CPUs" if self.cpus_per_task is not None else "",
        ]
        return ", ".join(p for p in parts if p) or "scheduler defaults"


DEFAULTS = Resources(time=60, mem=8.0, gpus_per_task=0, cpus_per_task=1)


@dataclass(frozen=True)
class SweepResources:
    """A sweep file's ``[resources]`` (``default``) and ``[resources.<method>]`` tables (``per_method``, as
    sorted (method, resources) pairs)."""

    default: Resources = Resources()
    per_method: tuple[tuple[str, Resources], ...] = ()

    def for_method(self, method: str, command_line: Resources = Resources()) -> Resources:
        """The resources of one method's specs: its own table over the command line over the file's defaults over
        :data:`DEFAULTS`."""
        own = dict(self.per_method).get(method, Resources())
        return own.over(command_line.over(self.default.over(DEFAULTS)))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for resource ``key`` (a phrase for an error message), or None when it is
    valid. ``key`` must be one of :data:`RESOURCE_KEYS`."""
    if key == "partition":
        ok = isinstance(value, str) and bool(value.strip()) and not any(c.isspace() for c in value)
        want = "a partition name (a non-empty string without spaces)"
    elif key == "time":
        ok = _is_int(value) and value >= 1
        want = "whole minutes, an integer >= 1"
    elif key == "mem":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
        want = "gigabytes, a number > 0"
    elif key == "gpus_per_task":
        ok = _is_int(value) and value >= 0
        want = "an integer >= 0"
    else:
        ok = _is_int(value) and value >= 1
        want = "an integer >= 1"
    return None if ok else f"must be {want}, e.g. {key} = {_EXAMPLES[key]}"


class ResourceError(SpecError):
    """A mistake in a sweep file's resources: ``path`` is the key path (``resources.dann.time``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _got(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return f"got {value!r} ({kinds.get(type(value), type(value).__name__)})"


def _values(path: str, table: Mapping[str, Any]) -> Resources:
    """A :class:`Resources` from one table, every key and value checked."""
    unknown = [key for key in table if key not in RESOURCE_KEYS]
    if unknown:
        hint = did_you_mean(unknown[0], RESOURCE_KEYS) if len(unknown) == 1 else ""
        shown = ", ".join(repr(key) for key in unknown)
        raise ResourceError(
            path, f"unknown resources keys: {shown}.{hint} Valid keys in [{path}]: {', '.join(RESOURCE_KEYS)}."
        )
    for key, value in table.items():
        wrong = problem(key, value)
        if wrong is not None:
            raise ResourceError(f"{path}.{key}", f"{wrong}; {_got(value)}.")
    values = dict(table)
    if "mem" in values:
        values["mem"] = float(values["mem"])
    return Resources(**values)


def parse_resources(table: Mapping[str, Any], in_grid: Sequence[str], registry: Registry) -> SweepResources:
    """A sweep file's ``[resources]`` table (``[resources.<method>]`` sub-tables for methods of ``in_grid``)."""
    per_method: dict[str, Resources] = {}
    for key, item in table.items():
        if not isinstance(item, dict):
            continue
        where = f"resources.{key}"
        if key not in in_grid:
            try:
                registry.methods.get(key)
            except DabenchError as exc:
                raise ResourceError(where, str(exc)) from None
            runs = ", ".join(dict.fromkeys(in_grid))
            raise ResourceError(where, f"sets resources of method {key!r}, which no grid runs (grid methods: {runs}).")
        per_method[key] = _values(where, item)
    defaults = _values("resources", {k: v for k, v in table.items() if not isinstance(v, dict)})
    return SweepResources(defaults, tuple(sorted(per_method.items())))
