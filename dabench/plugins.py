"""Plugin loading: a fresh pluggy manager per call, entry points in sorted order, each loaded in isolation.

Environment controls
--------------------
``DABENCH_DISABLE_PLUGIN_AUTOLOAD``  any non-empty value: load no entry points (only plugins passed explicitly).
``DABENCH_PLUGINS``                  comma-separated allow-list of entry-point names (e.g. ``core,dann``).
``DABENCH_BLOCK_PLUGINS``            comma-separated block-list of entry-point names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from dabench import hookspecs

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "dabench"


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as seen by the loader: where it came from and whether it loaded."""

    name: str
    module: str
    distribution: str
    version: str
    status: str  # "loaded" | "failed" | "blocked"
    error: str = ""


@dataclass
class LoadedPlugins:
    """A plugin manager plus the report of what loaded, failed or was blocked."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo] = field(default_factory=list)

    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.status == "failed"]


def _env_list(env: Mapping[str, str], key: str) -> set[str] | None:
    value = env.get(key)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in points}
    return sorted(unique.values(), key=lambda ep: (ep.name, ep.value))


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    return (dist.metadata["Name"], dist.version) if dist is not None else ("?", "?")


def make_plugin_manager(
    extra_plugins: Iterable[tuple[str, object]] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> LoadedPlugins:
    """A new manager with every allowed entry-point plugin registered (plus ``extra_plugins``, name -> object).

    A plugin that fails to import or register is recorded as ``failed`` with its error; the others still load.
    """
    env = os.environ if env is None else env
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    allow, block = _env_list(env, "DABENCH_PLUGINS"), _env_list(env, "DABENCH_BLOCK_PLUGINS") or set()
    if not env.get("DABENCH_DISABLE_PLUGIN_AUTOLOAD"):
        for ep in _entry_points():
            dist, version = _dist_of(ep)
            if (allow is not None and ep.name not in allow) or ep.name in block:
                loaded.infos.append(PluginInfo(ep.name, ep.value, dist, version, "blocked"))
                continue
            _register(loaded, ep.name, ep.value, dist, version, ep.load)
    for name, plugin in extra_plugins:
        module = getattr(plugin, "__name__", type(plugin).__name__)
        _register(loaded, name, module, "(explicit)", "", lambda plugin=plugin: plugin)
    return loaded


def _register(loaded: LoadedPlugins, name: str, module: str, dist: str, version: str, load: object) -> None:
    try:
        plugin = load()  # type: ignore[operator]
        if loaded.manager.get_plugin(name) is not None:
            raise ValueError(f"a plugin named {name!r} is already registered")
        loaded.manager.register(plugin, name=name)
    except Exception as exc:  # noqa: BLE001 - one broken plugin must never brick the others
        log.warning("plugin %s (%s) failed to load: %s", name, module, exc)
        loaded.infos.append(PluginInfo(name, module, dist, version, "failed", f"{type(exc).__name__}: {exc}"))
        return
    loaded.infos.append(PluginInfo(name, module, dist, version, "loaded"))
