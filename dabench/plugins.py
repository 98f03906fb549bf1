"""Plugin loading: a fresh pluggy manager per call, entry points in sorted order, each loaded in isolation.

Environment controls
--------------------
``DABENCH_DISABLE_PLUGIN_AUTOLOAD``  any non-empty value: load no entry points (only plugins passed explicitly).
``DABENCH_PLUGINS``                  comma-separated allow-list of entry-point names (e.g. ``core,dann``).
``DABENCH_BLOCK_PLUGINS``            comma-separated block-list of entry-point names.

Isolation
---------
Any exception a plugin raises while it is imported or registered — ``SystemExit`` and ``KeyboardInterrupt``
included — marks that plugin ``failed`` and the others still load: a plugin's import-time ``sys.exit()`` or
``raise KeyboardInterrupt`` never ends dabench. A *real* Ctrl-C is told apart by watching SIGINT while plugin code
runs (:class:`InterruptWatch`); when one arrived, the ``KeyboardInterrupt`` propagates and dabench stops as asked.
"""

from __future__ import annotations

import difflib
import logging
import os
import signal
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

import pluggy

from dabench import hookspecs
from dabench.provenance_code import code_hash, is_local_install, module_source_root, object_source_roots

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "dabench"
EXPLICIT = "(explicit)"
NO_DISTRIBUTION = "(no distribution)"
HOOK_NAMES = tuple(sorted(name for name in vars(hookspecs) if name.startswith("register_")))


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as seen by the loader: where it came from, whether it loaded, and what is wrong with it.

    ``sources`` are the folders/files whose ``.py`` content enters run keys (empty for an index install);
    ``warnings`` are problems that did not stop it loading (e.g. a hookimpl that matches no hook)."""

    name: str
    module: str
    distribution: str
    version: str
    status: str  # "loaded" | "failed" | "blocked"
    error: str = ""
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def label(self) -> str:
        """The provider as recorded in run keys: ``"dabench 0.1.0"``, or ``"(explicit)"``."""
        return f"{self.distribution} {self.version}".strip()

    def code(self) -> str:
        """The source hash recorded in run keys, or ``""`` when the plugin's version identifies its code."""
        return code_hash(self.sources) if self.sources else ""


@dataclass
class LoadedPlugins:
    """A plugin manager plus the report of what loaded, failed or was blocked."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo] = field(default_factory=list)

    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.status == "failed"]


class InterruptWatch:
    """Notes whether a real SIGINT (Ctrl-C) arrives, so a plugin's own ``raise KeyboardInterrupt`` can be isolated
    while the user's Ctrl-C still stops dabench. Only the main thread receives signals; elsewhere nothing is
    watched and every ``KeyboardInterrupt`` comes from plugin code."""

    def __init__(self) -> None:
        self.interrupted = False

    def reraise_if_real(self, exc: BaseException) -> None:
        """Re-raise ``exc`` when it is the ``KeyboardInterrupt`` of a real Ctrl-C."""
        if isinstance(exc, KeyboardInterrupt) and self.interrupted:
            raise exc

    @contextmanager
    def watching(self) -> Iterator[InterruptWatch]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum: int, frame: types.FrameType | None) -> None:
            if previous is signal.SIG_IGN:
                return
            self.interrupted = True
            if callable(previous):
                previous(signum, frame)
            else:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


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
    return (dist.metadata["Name"], dist.version) if dist is not None else (NO_DISTRIBUTION, "")


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
    with InterruptWatch().watching() as watch:
        if not env.get("DABENCH_DISABLE_PLUGIN_AUTOLOAD"):
            for ep in _entry_points():
                dist, version = _dist_of(ep)
                if (allow is not None and ep.name not in allow) or ep.name in block:
                    loaded.infos.append(PluginInfo(ep.name, ep.value, dist, version, "blocked"))
                    continue
                hashed = is_local_install(ep.dist)
                _register(loaded, watch, PluginInfo(ep.name, ep.value, dist, version, "loaded"), ep.load, hashed)
        for name, plugin in extra_plugins:
            module = getattr(plugin, "__name__", type(plugin).__name__)
            info = PluginInfo(name, module, EXPLICIT, "", "loaded")
            _register(loaded, watch, info, _given(plugin), True)
    return loaded


def _given(plugin: object) -> Callable[[], object]:
    """The loader of an explicitly passed plugin: it is already imported."""
    return lambda: plugin


def _register(
    loaded: LoadedPlugins, watch: InterruptWatch, info: PluginInfo, load: Callable[[], Any], hashed: bool
) -> None:
    """Import (``load``) and register one plugin; any failure, ``SystemExit`` included, marks it ``failed``."""
    try:
        plugin = load()
        if loaded.manager.get_plugin(info.name) is not None:
            raise ValueError(f"a plugin named {info.name!r} is already registered")
        loaded.manager.register(plugin, name=info.name)
    except BaseException as exc:  # noqa: BLE001 - one broken plugin must never brick the others (see module doc)
        watch.reraise_if_real(exc)
        log.warning("plugin %s (%s) failed to load: %s", info.name, info.module, exc)
        loaded.infos.append(replace(info, status="failed", error=describe(exc)))
        return
    sources = _sources(loaded.manager, plugin, info) if hashed else ()
    loaded.infos.append(replace(info, sources=sources, warnings=unknown_hookimpls(loaded.manager, plugin)))


def describe(exc: BaseException) -> str:
    """``"Type: message"`` for a plugin's error, naming ``SystemExit``'s exit code."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r}) while loading"
    return f"{type(exc).__name__}: {exc}"


def _own_impls(manager: pluggy.PluginManager, plugin: object) -> list[Any]:
    return [
        impl
        for caller in manager.get_hookcallers(plugin) or ()
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin
    ]


def _sources(manager: pluggy.PluginManager, plugin: object, info: PluginInfo) -> tuple[str, ...]:
    """What to hash: the entry point's package, or for an explicit plugin the module(s) defining it."""
    if info.distribution != EXPLICIT:
        module = info.module.partition(":")[0].strip()
        root = module_source_root(module)
        return (str(root),) if root is not None else ()
    modules = [getattr(impl.function, "__module__", None) for impl in _own_impls(manager, plugin)]
    return object_source_roots(plugin, [m for m in modules if m])


def unknown_hookimpls(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    """One warning per hookimpl of ``plugin`` whose name matches no dabench hook (pluggy keeps those silently)."""
    warnings = []
    for caller in manager.get_hookcallers(plugin) or ():
        if caller.has_spec() or all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin):
            continue
        close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"valid hooks: {', '.join(HOOK_NAMES)}"
        warnings.append(f"hookimpl {caller.name!r} matches no dabench hook and is ignored; {hint}")
    return tuple(sorted(warnings))
