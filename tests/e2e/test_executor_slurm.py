"""``dabench sweep --executor slurm``: job arrays through submitit, on its test backends (``debug``: in this
process; ``local``: subprocesses) and, up to ``sbatch``, on the real SLURM backend with a fake ``sbatch`` on PATH.
The store is the only cache: completed and claimed keys are never submitted; a dead task's runs are resubmitted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from dabench.cli import main
from dabench.run.claims import ClaimTable
from dabench.run.store import ResultStore
from dabench.run.sweepfile import SweepFileError, load_sweep
from dabench.run.worker import KILL_DIR_ENV, KILL_KEY_ENV
from tests.tiny_sweeps import tiny_sweep

LINE = re.compile(r"^\[\d+/\d+\] (\w+)\s+\S+ digits \S+ seed=(\d+)", re.MULTILINE)


def sweep_file(tmp_path: Path, seeds: int = 4, methods: tuple[str, ...] = ("source_only",), extra: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_sweep("tiny", seeds, methods=methods) + textwrap.dedent(extra))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok_records(store: Path) -> list[dict]:
    records = [json.loads(p.read_text()) for p in (store / "records").glob("*/*.json")]
    return [r for r in records if r["status"] == "ok"]


def test_debug_array_runs_every_spec_and_a_resubmission_submits_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, store = sweep_file(tmp_path), tmp_path / "store"
    argv = ["sweep", str(path), "--store", str(store), "--executor", "slurm", "--slurm-cluster", "debug"]
    code, out, err = run_cli(capsys, *argv, "--chunk", "3")
    assert code == 0, err
    assert out.count("submitted job array") == 1 and "4 runs in 2 tasks" in out
    assert "done: 4 ran, 0 cached, 0 busy-then-cached, 0 failed" in out
    assert len(ok_records(store)) == 4 and not list(store.glob("claims/*.claim"))
    jobs = sorted((store / "slurm").iterdir())
    assert len(jobs) == 2  # one submitit folder per array task
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and "submitted" not in out and "done: 0 ran, 4 cached" in out
    assert sorted((store / "slurm").iterdir()) == jobs  # nothing was resubmitted


def test_local_array_resubmits_the_runs_of_a_killed_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, registry
) -> None:  # type: ignore[no-untyped-def]
    path, store = sweep_file(tmp_path), tmp_path / "store"
    victim = load_sweep(path, registry).specs[1].key()
    monkeypatch.setenv(KILL_KEY_ENV, victim[:16])  # the task running seed 1 kills itself (SIGKILL) the first time
    monkeypatch.setenv(KILL_DIR_ENV, str(tmp_path / "kills"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    argv = ["sweep", str(path), "--store", str(store), "--executor", "slurm", "--slurm-cluster", "local"]
    code, out, err = run_cli(capsys, *argv, "--chunk", "2")
    assert code == 0, err
    assert "4 runs in 2 tasks" in out and "submitted retry of" in out and "1 run in 1 task" in out
    assert "done: 4 ran, 0 cached, 0 busy-then-cached, 0 failed" in out, out
    assert Counter(m.group(1) for m in LINE.finditer(out)) == {"ok": 4}
    assert len(list((tmp_path / "kills").iterdir())) == 1  # it died once, and its rerun completed
    assert {r["key"] for r in ok_records(store)} == {s.key() for s in load_sweep(path, registry).specs}


FAKE_SBATCH = """#!/bin/sh
n=$(cat "{bin}/count" 2>/dev/null || echo 4241); n=$((n + 1)); echo "$n" > "{bin}/count"
cp "$1" "{bin}/array-$n.sh"
echo "Submitted batch job $n"
"""


def test_real_backend_submits_one_array_per_resource_group_and_skips_done_and_claimed_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, registry
) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(bin=bin_dir))
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    resources = """
    [resources]
    partition = "gpu"
    time = 30
    [resources.adabn]
    mem = 16
    gpus_per_task = 1
    cpus_per_task = 2
    """
    path = sweep_file(tmp_path, seeds=3, methods=("source_only", "adabn"), extra=resources)
    specs = load_sweep(path, registry).specs
    store = ResultStore(tmp_path / "store")
    store.put({"key": specs[0].key(), "status": "ok", "spec": specs[0].canonical()})  # completed: not submitted
    held = ClaimTable(store.root).acquire(specs[1].key())  # another live process runs it: not submitted
    assert held is not None
    with held:
        argv = ["sweep", str(path), "--store", str(store.root), "--executor", "slurm", "--max-concurrent", "1"]
        code, out, err = run_cli(capsys, *argv, "--chunk", "2", "--mem", "4")
    assert code == 0, err
    assert "skipped before submission: 1 completed, 1 running elsewhere" in out
    assert "submitted 4 runs as 2 job array(s): 4242 4243" in out
    assert f"dabench sweep {path} --status --store {store.root}" in out
    source_only, adabn = (bin_dir / "array-4242.sh").read_text(), (bin_dir / "array-4243.sh").read_text()
    assert "--array" not in source_only  # one task (seed 2 only: seeds 0 and 1 were skipped): a plain job
    assert "#SBATCH --array=0-1%1" in adabn  # 3 specs in chunks of 2, one task at a time
    for line in ("--partition=gpu", "--time=30", "--mem=4GB", "--cpus-per-task=1", "--job-name=dabench-tiny"):
        assert f"#SBATCH {line}\n" in source_only  # the command line's --mem over the file's default (8)
    for line in ("--partition=gpu", "--time=30", "--mem=16GB", "--gpus-per-task=1", "--cpus-per-task=2"):
        assert f"#SBATCH {line}\n" in adabn  # [resources.adabn] over the command line and [resources]
    assert len(ok_records(store.root)) == 1  # nothing ran here: only the hand-written record


def test_slurm_debug_beside_a_local_sweep_runs_each_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, store = sweep_file(tmp_path, seeds=6), tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    local = subprocess.Popen(
        [sys.executable, "-m", "dabench", "sweep", str(path), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    argv = ["sweep", str(path), "--store", str(store), "--executor", "slurm", "--slurm-cluster", "debug"]
    code, out, err = run_cli(capsys, *argv)
    local_out, local_err = local.communicate(timeout=120)
    assert code == 0 and local.returncode == 0, err + local_err
    ran = Counter(int(m.group(2)) for text in (out, local_out) for m in LINE.finditer(text) if m.group(1) == "ok")
    assert ran == Counter(dict.fromkeys(range(6), 1)), (out, local_out)  # every key executed exactly once
    assert len(ok_records(store)) == 6 and not list(store.glob("claims/*.claim"))


def test_missing_submitit_exits_2_saying_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    path = sweep_file(tmp_path)
    code, _, err = run_cli(capsys, "sweep", str(path), "--store", str(tmp_path / "s"), "--executor", "slurm")
    assert code == 2 and "install dabench[slurm]" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--partition", "gpu"], "--partition: for --executor slurm only"),
        (["--executor", "slurm", "--slurm-cluster", "debug", "--jobs", "2"], "--jobs applies to pool and dask"),
        (["--executor", "slurm", "--slurm-cluster", "debug", "--chunk", "0"], "--chunk"),
        (["--executor", "dask", "--wait"], "--wait: for --executor slurm only"),
    ],
)
def test_misplaced_cluster_flags_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sweep_file(tmp_path)
    code, _, err = run_cli(capsys, "sweep", str(path), "--store", str(tmp_path / "s"), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("resources", "phrase"),
    [
        ("[resources]\ntmie = 60", "unknown resources keys: 'tmie'. Did you mean 'time'?"),
        ('[resources]\ntime = "1h"', "resources.time: must be whole minutes, an integer >= 1"),
        ("[resources]\nmem = 0", "resources.mem: must be gigabytes, a number > 0"),
        ('[resources]\npartition = "a b"', "resources.partition: must be a partition name"),
        ("[resources.dann]\ntime = 5", "sets resources of method 'dann', which no grid runs"),
        ("[resources.danm]\ntime = 5", "Did you mean 'dann'?"),
        ("[resources.source_only]\ngpus = 1", "Did you mean 'gpus_per_task'?"),
        ("[resources.source_only]\ncpus_per_task = 0", "resources.source_only.cpus_per_task: must be an integer"),
    ],
)
def test_bad_resources_name_the_key(resources: str, phrase: str, tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    path = sweep_file(tmp_path, extra=resources)
    with pytest.raises(SweepFileError) as info:
        load_sweep(path, registry)
    assert phrase in str(info.value) and str(path) in str(info.value)


def test_resources_merge_most_specific_first(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    from dabench.run.resources import Resources

    extra = "[resources]\ntime = 30\nmem = 4\n[resources.adabn]\ntime = 240\n"
    sweep = load_sweep(sweep_file(tmp_path, methods=("source_only", "adabn"), extra=extra), registry)
    cli = Resources(mem=2.0, partition="cpu")
    assert sweep.resources.for_method("source_only", cli) == Resources("cpu", 30, 2.0, 0, 1)
    assert sweep.resources.for_method("adabn", cli) == Resources("cpu", 240, 2.0, 0, 1)
    assert sweep.resources.for_method("adabn") == Resources(None, 240, 4.0, 0, 1)
