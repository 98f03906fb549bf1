"""Source provenance of plugins: which installs are local, which files provide a plugin, and their content hash.

A plugin installed from an index is identified by its distribution name and version. A plugin installed editable or
from a local path (or passed explicitly in code, or an entry point without a distribution) can change without its
version changing, so its run keys also carry a hash of its source: sha256 over the sorted ``.py`` files (relative
path and bytes) of the package that provides it — ``dabench_dann/`` for ``dabench_dann``, ``dabench/builtins/`` for
``dabench.builtins`` (never the whole core package). Hashes are cached per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import sys
import types
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

#: hex digits of the sha256 kept in a run key
CODE_HASH_LENGTH = 16


def is_local_install(dist: metadata.Distribution | None) -> bool:
    """True when ``dist`` is missing, or installed editable / from a ``file://`` location (per ``direct_url.json``).

    Legacy ``.egg-info`` metadata (a source checkout on ``sys.path``, ``setup.py develop``) counts as local, so
    ``python -m dabench`` run inside a checkout keys runs like the editable install's ``dabench`` script. An
    unreadable ``direct_url.json`` counts as local too: an install whose origin is unknown gets the safer key."""
    if dist is None:
        return True
    if dist.read_text("PKG-INFO") is not None and dist.read_text("METADATA") is None:
        return True
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return True
    if not isinstance(data, dict):
        return True
    dir_info = data.get("dir_info")
    editable = isinstance(dir_info, dict) and bool(dir_info.get("editable"))
    return editable or str(data.get("url", "")).startswith("file://")


def module_source_root(module_name: str) -> Path | None:
    """The folder (or single file) of Python source that provides ``module_name``.

    A package is its own folder; a module inside a package is its package's folder; a top-level single-file module
    is that file. None when the module has no source on disk (built-in, ``__main__`` without a file)."""
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - no importable source means nothing to hash
            return None
    paths = getattr(module, "__path__", None)
    if paths:
        return Path(next(iter(paths))).resolve()
    file = getattr(module, "__file__", None)
    if not file:
        return None
    parent = module_name.rpartition(".")[0]
    if parent:
        return module_source_root(parent)
    return Path(file).resolve()


def object_source_roots(plugin: object, function_modules: Iterable[str]) -> tuple[str, ...]:
    """Source roots of an explicitly passed plugin: its module, or the modules defining its hook functions."""
    names = [plugin.__name__] if isinstance(plugin, types.ModuleType) else sorted(set(function_modules))
    roots = {root for root in (module_source_root(name) for name in names) if root is not None}
    return tuple(sorted(str(root) for root in roots))


def _python_files(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        return [(root.name, root)] if root.suffix == ".py" else []
    files = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        files.append((relative.as_posix(), path))
    return sorted(files)


@functools.cache
def code_hash(roots: tuple[str, ...]) -> str:
    """The first :data:`CODE_HASH_LENGTH` hex digits of sha256 over every ``.py`` file under ``roots``.

    Each file contributes its root's index, its path relative to the root and its bytes, length-delimited, in
    sorted order, so renaming, moving, adding or editing a file changes the hash. Cached per process: call
    ``code_hash.cache_clear()`` after editing sources in the same process."""
    digest = hashlib.sha256()
    for index, root in enumerate(roots):
        for relative, path in _python_files(Path(root)):
            data = path.read_bytes()
            for part in (str(index).encode(), relative.encode(), str(len(data)).encode(), data):
                digest.update(part)
                digest.update(b"\0")
    return digest.hexdigest()[:CODE_HASH_LENGTH]
