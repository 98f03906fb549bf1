"""Sweep files: a TOML file expands into a grid of fully resolved run specs (nothing runs here; see
:mod:`dabench.run.sweep`). This docstring is the reference of the format; ``sweeps/*.toml`` are worked examples.

File format::

    name = "digits_noise"        # optional string; default: the file name without .toml
    [grid]                       # required; every combination of its lists runs
    method = ["source_only", "dann", "adabn"]   # required, at least one method
    dataset = ["digits"]         # optional; default ["digits"]; NAME or NAME:DOMAIN
    target = []                  # optional; empty means the dataset itself
    shift = ["noise:0.8"]        # optional; shift chains as on the command line; default ["none"]
    seed = [0, 1, 2]             # optional; integers >= 0; default [0]
    [grid.params]                # optional parameter axes (non-empty lists), for the methods that have them
    lambda_max = [0.1, 1.0]
    [params]                     # optional fixed parameters for every method of the grid that has them
    epochs = 15
    [params.dann]                # optional fixed parameters for one method (it must be in a grid)
    gamma = 10.0
    [options]                    # optional
    protocol = "uda"             # "uda" (default) or "dann4"
    n_bootstrap = 1000           # integer >= 0 (0: no intervals); default 1000
    metrics = ["accuracy"]       # non-empty list; default: every metric of the task type
    interval = "percentile"      # "percentile" (default) or "bca"
    checkpoint_every = 0         # keep every k-th epoch's model for model selection (dabench.run.selection); 0: none
    [predictors]                 # optional: benefit predictors and their held-out validation, declared up front
    compute = ["all"]            # computed in the source-only runs; see dabench.run.benefit_plan for every key
    method = ["adabn"]
    validation = ["leave_one_shift_family_out"]
    [resources]                  # optional: what one SLURM array task asks for (dabench sweep --executor slurm)
    partition = "gpu"            # string; default: the cluster's default partition
    time = 60                    # minutes, integer >= 1; default 60
    mem = 16                     # GB, number > 0; default 8
    gpus_per_task = 1            # integer >= 0; default 0
    cpus_per_task = 4            # integer >= 1; default 1 (also the torch threads of the task)
    [resources.dann]             # optional overrides for one method (it must be in a grid)
    time = 240

``grid`` may also be a list of tables (``[[grid]]``), expanded one after the other (e.g. the baseline once, the DA
method over a DA-intensity grid); ``[params]`` and ``[options]`` apply to all of them. For the DANN study's protocol
(``protocol = "dann4"``) a grid also takes ``da_dataset`` and ``da_shift`` (shift chains making D from C, e.g.
``["none", "noise:0.3"]``), ``shift`` names the test shift, and ``options.test_intensities`` (a non-empty list of
numbers) lists where it is evaluated. Parameter values are typed like the method's defaults and must lie in its
declared ranges (``dabench list methods``).

Anything else is an error before anything runs: an unknown key or table (with "did you mean"), a value of the wrong
type, an empty file or one without ``[grid]``. Every message names the file and the key path (``options.n_bootstrap``).
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dabench.errors import SpecError, did_you_mean
from dabench.registry import Registry
from dabench.run import sweepfile_values as toml
from dabench.run.benefit_plan import BenefitPlan, parse_plan
from dabench.run.resolve import RunRequest, check_param, dataset_ref, parse_shift_chain, resolve
from dabench.run.resources import ResourceError, SweepResources, parse_resources
from dabench.run.sweepfile_values import SweepFile
from dabench.run.sweepfile_values import SweepFileError as SweepFileError  # re-exported: callers catch it here
from dabench.runspec import RunSpec

TOP_KEYS = ("name", "grid", "params", "options", "resources", "predictors")
GRID_KEYS = ("method", "dataset", "target", "shift", "seed", "params", "da_dataset", "da_shift")
OPTION_KEYS = ("protocol", "n_bootstrap", "metrics", "interval", "test_intensities", "checkpoint_every")
INTERVALS = ("percentile", "bca")
NEEDS_GRID = (
    'a sweep file needs a [grid] table with at least `method`, e.g. [grid] method = ["source_only"] '
    "dataset = [\"digits\"]; see 'python -m pydoc dabench.run.sweepfile' for the format"
)


@dataclass(frozen=True)
class Sweep:
    name: str
    specs: tuple[RunSpec, ...]
    resources: SweepResources = field(default_factory=SweepResources)
    predictors: BenefitPlan | None = None
    """The ``[predictors]`` plan (:mod:`dabench.run.benefit_plan`), when the file declares one."""


@dataclass(frozen=True)
class _Options:
    protocol: str = "uda"
    n_bootstrap: int = 1000
    metrics: tuple[str, ...] | None = None
    interval: str = "percentile"
    test_intensities: tuple[float, ...] | None = None
    checkpoint_every: int = 0


@dataclass(frozen=True)
class _Grid:
    path: str
    methods: list[str]
    datasets: list[str]
    targets: list[str | None]
    shifts: list[str]
    seeds: list[int]
    da_datasets: list[str | None]
    da_shifts: list[str | None]
    axes: dict[str, list[Any]]


def load_sweep(path: Path, registry: Registry) -> Sweep:
    """Parse and fully resolve a sweep file; any invalid entry is a :class:`SpecError` before anything runs."""
    file = SweepFile(str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"sweep file {str(path)!r} does not exist.") from None
    except UnicodeDecodeError:
        raise file.error("", "is not UTF-8 text; a sweep file is a TOML file.") from None
    except OSError as exc:
        raise file.error("", f"cannot be read: {exc.strerror or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise file.error("", f"is not valid TOML: {exc}.") from None
    specs = tuple(expand(data, registry, str(path)))
    methods = list(dict.fromkeys(spec.method.name for spec in specs))
    resources = _resources(file, data.get("resources", {}), methods, registry)
    plan = _plan(file, data, methods)
    return Sweep(name=data.get("name", path.stem), specs=specs, resources=resources, predictors=plan)


def _plan(file: SweepFile, data: Mapping[str, Any], methods: Sequence[str]) -> BenefitPlan | None:
    if "predictors" not in data:
        return None
    with file.at("predictors"):
        return parse_plan(toml.table(file, "predictors", data["predictors"]), methods)


def expand(data: Mapping[str, Any], registry: Registry, where: str = "sweep") -> Iterator[RunSpec]:
    """Validate ``data`` (a parsed sweep file) and yield the resolved spec of every grid point, without duplicates,
    in a stable order."""
    file = SweepFile(where)
    toml.check_keys(file, "", data, TOP_KEYS)
    if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
        raise file.error(
            "name", f'must be a non-empty string, e.g. name = "digits_noise"; got {toml.show(data["name"])}.'
        )
    options = _options(file, toml.table(file, "options", data.get("options", {})), registry)
    grids = [_grid(file, path, table, options, registry) for path, table in _grid_tables(file, data)]
    fixed = toml.table(file, "params", data.get("params", {}))
    _check_fixed(file, fixed, [g.methods for g in grids], registry)
    _resources(file, data.get("resources", {}), [m for g in grids for m in g.methods], registry)
    plan = _plan(file, data, list(dict.fromkeys(m for g in grids for m in g.methods)))
    seen: set[str] = set()
    for grid in grids:
        for spec in _expand_grid(file, grid, fixed, options, registry, plan):
            if spec.key() not in seen:
                seen.add(spec.key())
                yield spec


# ------------------------------------------------------------------------------------------------ tables


def _grid_tables(file: SweepFile, data: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if "grid" not in data:
        raise file.error("", NEEDS_GRID + ".")
    value = data["grid"]
    if isinstance(value, dict):
        return [("grid", value)]
    if isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
        return [(f"grid[{i}]", t) for i, t in enumerate(value)]
    raise file.error("grid", f"must be a table ([grid]) or tables ([[grid]]); got {toml.show(value)}.")


def _options(file: SweepFile, table: Mapping[str, Any], registry: Registry) -> _Options:
    toml.check_keys(file, "options", table, OPTION_KEYS)
    protocol = table.get("protocol", "uda")
    protocols = registry.protocols.names()
    if not isinstance(protocol, str) or protocol not in protocols:
        hint = did_you_mean(protocol, protocols) if isinstance(protocol, str) else ""
        raise file.error("options.protocol", f"must be one of {', '.join(protocols)}; got {toml.show(protocol)}.{hint}")
    n_bootstrap = table.get("n_bootstrap", 1000)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise file.error(
            "options.n_bootstrap",
            f"must be an integer >= 0 (0: no intervals), e.g. 1000; got {toml.show(n_bootstrap)}.",
        )
    interval = table.get("interval", "percentile")
    if interval not in INTERVALS:
        raise file.error("options.interval", f"must be one of {', '.join(INTERVALS)}; got {toml.show(interval)}.")
    metrics = None
    if "metrics" in table:
        metrics = toml.strings(file, "options", table, "metrics", example='"accuracy"')
        if not metrics:
            raise file.error(
                "options.metrics", 'must list at least one metric (or be left out for all), e.g. ["accuracy"].'
            )
        with file.at("options.metrics"):
            for name in metrics:
                registry.metrics.get(name)
    intensities = None
    if "test_intensities" in table:
        intensities = table["test_intensities"]
        takers = registry.protocols_taking("test_intensities")
        if protocol not in takers:
            raise file.error(
                "options.test_intensities",
                f"protocol {protocol!r} takes no test intensities; protocols that do: {', '.join(takers) or '(none)'}.",
            )
        wrong = toml.offender("test_intensities", intensities, toml.is_number) or (
            "got []" if not intensities else None
        )
        if wrong is not None:
            raise file.error(
                "options.test_intensities", f"must be a non-empty list of numbers, e.g. [0, 0.5, 1]; {wrong}."
            )
    every = table.get("checkpoint_every", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise file.error(
            "options.checkpoint_every",
            f"must be an integer >= 0 (keep every k-th epoch's model for selection; 0: none); got {toml.show(every)}.",
        )
    return _Options(
        checkpoint_every=every,
        protocol=protocol,
        n_bootstrap=n_bootstrap,
        metrics=tuple(metrics) if metrics is not None else None,
        interval=interval,
        test_intensities=tuple(float(v) for v in intensities) if intensities is not None else None,
    )


def _resources(file: SweepFile, value: Any, in_grid: Sequence[str], registry: Registry) -> SweepResources:
    """``[resources]`` defaults and ``[resources.<method>]`` overrides (:mod:`dabench.run.resources`)."""
    try:
        return parse_resources(toml.table(file, "resources", value), in_grid, registry)
    except ResourceError as exc:
        raise file.error(exc.path, exc.message) from None


# ------------------------------------------------------------------------------------------------- grids


def _grid(file: SweepFile, path: str, table: Mapping[str, Any], options: _Options, registry: Registry) -> _Grid:
    """Validate one grid table axis by axis (every name exists, every value has the right type)."""
    toml.check_keys(file, path, table, GRID_KEYS)
    methods = toml.strings(file, path, table, "method", example='"source_only", "dann"')
    datasets = toml.strings(file, path, table, "dataset", example='"digits"') or ["digits"]
    targets = toml.strings(file, path, table, "target", example='"usps"')
    shifts = toml.strings(file, path, table, "shift", example='"noise:0.8"')
    da_datasets = toml.strings(file, path, table, "da_dataset", example='"mnist"')
    da_shifts = toml.strings(file, path, table, "da_shift", example='"none", "noise:0.5"')
    for key in ("da_dataset", "da_shift"):
        takers = registry.protocols_taking(key)
        if key in table and options.protocol not in takers:
            raise file.error(
                f"{path}.{key}",
                f"protocol {options.protocol!r} takes no {key}: set options.protocol to one that does "
                f"({', '.join(takers) or 'none installed'}) or remove it.",
            )
    seeds = table.get("seed", [])
    wrong = toml.offender("seed", seeds, toml.is_count)
    if wrong is not None:
        raise file.error(f"{path}.seed", f"must be a list of integers >= 0, e.g. seed = [0, 1, 2]; {wrong}.")
    if options.protocol == "dann4" and not shifts:
        raise file.error(f"{path}.shift", 'protocol "dann4" needs the test shift by name, e.g. shift = ["noise"].')
    for key, names in (("dataset", datasets), ("target", targets), ("da_dataset", da_datasets)):
        with file.at(f"{path}.{key}"):
            for name in names:
                dataset_ref(registry, name)
    for key, chains in (("shift", shifts if options.protocol == "uda" else []), ("da_shift", da_shifts)):
        with file.at(f"{path}.{key}"):
            for chain in chains:
                parse_shift_chain(registry, chain)
    if not methods:
        raise file.error(f"{path}.method", NEEDS_GRID + ".")
    with file.at(f"{path}.method"):
        specs = [registry.methods.get(m) for m in methods]
    axes = toml.table(file, f"{path}.params", table.get("params", {}))
    for key, values in axes.items():
        where = f"{path}.params.{key}"
        if not isinstance(values, list) or not values:
            raise file.error(
                where, f"must be a non-empty list of values, e.g. {key} = [0.1, 1.0]; got {toml.show(values)}."
            )
        owners = [s for s in specs if key in s.all_defaults]
        if not owners:
            raise file.error(where, _no_owner(key, specs))
        with file.at(where):
            for spec, value in itertools.product(owners, values):
                check_param(spec, key, value)
    return _Grid(
        path=path,
        methods=methods,
        datasets=datasets,
        targets=list(targets) or [None],
        shifts=shifts or ["none"],
        seeds=seeds or [0],
        da_datasets=list(da_datasets) or [None],
        da_shifts=[None if s == "none" else s for s in da_shifts] or [None],
        axes=axes,
    )


def _no_owner(key: str, specs: Sequence[Any]) -> str:
    known = sorted({k for s in specs for k in s.all_defaults})
    methods = ", ".join(s.name for s in specs)
    return (
        f"no method in the grid has parameter {key!r} (methods: {methods}).{did_you_mean(key, known)} "
        f"Valid parameters: {', '.join(known)}."
    )


def _check_fixed(file: SweepFile, fixed: Mapping[str, Any], grid_methods: list[list[str]], registry: Registry) -> None:
    """``[params]``: shared values must suit every grid method that has them; ``[params.M]`` tables need M in a
    grid and check every key against M's parameters."""
    in_grid = list(dict.fromkeys(m for methods in grid_methods for m in methods))
    specs = [registry.methods.get(m) for m in in_grid]
    for key, value in fixed.items():
        where = f"params.{key}"
        if isinstance(value, dict):
            with file.at(where):
                spec = registry.methods.get(key)
            if key not in in_grid:
                raise file.error(
                    where,
                    f"sets parameters of method {key!r}, which no grid runs: add it to a grid's "
                    "method list or remove the table.",
                )
            for name, item in value.items():
                with file.at(f"{where}.{name}"):
                    check_param(spec, name, item)
            continue
        owners = [s for s in specs if key in s.all_defaults]
        if not owners:
            raise file.error(where, _no_owner(key, specs))
        if isinstance(value, list):
            raise file.error(where, f"takes one value; to sweep over {toml.show(value)} list it under [grid.params].")
        with file.at(where):
            for spec in owners:
                check_param(spec, key, value)


