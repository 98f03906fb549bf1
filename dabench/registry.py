"""Typed façade over the plugin hooks: collects every component, validates, indexes by name, explains misses.

Two plugins registering one name is a *conflict*: the name is dropped from its table (neither provider wins
silently), the conflict is reported by ``dabench plugins`` / ``dabench list``, and only looking that name up fails
(:class:`~dabench.errors.DuplicateNameError`, naming both plugins).

:meth:`Registry.ref` and :meth:`Registry.shift_step` are the one place a run's components are identified: name,
version and the providing plugin (distribution and version, plus a source hash for local installs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from dabench.benefitspecs import BenefitPredictorSpec
from dabench.errors import DuplicateNameError, SpecError, UnknownComponentError
from dabench.plugins import InterruptWatch, LoadedPlugins, PluginInfo, describe, make_plugin_manager
from dabench.runspec import ComponentRef, ShiftStep
from dabench.specs import DatasetSpec, MethodSpec, MetricSpec, ShiftSpec, ValidatorSpec
from dabench.studyspecs import AnalysisSpec, ProtocolSpec

log = logging.getLogger(__name__)
T = TypeVar(
    "T", DatasetSpec, ShiftSpec, MethodSpec, MetricSpec, ValidatorSpec, ProtocolSpec, AnalysisSpec, BenefitPredictorSpec
)

#: kind -> (hook name, spec class)
KINDS: dict[str, tuple[str, type]] = {
    "dataset": ("register_datasets", DatasetSpec),
    "shift": ("register_shifts", ShiftSpec),
    "method": ("register_methods", MethodSpec),
    "metric": ("register_metrics", MetricSpec),
    "validator": ("register_validators", ValidatorSpec),
    "protocol": ("register_protocols", ProtocolSpec),
    "analysis": ("register_analyses", AnalysisSpec),
    "benefit_predictor": ("register_benefit_predictors", BenefitPredictorSpec),
}


@dataclass(frozen=True)
class Conflict:
    """One component name registered by several plugins (``plugins`` in load order); the name is unusable."""

    kind: str
    name: str
    plugins: tuple[str, ...]

    def error(self) -> DuplicateNameError:
        return DuplicateNameError(self.kind, self.name, self.plugins)


@dataclass(frozen=True)
class Origin:
    """Who provides a component, as it enters run keys: ``plugin`` label and source ``code`` hash (may be empty)."""

    plugin: str
    code: str = ""


@dataclass
class ComponentTable(Generic[T]):
    """All components of one kind, by name, with the plugin that provided each.

    ``conflicts`` maps a name registered by several plugins to their specs by plugin; such a name is in neither
    ``specs`` nor ``names()``, and :meth:`get` raises :class:`DuplicateNameError` for it."""

    kind: str
    specs: dict[str, T] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, dict[str, T]] = field(default_factory=dict)

    def get(self, name: str) -> T:
        if name in self.conflicts:
            raise DuplicateNameError(self.kind, name, self.conflicts[name])
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.specs) from None

    def names(self) -> list[str]:
        return sorted(self.specs)

    def add(self, spec: T, plugin: str) -> None:
        """Register ``spec`` from ``plugin``; a second provider of one name turns it into a conflict."""
        name = spec.name
        if name in self.conflicts:
            self.conflicts[name][plugin] = spec
        elif name in self.specs:
            self.conflicts[name] = {self.providers.pop(name): self.specs.pop(name), plugin: spec}
            log.info("%s %r is registered by several plugins; it is unusable until one is blocked", self.kind, name)
        else:
            self.specs[name] = spec
            self.providers[name] = plugin

    def conflict_list(self) -> list[Conflict]:
        return [Conflict(self.kind, name, tuple(self.conflicts[name])) for name in sorted(self.conflicts)]

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
    protocols: ComponentTable[ProtocolSpec] = field(default_factory=lambda: ComponentTable("protocol"))
    analyses: ComponentTable[AnalysisSpec] = field(default_factory=lambda: ComponentTable("analysis"))
    benefit_predictors: ComponentTable[BenefitPredictorSpec] = field(
        default_factory=lambda: ComponentTable("benefit_predictor")
    )

    def table(self, kind: str) -> ComponentTable[Any]:
        tables: dict[str, ComponentTable[Any]] = {
            "dataset": self.datasets,
            "shift": self.shifts,
            "method": self.methods,
            "metric": self.metrics,
            "validator": self.validators,
            "protocol": self.protocols,
            "analysis": self.analyses,
            "benefit_predictor": self.benefit_predictors,
        }
        if kind not in tables:
            raise UnknownComponentError("component kind", kind, tables)
        return tables[kind]

    def plugin_versions(self) -> dict[str, str]:
        return {p.name: p.version for p in self.plugins if p.status == "loaded"}

    def conflicts(self) -> list[Conflict]:
        """Every name registered by more than one plugin, by kind then name."""
        return [c for kind in KINDS for c in self.table(kind).conflict_list()]

    def plugin(self, name: str) -> PluginInfo:
        """The load report of the loaded plugin ``name``."""
        for info in self.plugins:
            if info.name == name and info.status == "loaded":
                return info
        raise UnknownComponentError("plugin", name, {p.name for p in self.plugins if p.status == "loaded"})

    def origin(self, kind: str, name: str) -> Origin:
        """The provider of component ``name`` of ``kind`` (raises for unknown or conflicting names)."""
        table = self.table(kind)
        table.get(name)
        info = self.plugin(table.providers[name])
        return Origin(plugin=info.label(), code=info.code())

    def ref(self, kind: str, name: str, domain: str | None = None) -> ComponentRef:
        """The :class:`ComponentRef` a run records for ``name`` (optionally ``name:domain``), provider included."""
        spec = self.table(kind).get(name)
        origin = self.origin(kind, name)
        return ComponentRef(name=name, version=spec.version, domain=domain, plugin=origin.plugin, code=origin.code)

    def shift_step(self, name: str, intensity: float, options: Mapping[str, Any] | None = None) -> ShiftStep:
        """The :class:`ShiftStep` a run records for shift ``name`` at ``intensity``, provider included."""
        spec = self.shifts.get(name)
        origin = self.origin("shift", name)
        return ShiftStep(
            name=name,
            version=spec.version,
            intensity=intensity,
            options=dict(options or {}),
            plugin=origin.plugin,
            code=origin.code,
        )

    def default_metrics(self, task_type: str) -> tuple[str, ...]:
        """Names of every metric for ``task_type``, conflicting ones included (so a run that needs one fails)."""
        names = {m.name for m in self.metrics if m.task_type == task_type}
        names |= {
            n for n, specs in self.metrics.conflicts.items() if any(s.task_type == task_type for s in specs.values())
        }
        return tuple(sorted(names))

    def protocols_taking(self, name: str) -> list[str]:
        """The installed protocols that take the generic protocol input ``name`` (``ProtocolSpec.takes``)."""
        return [p.name for p in self.protocols if name in p.takes]


def _collect(loaded: LoadedPlugins, kind: str, watch: InterruptWatch) -> ComponentTable[Any]:
    hook_name, cls = KINDS[kind]
    table: ComponentTable[Any] = ComponentTable(kind)
    caller = getattr(loaded.manager.hook, hook_name)
    for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
        try:
            specs = list(impl.function() or ())
            for spec in specs:
                if not isinstance(spec, cls):
                    raise SpecError(f"{hook_name} returned {type(spec).__name__}, expected {cls.__name__}")
            names = [spec.name for spec in specs]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise SpecError(f"{hook_name} returned {', '.join(map(repr, repeated))} more than once")
        except BaseException as exc:  # noqa: BLE001 - a plugin's broken hook is reported, never fatal to others
            watch.reraise_if_real(exc)
            log.warning("plugin %s: %s failed: %s", impl.plugin_name, hook_name, exc)
            loaded.infos.append(
                PluginInfo(impl.plugin_name, hook_name, "", "", "failed", f"{hook_name}: {describe(exc)}")
            )
            continue
        for spec in specs:
            table.add(spec, impl.plugin_name)
    return table


def build_registry(
    extra_plugins: Iterable[tuple[str, object]] = (), *, env: Mapping[str, str] | None = None
) -> Registry:
    """Load plugins (fresh manager) and collect every component kind."""
    loaded = make_plugin_manager(extra_plugins, env=env)
    with InterruptWatch().watching() as watch:
        tables = {kind: _collect(loaded, kind, watch) for kind in KINDS}
    return Registry(
        datasets=tables["dataset"],
        shifts=tables["shift"],
        methods=tables["method"],
        metrics=tables["metric"],
        validators=tables["validator"],
        plugins=loaded.infos,
        protocols=tables["protocol"],
        analyses=tables["analysis"],
        benefit_predictors=tables["benefit_predictor"],
    )
