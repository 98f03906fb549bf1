"""Thread choice (dabench.run.threads): CPUs from affinity and cgroup quota, load sampling, overrides, and that a
run sets the thread count it records."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dabench.errors import SpecError
from dabench.run import threads


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without an applied choice or overrides and leaves torch's thread count as it found it."""
    before = torch.get_num_threads()
    previous = threads.current_threads()
    for var in (threads.ENV_VAR, "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    threads.reset_threads()
    yield
    torch.set_num_threads(before)
    threads._CURRENT = previous


def cgroup(tmp_path: Path, proc_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(proc_line)
    return root, proc


def test_cgroup_v2_quota_in_own_cgroup(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "0::/job/42\n", {"job/42/cpu.max": "150000 100000\n", "cpu.max": "max 100000\n"})
    assert threads.cgroup_cpu_limit(root, proc) == pytest.approx(1.5)


def test_cgroup_v2_max_means_no_limit(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert threads.cgroup_cpu_limit(root, proc) is None


def test_cgroup_v1_quota_and_unlimited(tmp_path: Path) -> None:
    files = {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}
    root, proc = cgroup(tmp_path, "4:cpu,cpuacct:/docker/abc\n1:memory:/docker/abc\n", files)
    assert threads.cgroup_cpu_limit(root, proc) == pytest.approx(0.5)
    unlimited = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}
    root, proc = cgroup(tmp_path / "u", "3:cpu:/\n", unlimited)
    assert threads.cgroup_cpu_limit(root, proc) is None


def test_missing_or_garbled_cgroup_files_mean_affinity_only(tmp_path: Path) -> None:
    assert threads.cgroup_cpu_limit(tmp_path / "none", tmp_path / "no_proc") is None
    root, proc = cgroup(tmp_path, "0::/\n", {"cpu.max": "lots of cpus\n"})
    assert threads.cgroup_cpu_limit(root, proc) is None
    assert threads.available_cpus(root, proc) == len(os.sched_getaffinity(0))


def test_available_cpus_is_affinity_capped_by_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: {0, 1, 2, 3, 4, 5, 6, 7})
    root, proc = cgroup(tmp_path, "0::/\n", {"cpu.max": "250000 100000\n"})
    assert threads.available_cpus(root, proc) == 3  # 2.5 CPUs of quota: 3 threads, never more than the affinity
    root, proc = cgroup(tmp_path / "small", "0::/\n", {"cpu.max": "10000 100000\n"})
    assert threads.available_cpus(root, proc) == 1
    assert threads.available_cpus(tmp_path / "none", tmp_path / "none") == 8


def test_busy_cpus_reads_proc_stat_of_the_affinity_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stat = tmp_path / "stat"
    samples = iter(
        [
            "cpu  0 0 0 0\ncpu0 100 0 0 900 0 0 0 0 0 0\ncpu1 100 0 0 900 0 0 0 0 0 0\ncpu2 0 0 0 0 0 0 0 0\n",
            "cpu  0 0 0 0\ncpu0 110 0 0 900 0 0 0 0 0 0\ncpu1 100 0 0 910 0 0 0 0 0 0\ncpu2 99 0 0 0 0 0 0 0\n",
        ]
    )
    monkeypatch.setattr(threads, "affinity_cpus", lambda: {0, 1})
    monkeypatch.setattr(threads, "_read", lambda path: next(samples))
    monkeypatch.setattr(threads, "_own_cpu_s", lambda: 0.0)
    assert threads.busy_cpus(0.0, stat) == pytest.approx(1.0)  # cpu0 fully busy, cpu1 idle, cpu2 not ours


def test_free_cpus_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda *a: 2)
    monkeypatch.setattr(threads, "affinity_cpus", lambda: {0, 1})
    for busy, expected in [(0.0, 2), (0.3, 2), (0.9, 1), (1.0, 1), (2.0, 1), (None, 2)]:
        monkeypatch.setattr(threads, "busy_cpus", lambda *a, b=busy: b)
        choice = threads.choose_threads()
        assert (choice.threads, choice.rule) == (expected, "free-cpus"), busy
    monkeypatch.setattr(threads, "busy_cpus", lambda *a: 0.0)
    assert threads.default_threads(2) == 1 and threads.choose_threads(jobs=2).rule == "jobs"
    assert threads.default_threads(4) == 1  # never 0
    with pytest.raises(SpecError, match="at least 1"):
        threads.default_threads(0)


def test_overrides_win_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "busy_cpus", lambda *a: pytest.fail("an explicit count must not sample"))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert (threads.choose_threads().threads, threads.choose_threads().rule) == (3, "OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.choose_threads() == threads.ThreadChoice(1, "DABENCH_THREADS", threads.available_cpus())
    assert threads.choose_threads(2).rule == "--threads" and threads.choose_threads(2, rule="jobs").rule == "jobs"
    monkeypatch.setenv(threads.ENV_VAR, "zero")
    with pytest.raises(SpecError, match="DABENCH_THREADS='zero' is not a thread count"):
        threads.choose_threads()


def test_ensure_applies_once_and_explicit_counts_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV_VAR, "1")
    first = threads.ensure_threads()
    assert torch.get_num_threads() == 1 and threads.current_threads() == first
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.ensure_threads() is first  # once per process
    torch.set_num_threads(2)
    assert threads.ensure_threads() is first and torch.get_num_threads() == 1  # re-applied: records say what ran
    second = threads.ensure_threads(2, rule="jobs")
    assert second.rule == "jobs" and torch.get_num_threads() == 2


def test_a_run_sets_what_it_records(registry, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from dabench.run.resolve import RunRequest, resolve
    from dabench.run.runner import run

    monkeypatch.setenv(threads.ENV_VAR, "1")
    torch.set_num_threads(2)
    params = {"epochs": 1, "width": 4, "hidden": 8}
    spec = resolve(RunRequest(method="source_only", dataset="synthetic", params=params, n_bootstrap=0), registry)
    record = run(spec, registry).to_record()
    prov = record["provenance"]
    assert prov["threading"] == {
        "threads": 1,
        "rule": "DABENCH_THREADS",
        "available": threads.available_cpus(),
        "busy": None,
    }
    assert prov["hardware"]["threads"] == 1 == torch.get_num_threads()
    assert prov["autocast"] is None and prov["channels_last"] is False  # the CUDA fast path is off on CPU