def _params_for(method: str, defaults: Mapping[str, Any], fixed: Mapping[str, Any], axis: Mapping[str, Any]) -> dict:
    own = fixed.get(method, {}) if isinstance(fixed.get(method), dict) else {}
    shared = {k: v for k, v in fixed.items() if not isinstance(v, dict) and k in defaults}
    return {**shared, **{k: v for k, v in axis.items() if k in defaults}, **own}


def _expand_grid(
    file: SweepFile,
    grid: _Grid,
    fixed: Mapping[str, Any],
    options: _Options,
    registry: Registry,
    plan: BenefitPlan | None = None,
) -> Iterator[RunSpec]:
    axes = grid.axes
    axis_points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())] or [{}]
    for method, dataset, target, shift, seed, axis, da_dataset, da_shift in itertools.product(
        grid.methods,
        grid.datasets,
        grid.targets,
        grid.shifts,
        grid.seeds,
        axis_points,
        grid.da_datasets,
        grid.da_shifts,
    ):
        defaults = registry.methods.get(method).all_defaults
        request = RunRequest(
            method=method,
            dataset=dataset,
            target=target,
            shift=shift,
            params=_params_for(method, defaults, fixed, axis),
            seed=seed,
            protocol=options.protocol,
            n_bootstrap=options.n_bootstrap,
            metrics=options.metrics,
            interval=options.interval,
            da_dataset=da_dataset,
            da_shift=da_shift,
            test_intensities=options.test_intensities,
            predictors=plan.compute if plan is not None and method in plan.on else (),
            checkpoint_every=options.checkpoint_every,
        )
        point = ", ".join(f"{k} {v!r}" for k, v in (("method", method), ("dataset", dataset), ("shift", shift)))
        with file.at(f"{grid.path} ({point})"):
            spec = resolve(request, registry)
        yield spec
