"""Typed façade over the plugin hooks: collects every component, validates, indexes by name, explains misses."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from dabench.errors import DuplicateNameError, SpecError, UnknownComponentError
from dabench.plugins import LoadedPlugins, PluginInfo, make_plugin_manager
from dabench.specs import DatasetSpec, MethodSpec, MetricSpec, ShiftSpec, ValidatorSpec

log = logging.getLogger(__name__)
T = TypeVar("T", DatasetSpec, ShiftSpec, MethodSpec, MetricSpec, ValidatorSpec)

#: kind -> (hook name, spec class)
KINDS: dict[str, tuple[str, type]] = {
    "dataset": ("register_datasets", DatasetSpec),
    "shift": ("register_shifts", ShiftSpec),
    "method": ("register_methods", MethodSpec),
    "metric": ("register_metrics", MetricSpec),
    "validator": ("register_validators", ValidatorSpec),
}


@dataclass
class ComponentTable(Generic[T]):
    """All components of one kind, by name, with the plugin that provided each."""

    kind: str
    specs: dict[str, T] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> T:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.specs) from None

    def names(self) -> list[str]:
        return sorted(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[T]:
        return iter(self.specs[name] for name in self.names())


@dataclass
class Registry:
    """Every registered component, plus the plugin load report."""

    datasets: ComponentTable[DatasetSpec]
    shifts: ComponentTable[ShiftSpec]
    methods: ComponentTable[MethodSpec]
    metrics: ComponentTable[MetricSpec]
    validators: ComponentTable[ValidatorSpec]
    plugins: list[PluginInfo]

    def table(self, kind: str) -> ComponentTable[Any]:
        tables: dict[str, ComponentTable[Any]] = {
            "dataset": self.datasets,
            "shift": self.shifts,
            "method": self.methods,
            "metric": self.metrics,
            "validator": self.validators,
        }
        if kind not in tables:
            raise UnknownComponentError("component kind", kind, tables)
        return tables[kind]

    def plugin_versions(self) -> dict[str, str]:
        return {p.name: p.version for p in self.plugins if p.status == "loaded"}


def _collect(loaded: LoadedPlugins, kind: str) -> ComponentTable[Any]:
    hook_name, cls = KINDS[kind]
    table: ComponentTable[Any] = ComponentTable(kind)
    caller = getattr(loaded.manager.hook, hook_name)
    for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
        try:
            specs = list(impl.function() or ())
            for spec in specs:
                if not isinstance(spec, cls):
                    raise SpecError(f"{hook_name} returned {type(spec).__name__}, expected {cls.__name__}")
        except Exception as exc:  # noqa: BLE001 - a plugin's broken hook is reported, never fatal to others
            log.warning("plugin %s: %s failed: %s", impl.plugin_name, hook_name, exc)
            loaded.infos.append(
                PluginInfo(impl.plugin_name, hook_name, "", "", "failed", f"{hook_name}: {type(exc).__name__}: {exc}")
            )
            continue
        for spec in specs:
            if spec.name in table.specs:
                raise DuplicateNameError(kind, spec.name, [table.providers[spec.name], impl.plugin_name])
            table.specs[spec.name] = spec
            table.providers[spec.name] = impl.plugin_name
    return table


def build_registry(
    extra_plugins: Iterable[tuple[str, object]] = (), *, env: Mapping[str, str] | None = None
) -> Registry:
    """Load plugins (fresh manager) and collect every component kind."""
    loaded = make_plugin_manager(extra_plugins, env=env)
    tables = {kind: _collect(loaded, kind) for kind in KINDS}
    return Registry(
        datasets=tables["dataset"],
        shifts=tables["shift"],
        methods=tables["method"],
        metrics=tables["metric"],
        validators=tables["validator"],
        plugins=loaded.infos,
    )
