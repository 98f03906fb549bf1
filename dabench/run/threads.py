"""How many torch threads a run uses: chosen from the CPUs this process may actually use, minus those other
processes keep busy.

torch's default (one intra-op thread per visible core) collapses when the cores are shared: on a 2-core machine a
LeNet step goes from 100 ms to 268 ms with one busy process beside it, because torch's threads wait for each other
at every barrier while one of them is descheduled. A single thread per busy core avoids that. The rule, applied
once per process before training (:func:`ensure_threads`):

1. an explicit count wins: ``--threads N`` (passed in), else ``DABENCH_THREADS``, else ``OMP_NUM_THREADS``;
2. otherwise ``threads = max(1, (available - busy) // jobs)`` where ``available`` is the process's CPU affinity
   capped by the cgroup CPU quota (:func:`available_cpus`) and ``busy`` the number of those CPUs other processes
   kept busy during a short sample of ``/proc/stat`` (:func:`busy_cpus`).

Interop threads are set to 1 (dabench runs one model at a time), where torch still allows it.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dabench.errors import SpecError

ENV_VAR = "DABENCH_THREADS"
_SAMPLE_S = 0.05
# A CPU counts as taken by others when they used more than this fraction of it during the sample.
_BUSY_ROUNDING = 0.6


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a process uses and why: ``rule`` is ``"--threads"``, ``"DABENCH_THREADS"``,
    ``"OMP_NUM_THREADS"``, ``"jobs"`` or ``"free-cpus"``; ``available`` the usable CPUs; ``busy`` the CPUs other
    processes kept busy (None when not sampled)."""

    threads: int
    rule: str
    available: int
    busy: float | None = None

    def as_record(self) -> dict[str, Any]:
        """The JSON-ready form stored in ``record["provenance"]["threading"]``."""
        out = asdict(self)
        if self.busy is not None:
            out["busy"] = round(self.busy, 2)
        return out


def affinity_cpus() -> set[int]:
    """The CPU ids this process may run on (``os.sched_getaffinity``; all CPUs where that is missing)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cgroup_dirs(cgroup_root: Path, proc_cgroup: Path) -> tuple[list[Path], list[Path]]:
    """Candidate v2 and v1-cpu directories for this process: its own cgroup path under the mount, then the root."""
    v2: list[Path] = []
    v1: list[Path] = []
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":
            v2.append(cgroup_root / rel)
        elif "cpu" in controllers.split(","):
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                v1.append(cgroup_root / mount / rel)
                v1.append(cgroup_root / mount)
    v2.append(cgroup_root)
    v1.extend([cgroup_root / "cpu", cgroup_root / "cpu,cpuacct"])
    return v2, v1


def cgroup_cpu_limit(
    cgroup_root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The cgroup CPU quota in CPUs (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``), or None when
    there is none or the files are missing or unreadable."""
    v2_dirs, v1_dirs = _cgroup_dirs(cgroup_root, proc_cgroup)
    for d in v2_dirs:
        text = _read(d / "cpu.max")
        if text is None:
            continue
        fields = text.split()
        if len(fields) >= 1 and fields[0] == "max":
            return None
        try:
            quota = float(fields[0])
            period = float(fields[1]) if len(fields) > 1 else 100_000.0
        except (ValueError, IndexError):
            return None
        return quota / period if quota > 0 and period > 0 else None
    for d in v1_dirs:
        quota_text, period_text = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
        if quota_text is None or period_text is None:
            continue
        try:
            quota, period = float(quota_text), float(period_text)
        except ValueError:
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The CPUs this process can actually use: its affinity, capped by the cgroup quota (rounded up; at least 1)."""
    n = max(1, len(affinity_cpus()))
    limit = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if limit is not None:
        n = min(n, max(1, math.ceil(limit - 1e-9)))
    return n


def _cpu_times(stat: Path, cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over ``cpus`` from ``/proc/stat``'s per-CPU lines."""
    text = _read(stat)
    if text is None:
        return None
    busy = total = 0.0
    seen = False
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            cpu = int(name[3:])
            values = [float(v) for v in rest.split()]
        except ValueError:
            continue
        if cpu not in cpus or len(values) < 4:
            continue
        seen = True
        idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
        # guest time (fields 9, 10) is already counted in user/nice
        all_time = sum(values[:8])
        busy += all_time - idle
        total += all_time
    return (busy, total) if seen else None


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def busy_cpus(sample_s: float = _SAMPLE_S, stat: Path = Path("/proc/stat")) -> float | None:
    """How many of this process's CPUs (its affinity) other processes kept busy over ``sample_s`` seconds, from
    ``/proc/stat`` less this process's own CPU time; None where ``/proc/stat`` is unreadable."""
    cpus = affinity_cpus()
    before, own_before, t0 = _cpu_times(stat, cpus), _own_cpu_s(), time.perf_counter()
    if before is None:
        return None
    time.sleep(sample_s)
    after, own_after, wall = _cpu_times(stat, cpus), _own_cpu_s(), time.perf_counter() - t0
    if after is None:
        return None
    total = after[1] - before[1]
    if total <= 0 or wall <= 0:
        return None
    busy = len(cpus) * (after[0] - before[0]) / total - (own_after - own_before) / wall
    return max(0.0, busy)


