"""Every bad input of issue 8 exits 2 with one actionable ``error:`` line and stores nothing; a closed stdout, a
``--debug`` after the command and an unexpected crash behave as documented in :mod:`dabench.cli`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dabench.cli import EXIT_BROKEN_PIPE, main

RUN = ["run", "--method", "source_only", "--dataset", "digits"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, err: str, *phrases: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "unexpected" not in err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def stored(store: Path) -> list[Path]:
    return list(store.rglob("*.json")) if store.exists() else []


@pytest.mark.parametrize(
    ("extra", "phrases"),
    [
        (["--intensity", "0.5"], ["--intensity 0.5 needs a --shift", "--shift noise --intensity 0.5"]),
        (["--set", "batch_size=0"], ["batch_size=0", "batch_size >= 1", "[1, inf)"]),
        (["--set", "epochs=-1"], ["epochs=-1", "epochs >= 1"]),
        (["--set", "lr=0"], ["lr=0.0", "lr > 0", "(0, inf)"]),
        (["--set", "lr=-1"], ["lr=-1.0", "lr > 0"]),
        (["--set", "momentum=1"], ["momentum=1.0", "0 <= momentum < 1"]),
        (["--set", "width=0"], ["width=0", "width >= 1"]),
        (["--set", "epochs=inf"], ["epochs='inf'", "not a valid int"]),
        (["--n-bootstrap", "-5"], ["argument --n-bootstrap", "-5 is negative"]),
        (["--seed", "-1"], ["argument --seed", "-1 is negative"]),
        (["--seed", "1.5"], ["argument --seed", "'1.5' is not an integer"]),
        (["--intensity", "nan", "--shift", "noise"], ["argument --intensity", "not a finite number"]),
        (["--metrics", "acc"], ["unknown metric 'acc'", "Did you mean 'accuracy'?", "Valid metrics:"]),
        (["--metrics", "dice"], ["metric 'dice' is for segmentation", "Metrics for classification:"]),
        (["--target", "isbi2012"], ["target 'isbi2012' is a segmentation dataset"]),
        (["--protocol", "dann4", "--shift", "noise", "--intensity", "0.5"], ["--intensity does not apply"]),
        (["--colour", "red"], ["unrecognized arguments: --colour red", "see 'dabench --help'"]),
    ],
)
def test_bad_run_input(
    extra: list[str], phrases: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    code, _, err = run_cli(capsys, *RUN, *extra, "--store", str(store))
    assert_one_error_line(code, err, *phrases)
    assert not stored(store)


def test_usage_error_of_a_subcommand_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--method", "dann")
    assert_one_error_line(code, err, "the following arguments are required: --dataset", "see 'dabench run --help'")
    assert out == ""


VALID_GRID = '[grid]\nmethod = ["source_only"]\ndataset = ["synthetic"]\n'


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("", ["needs a [grid] table with at least `method`"]),
        ('name = "x"\n', ["needs a [grid] table"]),
        ('[grid]\ndataset = ["digits"]\n', ["grid.method", "needs a [grid] table with at least `method`"]),
        (VALID_GRID + '[options]\nprotocl = "dann4"\n', ["options", "'protocl'", "Did you mean 'protocol'?"]),
        (VALID_GRID + "[option]\nn_bootstrap = 10\n", ["[option]", "Did you mean 'options'?", "Valid keys"]),
        (VALID_GRID + "[param]\nepochs = 1\n", ["[param]", "Did you mean 'params'?"]),
        (VALID_GRID + "seeds = [1]\n", ["grid", "'seeds'", "Did you mean 'seed'?"]),
        (VALID_GRID + "seed = [1.5]\n", ["grid.seed", "integers >= 0", "seed[0] is 1.5 (a number)"]),
        (VALID_GRID + 'seed = ["a"]\n', ["grid.seed", "seed[0] is 'a' (a string)"]),
        (VALID_GRID + "seed = 3\n", ["grid.seed", "got 3 (an integer)"]),
        (VALID_GRID + '[options]\nn_bootstrap = "lots"\n', ["options.n_bootstrap", "integer >= 0", "'lots'"]),
        (VALID_GRID + '[options]\nmetrics = "accuracy"\n', ["options.metrics", "must be a list of strings"]),
        (VALID_GRID + '[options]\nmetrics = ["acc"]\n', ["options.metrics", "Did you mean 'accuracy'?"]),
        (VALID_GRID + '[params]\nepochs = "many"\n', ["params.epochs", "'many' is not a valid int"]),
        (VALID_GRID + "[params]\nepochs = 0\n", ["params.epochs", "epochs >= 1"]),
        (VALID_GRID + "[params]\nepochs = [1, 2]\n", ["params.epochs", "[grid.params]"]),
        (VALID_GRID + "[params.dann]\ngamma = 1.0\n", ["params.dann", "no grid runs"]),
        (VALID_GRID + "[grid.params]\nlr = [0.1, -1]\n", ["grid.params.lr", "lr > 0"]),
        (VALID_GRID + 'shift = ["noise:0.5+"]\n', ["grid.shift", "unknown shift ''"]),
        (VALID_GRID + 'da_shift = ["noise:0.5"]\n', ["grid.da_shift", "protocol 'uda' takes no da_shift", "(dann4)"]),
        (VALID_GRID + "[options]\ntest_intensities = [0, 1]\n", ["options.test_intensities", "dann4"]),
        ("[grid\n", ["is not valid TOML"]),
    ],
)
def test_bad_sweep_file(text: str, phrases: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, store = tmp_path / "bad.toml", tmp_path / "store"
    path.write_text(text)
    code, _, err = run_cli(capsys, "sweep", str(path), "--store", str(store))
    assert_one_error_line(code, err, f"sweep file {str(path)!r}", *phrases)
    assert not stored(store)


def test_debug_after_the_command_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--debug", "run", "--method", "dan", "--dataset", "digits"], [*RUN[:2], "dan", *RUN[3:], "--debug"]):
        code, _, err = run_cli(capsys, *argv, "--store", str(tmp_path / "s"))
        assert code == 2 and "Traceback" in err and "UnknownComponentError" in err
        assert err.strip().splitlines()[-1].startswith("error: unknown method 'dan'")
    code, _, err = run_cli(capsys, "data", "verify", "nope", "--debug")
    assert code == 2 and "Traceback" in err
    code, _, err = run_cli(capsys, *RUN[:2], "dan", *RUN[3:], "--store", str(tmp_path / "s"))
    assert "Traceback" not in err  # --debug absent after the command does not turn it on


def test_unexpected_error_is_exit_1_with_the_debug_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dabench.cli import catalog

    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "cmd_list", broken)
    code, _, err = run_cli(capsys, "list")
    assert code == 1 and err.strip() == "error: unexpected RuntimeError: boom (re-run with --debug for the traceback)"


def test_broken_pipe_is_quiet(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["list"])
    monkeypatch.undo()
    assert code == EXIT_BROKEN_PIPE == 141
    assert capsys.readouterr().err == ""


def test_broken_pipe_in_a_real_process() -> None:
    """``dabench list`` into a pipe nobody reads: exit 141, nothing on stderr (no 'Exception ignored' either)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dabench", "list"], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)
    assert result.returncode == EXIT_BROKEN_PIPE and result.stderr == ""
