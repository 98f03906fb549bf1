"""The CLI end to end through ``cli.main``: run → cache hit → leaderboard, and every bad input exits 2 cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from dabench.cli import main

FAST = ["--set", "epochs=1", "--set", "width=8", "--set", "hidden=16", "--n-bootstrap", "20"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_cache_hit_force_and_leaderboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    args = [
        "run",
        "--method",
        "source_only",
        "--dataset",
        "synthetic",
        "--shift",
        "noise",
        "--intensity",
        "0.4",
        "--store",
        str(store),
        *FAST,
    ]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "| target   | accuracy" in out and "cache hit" not in out
    records = list(store.rglob("*.json"))
    assert len(records) == 1
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "cache hit" in out
    mtime = records[0].stat().st_mtime_ns
    code, out, _ = run_cli(capsys, *args, "--force")
    assert code == 0 and "cache hit" not in out and records[0].stat().st_mtime_ns != mtime
    board = tmp_path / "board.md"
    code, out, _ = run_cli(capsys, "leaderboard", "--store", str(store), "--out", str(board))
    text = board.read_text()
    assert code == 0 and "| rank" in text and "source_only" in text and "synthetic → synthetic, shift noise:0.4" in text
    assert f"dabench leaderboard --store {store} --out {board}" in text
    code, out, _ = run_cli(capsys, "leaderboard", "--store", str(store), "--out", str(board))
    assert board.read_text() == text  # regenerating gives identical bytes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--method", "dan", "--dataset", "digits"], "Did you mean 'dann'?"),
        (["run", "--method", "dann", "--dataset", "digits", "--set", "epochs"], "malformed --set"),
        (["run", "--method", "dann", "--dataset", "digits", "--set", "epochs=lots"], "not a valid int"),
        (["run", "--method", "dann", "--dataset", "digits", "--shift", "noise:40"], "out of range"),
        (["run", "--method", "dann", "--dataset", "digits", "--data-root", "/no/such/dir"], "data root"),
        (["run", "--method", "dann", "--dataset", "digits", "--device", "tpu"], "unknown device"),
        (["list", "methods"], None),
        (["leaderboard", "--store", "/no/such/store"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, *argv, *(["--store", str(tmp_path / "s")] if argv[0] == "run" else []))
    if message is None:
        assert code == 0 and "dann" in out and "source_only" in out
        return
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.startswith("error: ")
    assert not (tmp_path / "s" / "records").exists() or not list((tmp_path / "s").rglob("*.json"))


def test_unwritable_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(
        capsys, "run", "--method", "source_only", "--dataset", "synthetic", "--store", str(blocker / "s"), *FAST
    )
    assert code == 2 and "cannot write to result store" in err and "Traceback" not in err


def test_plugins_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0 and "core" in out and "loaded" in out
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and all(k in out for k in ("datasets:", "methods:", "metrics:", "shifts:", "validators:"))


def test_analyze_writes_report_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dabench.run.store import ResultStore
    from tests.unit.test_analysis import _records

    store = ResultStore(tmp_path / "store")
    for index, record in enumerate(_records(n_seeds=2)):
        store.put({**record, "key": f"{index:064x}"})
    out = tmp_path / "analysis"
    code, _, err = run_cli(capsys, "analyze", "--store", str(store.root), "--out", str(out))
    assert code == 0, err
    report = (out / "analysis.md").read_text()
    assert "reference − degradation − cost + gain" in report and "R²" in report
    assert (out / "accuracy_vs_test_intensity.png").stat().st_size > 1000
    assert list(out.glob("gain_heatmap_*.svg")) and list(out.glob("gain_surface_*.png"))
    code, _, err = run_cli(capsys, "analyze", "--store", str(tmp_path / "nothing"), "--out", str(out))
    assert code == 2 and "does not exist" in err


def test_bca_interval_and_data_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(
        capsys,
        "run",
        "--method",
        "source_only",
        "--dataset",
        "synthetic",
        "--interval",
        "bca",
        "--metrics",
        "accuracy",
        "--store",
        str(tmp_path / "s"),
        *FAST,
    )
    assert code == 0, err
    record = next((tmp_path / "s").rglob("*.json")).read_text()
    assert '"interval": "bca"' in record
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0 and "no data root set" in out and "digits" in out
    code, _, err = run_cli(capsys, "data", "verify", "mnist")
    assert code == 2 and "DABENCH_DATA" in err
    code, _, err = run_cli(capsys, "data", "verify", "mnist", "--data-root", str(tmp_path / "none"))
    assert code == 2 and "does not exist" in err
    empty = tmp_path / "root"
    (empty / "mnist").mkdir(parents=True)
    code, out, err = run_cli(capsys, "data", "verify", "mnist", "--data-root", str(empty))
    assert code == 2 and "missing" in out


def test_data_commands_on_the_shared_data(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import data_root

    root = data_root()
    if root is None:
        pytest.skip("DABENCH_DATA is not set")
    code, out, _ = run_cli(capsys, "data", "list", "--data-root", str(root))
    mnist_line = next(line for line in out.splitlines() if line.startswith("| mnist "))
    assert code == 0 and "present" in mnist_line
    code, out, err = run_cli(capsys, "data", "verify", "usps", "--data-root", str(root))
    assert code == 0, err
    assert "| ok" in out or "unchecked" in out
