"""Provenance of a run: versions of dabench, plugins and key libraries, the device, the hardware fingerprint, and
the git sha if any.

Runs are bit-identical only on the same machine and build: the CPU's vector capability, the thread count, the torch
build and numpy's BLAS all change the last bits of floating-point results. :func:`hardware` records exactly those
(plus the CPU model and GPU name) with a short ``fingerprint`` id, so ``dabench reproduce`` can say whether a
re-run happened on the machine that made a record.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dabench.nn.training import FastPathUsage
    from dabench.run.threads import ThreadChoice

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


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's "model name" from ``/proc/cpuinfo``; ``platform.processor()`` (or the machine type) elsewhere."""
    with contextlib.suppress(OSError):  # no /proc (macOS, Windows): fall back below
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _parallel_backend() -> str | None:
    import torch

    for line in torch.__config__.parallel_info().splitlines():
        if line.startswith("ATen parallel backend:"):
            return line.partition(":")[2].strip()
    return None


def _numpy_blas() -> list[dict[str, Any]]:
    """numpy's BLAS libraries as threadpoolctl sees them (API, version, kernel architecture, threading layer)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    numpy_dir = str(Path(np.__file__).resolve().parent)
    keep = ("internal_api", "version", "architecture", "threading_layer")
    blas = [
        {k: info[k] for k in keep if k in info}
        for info in threadpool_info()
        if info.get("user_api") == "blas" and str(info.get("filepath", "")).startswith(numpy_dir)
    ]
    return sorted(blas, key=lambda b: json.dumps(b, sort_keys=True))


@functools.lru_cache(maxsize=1)
def _static_hardware() -> dict[str, Any]:
    """The parts of :func:`hardware` that cannot change within a process (computed once)."""
    import torch

    return {
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_build": {
            "version": torch.__version__,
            "git_version": torch.version.git_version,
            "debug": bool(torch.version.debug),
            "cuda": torch.version.cuda,
            "parallel_backend": _parallel_backend(),
        },
        "numpy_blas": _numpy_blas(),
    }


def fingerprint_of(fields: dict[str, Any]) -> str:
    """Short id (12 hex digits of sha256 over the sorted JSON) of a hardware description; ``fingerprint`` itself is
    left out, so the id of a stored description can be recomputed."""
    body = {k: v for k, v in fields.items() if k != "fingerprint"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def hardware(device: Any = "cpu") -> dict[str, Any]:
    """What makes floating-point results machine-specific: CPU model and vector capability, torch intra-op threads,
    torch build, numpy's BLAS, the GPU name on CUDA, and their ``fingerprint`` id. Cheap: the static parts are
    computed once per process."""
    import torch

    fields = {
        **_static_hardware(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if str(device).startswith("cuda") else None,
    }
    return {**fields, "fingerprint": fingerprint_of(fields)}


def hardware_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The fields (``fingerprint`` aside) in which two hardware descriptions differ, e.g. ``["threads"]``."""
    return sorted(k for k in (a.keys() | b.keys()) - {"fingerprint"} if a.get(k) != b.get(k))


def describe_hardware(hw: Mapping[str, Any] | None) -> str:
    """One line: ``<fingerprint> (<cpu model>, <capability>, threads=<n>, torch <version>[, <gpu>])``."""
    if not hw:
        return "not recorded"
    build = hw.get("torch_build") or {}
    threads = hw.get("threads", "?")
    parts = [str(hw.get("cpu_model", "?")), str(hw.get("cpu_capability", "?")), f"threads={threads}"]
    parts.append(f"torch {build.get('version', '?')}")
    if hw.get("gpu"):
        parts.append(str(hw["gpu"]))
    return f"{hw.get('fingerprint', '?')} ({', '.join(parts)})"


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
        "hardware": hardware(device),
        "git": git_sha(),
    }


def execution(threads: ThreadChoice | None, fast_path: FastPathUsage | None) -> dict[str, Any]:
    """How the run executed: ``threading`` (torch threads, the rule that chose them, the usable and busy CPUs —
    :mod:`dabench.run.threads`), ``autocast`` (``"bf16"`` or None) and ``channels_last`` (the CUDA fast path of
    :mod:`dabench.nn.training`)."""
    return {
        "threading": threads.as_record() if threads is not None else None,
        "autocast": fast_path.autocast if fast_path is not None else None,
        "channels_last": bool(fast_path.channels_last) if fast_path is not None else False,
    }
