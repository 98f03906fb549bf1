"""Provenance of a run: versions of dabench, plugins and key libraries, the device, and the git sha if any."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "pot", "scikit-learn", "pluggy")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_sha(path: Path | None = None) -> str | None:
    """The checkout's HEAD sha (with ``-dirty`` when modified), or None outside a git work tree."""
    cwd = path or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def device_description(device: Any) -> str:
    """``cpu (N threads, <processor>)`` or ``cuda (<GPU name>)``."""
    import torch

    if str(device).startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


def collect(device: Any, plugin_versions: dict[str, str]) -> dict[str, Any]:
    """Everything a record needs to say how its numbers were made."""
    from dabench import __version__

    return {
        "dabench": __version__,
        "plugins": dict(sorted(plugin_versions.items())),
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": device_description(device),
        "git": git_sha(),
    }
