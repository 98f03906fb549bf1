"""Sweep files: a TOML file expands into a grid of fully resolved run specs (nothing runs here; see
:mod:`dabench.sweep`).

File format::

    name = "digits_noise"
    [grid]                       # every combination runs
    method = ["source_only", "dann", "adabn"]
    dataset = ["digits"]
    target = []                  # optional; empty means the dataset itself
    shift = ["noise:0.8"]        # shift chains, as on the command line
    seed = [0, 1, 2]
    [grid.params]                # optional parameter axes, applied to methods that have the parameter
    lambda_max = [0.1, 1.0]
    [params]                     # fixed parameters for every method that has them
    epochs = 15
    [params.dann]                # fixed parameters for one method
    gamma = 10.0
    [options]
    protocol = "uda"
    n_bootstrap = 1000
    metrics = ["accuracy"]       # optional; default: every metric of the task type

For the DANN study's protocol (``protocol = "dann4"``) the grid also takes ``da_dataset`` and ``da_shift`` (shift
chains making D from C, e.g. ``["none", "noise:0.3"]``), ``shift`` names the test shift, and
``options.test_intensities`` lists where it is evaluated.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.errors import SpecError
from dabench.registry import Registry
from dabench.resolve import RunRequest, resolve
from dabench.specs import RunSpec

_GRID_KEYS = {"method", "dataset", "target", "shift", "seed", "params", "da_dataset", "da_shift"}


@dataclass(frozen=True)
class Sweep:
    name: str
    specs: tuple[RunSpec, ...]


def load_sweep(path: Path, registry: Registry) -> Sweep:
    """Parse and fully resolve a sweep file; any invalid entry is a :class:`SpecError` before anything runs."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"sweep file {str(path)!r} does not exist.") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"sweep file {str(path)!r} is not valid TOML: {exc}.") from None
    return Sweep(name=str(data.get("name", path.stem)), specs=tuple(expand(data, registry, str(path))))


def _list(grid: Mapping[str, Any], key: str, default: list[Any], where: str) -> list[Any]:
    value = grid.get(key, default)
    if not isinstance(value, list):
        raise SpecError(f"{where}: grid.{key} must be a list, e.g. {key} = [{default[0]!r}].")
    return value or default


def _params_for(method: str, defaults: Mapping[str, Any], fixed: Mapping[str, Any], axis: Mapping[str, Any]) -> dict:
    own = fixed.get(method, {}) if isinstance(fixed.get(method), dict) else {}
    shared = {k: v for k, v in fixed.items() if not isinstance(v, dict) and k in defaults}
    return {**shared, **{k: v for k, v in axis.items() if k in defaults}, **own}


def _check_param_names(
    registry: Registry, methods: list[str], fixed: Mapping[str, Any], axes: Mapping[str, Any], where: str
) -> None:
    """Shared parameters must belong to at least one method of the grid; axes must be lists."""
    known = {key for method in methods for key in registry.methods.get(method).defaults}
    for key, value in axes.items():
        if not isinstance(value, list) or not value:
            raise SpecError(f"{where}: grid.params.{key} must be a non-empty list of values.")
    for key, value in {**fixed, **axes}.items():
        if isinstance(value, dict) and key in fixed:
            registry.methods.get(key)
            continue
        if key not in known:
            raise SpecError(f"{where}: no method in the grid has parameter {key!r}; valid: {', '.join(sorted(known))}.")


def expand(data: Mapping[str, Any], registry: Registry, where: str = "sweep") -> Iterator[RunSpec]:
    """Yield the resolved spec of every grid point, without duplicates, in a stable order. ``grid`` may be one table
    or a list of tables (``[[grid]]``), expanded one after the other (e.g. the baseline once, the DA method over a
    DA-intensity grid)."""
    grids = data.get("grid", {})
    seen: set[str] = set()
    for grid in grids if isinstance(grids, list) else [grids]:
        for spec in _expand_grid(grid, data, registry, where):
            if spec.key() not in seen:
                seen.add(spec.key())
                yield spec


def _expand_grid(grid: Mapping[str, Any], data: Mapping[str, Any], registry: Registry, where: str) -> Iterator[RunSpec]:
    unknown = set(grid) - _GRID_KEYS
    if unknown:
        raise SpecError(f"{where}: unknown grid keys {sorted(unknown)}; valid: {sorted(_GRID_KEYS)}.")
    methods = _list(grid, "method", ["source_only"], where)
    datasets = _list(grid, "dataset", ["digits"], where)
    targets: list[Any] = _list(grid, "target", [None], where)
    shifts: list[Any] = _list(grid, "shift", ["none"], where)
    seeds = _list(grid, "seed", [0], where)
    da_datasets: list[Any] = _list(grid, "da_dataset", [None], where)
    da_shifts: list[Any] = _list(grid, "da_shift", [None], where)
    axes = grid.get("params", {})
    fixed, options = data.get("params", {}), data.get("options", {})
    _check_param_names(registry, methods, fixed, axes, where)
    axis_points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())] or [{}]
    metrics = tuple(options["metrics"]) if "metrics" in options else None
    test_intensities = tuple(float(v) for v in options["test_intensities"]) if "test_intensities" in options else None
    for method, dataset, target, shift, seed, axis, da_dataset, da_shift in itertools.product(
        methods, datasets, targets, shifts, seeds, axis_points, da_datasets, da_shifts
    ):
        defaults = registry.methods.get(method).defaults
        request = RunRequest(
            method=method,
            dataset=dataset,
            target=target,
            shift=shift,
            params=_params_for(method, defaults, fixed, axis),
            seed=int(seed),
            protocol=str(options.get("protocol", "uda")),
            n_bootstrap=int(options.get("n_bootstrap", 1000)),
            metrics=metrics,
            interval=str(options.get("interval", "percentile")),
            da_dataset=da_dataset,
            da_shift=None if da_shift in (None, "none") else da_shift,
            test_intensities=test_intensities,
        )
        yield resolve(request, registry)