def _parse_count(text: str, source: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise SpecError(f"{source}={text!r} is not a thread count; give a positive integer such as 1 or 2")
    return n


def _busy_share(available: int, sample_s: float) -> float | None:
    """Others' load scaled to the ``available`` CPUs (when a cgroup quota, not the affinity, limits them, the
    busy fraction of the affinity CPUs is applied to the quota)."""
    busy = busy_cpus(sample_s)
    if busy is None:
        return None
    return busy * available / max(1, len(affinity_cpus()))


def _free_cpus(available: int, busy: float | None) -> int:
    taken = 0 if busy is None else int(busy + (1 - _BUSY_ROUNDING))
    return max(1, available - taken)


def default_threads(jobs: int = 1) -> int:
    """Threads for each of ``jobs`` processes sharing this process's CPUs: the CPUs free of other load split
    evenly, at least 1. Explicit settings (``DABENCH_THREADS``) are not consulted; see :func:`choose_threads`."""
    if jobs < 1:
        raise SpecError(f"jobs={jobs} must be at least 1")
    available = available_cpus()
    return max(1, _free_cpus(available, _busy_share(available, _SAMPLE_S)) // jobs)


def choose_threads(
    threads: int | None = None, *, jobs: int = 1, rule: str | None = None, sample_s: float = _SAMPLE_S
) -> ThreadChoice:
    """The thread count dabench's rule (module docstring) gives, with the rule that chose it. An explicit
    ``threads`` is recorded under ``rule`` (default ``"--threads"``; a process pool passes ``"jobs"``)."""
    available = available_cpus()
    if threads is not None:
        return ThreadChoice(_parse_count(str(threads), rule or "--threads"), rule or "--threads", available)
    for var in (ENV_VAR, "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            return ThreadChoice(_parse_count(value, var), var, available)
    if jobs < 1:
        raise SpecError(f"jobs={jobs} must be at least 1")
    busy = _busy_share(available, sample_s)
    n = max(1, _free_cpus(available, busy) // jobs)
    return ThreadChoice(n, "jobs" if jobs > 1 else "free-cpus", available, busy)


def apply_threads(choice: ThreadChoice) -> ThreadChoice:
    """Set torch's intra-op threads to ``choice.threads`` and its interop threads to 1 (when torch still allows
    changing them); remember the choice for :func:`current_threads`."""
    import torch

    global _CURRENT
    torch.set_num_threads(choice.threads)
    if torch.get_num_interop_threads() != 1:
        # fixed once torch has run parallel work in this process: then the existing count stays
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
    _CURRENT = choice
    return choice


_CURRENT: ThreadChoice | None = None


def current_threads() -> ThreadChoice | None:
    """The choice applied in this process, or None before :func:`ensure_threads` / :func:`apply_threads`."""
    return _CURRENT


def ensure_threads(threads: int | None = None, *, jobs: int = 1, rule: str | None = None) -> ThreadChoice:
    """Apply dabench's thread rule once per process. Without ``threads``: the first call chooses and applies, later
    calls return that choice (re-applying it if something changed torch's count since, so a record reports what
    ran). With ``threads`` (``--threads``, a pool worker's share): apply exactly that, recorded under ``rule``."""
    import torch

    current = _CURRENT
    if threads is None and current is not None:
        if torch.get_num_threads() != current.threads:
            apply_threads(current)
        return current
    return apply_threads(choose_threads(threads, jobs=jobs, rule=rule))


def reset_threads() -> None:
    """Forget the applied choice (tests), so the next :func:`ensure_threads` chooses again."""
    global _CURRENT
    _CURRENT = None
