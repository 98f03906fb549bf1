"""Progress: runs report each epoch through a context-local reporter (no-op by default); the CLI draws a live bar on
stderr only when it is a terminal, and stdout stays what it was."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from dabench.cli import main
from dabench.run.progress import EpochLog, EpochProgress, report_epoch, reporting
from dabench.seeding import Seeds
from dabench.testing import toy_task

TINY = ["--set", "epochs=2", "--set", "width=4", "--set", "hidden=8", "--n-bootstrap", "0"]


class TTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Explodes:
    def epoch(self, epoch: int, epochs: int, values: Any) -> None:
        raise RuntimeError("display broke")


def test_epoch_progress_reports_each_epochs_mean_loss() -> None:
    progress = EpochProgress(total=6, epochs=2)
    with reporting(EpochLog()) as log:
        for step, loss in enumerate([1.0, 2.0, 3.0, 4.0, 4.0, 4.0]):
            progress.step(step, torch.tensor(loss))
    assert log.epochs == [(1, 2, {"loss": 2.0}), (2, 2, {"loss": 4.0})]


def test_reporting_is_a_no_op_by_default_and_never_fails_a_run() -> None:
    class NoNumber:
        def item(self) -> float:
            raise AssertionError("converted although nobody listens")

    EpochProgress(total=2, epochs=1).step(1, NoNumber())
    report_epoch(1, 1, loss=NoNumber())
    with reporting(Explodes()):
        report_epoch(1, 1, loss=0.5)  # a broken display must not lose the run


def test_a_two_epoch_run_reports_two_epochs(registry) -> None:  # type: ignore[no-untyped-def]
    from dabench.run.resolve import RunRequest, resolve
    from dabench.run.runner import run

    params = {"epochs": 2, "width": 4, "hidden": 8}
    spec = resolve(RunRequest(method="source_only", dataset="synthetic", params=params, n_bootstrap=0), registry)
    with reporting(EpochLog()) as log:
        run(spec, registry)
    assert [(e, n) for e, n, _ in log.epochs] == [(1, 2), (2, 2)]
    assert all(set(values) == {"loss"} and values["loss"] > 0 for _, _, values in log.epochs)


@pytest.mark.parametrize("method", ["dann", "adabn"])
def test_builtin_methods_report_every_epoch(registry, method: str) -> None:  # type: ignore[no-untyped-def]
    spec = registry.methods.get(method)
    params = {**spec.defaults, "epochs": 2, "width": 4, "hidden": 8, "batch_size": 32}
    with reporting(EpochLog()) as log:
        spec.build(params).fit(toy_task(n=64), seeds=Seeds(0), device=torch.device("cpu"))
    assert [(e, n) for e, n, _ in log.epochs] == [(1, 2), (2, 2)]


def test_cli_run_draws_epochs_on_a_terminal_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["run", "--method", "source_only", "--dataset", "synthetic", *TINY]
    assert main([*base, "--store", str(tmp_path / "plain")]) == 0
    plain_out, plain_err = capsys.readouterr()
    assert plain_err == "" and "| target   | accuracy" in plain_out  # not a terminal: nothing drawn

    tty = TTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main([*base, "--store", str(tmp_path / "tty")]) == 0
    tty_out, _ = capsys.readouterr()
    assert "epoch 2/2" in tty.getvalue() and "loss" in tty.getvalue()
    assert tty_out.replace("tty", "plain").splitlines()[:-2] == plain_out.splitlines()[:-2]  # stdout unchanged

    quiet = TTY()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main([*base, "--store", str(tmp_path / "quiet"), "--quiet", "--threads", "1"]) == 0
    assert quiet.getvalue() == ""


def test_cli_sweep_bar_counts_done_and_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'name = "bar"\n[grid]\nmethod = ["source_only"]\ndataset = ["synthetic"]\nseed = [0, 1]\n'
        "[params]\nepochs = 2\nwidth = 4\nhidden = 8\n[options]\nn_bootstrap = 0\n"
    )
    tty = TTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["sweep", str(sweep), "--store", str(tmp_path / "store")]) == 0
    out, _ = capsys.readouterr()
    drawn = tty.getvalue()
    assert "done 2  running 0  failed 0" in drawn and "2/2" in drawn
    assert "last run" in drawn and "epoch 2/2" in drawn  # the finished run's last epoch stays on its line
    assert "[1/2] ok" in out and "[2/2] ok" in out and "done: 2 ran" in out  # the plain lines stay on stdout
