"""Benefit predictors end to end: a study sweep with a ``[predictors]`` plan, ``dabench predictors evaluate`` held
out, then ``dabench advise`` on a new target using that evaluation; and the clear exits (code 2) around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dabench.cli import main

SWEEP = """
name = "tiny_pred"
[grid]
method = ["source_only", "adabn"]
dataset = ["digits"]
shift = ["gaussian_noise:0.1", "gaussian_noise:0.3", "brightness:0.2", "brightness:0.4", "gamma:0.5", "gamma:1.5"]
seed = [0]
[params]
epochs = 2
[options]
metrics = ["accuracy"]
n_bootstrap = 20
[predictors]
compute = ["all"]
method = ["adabn"]
validation = ["leave_one_shift_family_out"]
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    (root / "tiny.toml").write_text(SWEEP)
    assert main(["sweep", str(root / "tiny.toml"), "--store", str(root / "store"), "--quiet"]) == 0
    return root / "store"


def test_evaluate_writes_a_held_out_leaderboard(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "predictors", "evaluate", "--store", str(study), "--method", "adabn")[0] == 0
    folder = study / "predictors" / "adabn"
    board = (folder / "leaderboard.md").read_text()
    assert "leave one shift family out" in board and "| atc_mc" in board and "never_adapt" in board
    doc = json.loads((folder / "evaluation.json").read_text())
    assert doc["task_types"] == ["classification"] and set(doc["evaluations"]) == {"leave_one_shift_family_out"}
    evaluation = doc["evaluations"]["leave_one_shift_family_out"]
    assert sorted(evaluation["groups"]) == ["brightness", "gamma", "gaussian_noise"] and evaluation["n_units"] == 6
    assert len(list((folder / "figures" / "leave_one_shift_family_out").glob("*.png"))) >= 10
    # the same records give the same leaderboard
    assert cli(capsys, "predictors", "evaluate", "--store", str(study), "--method", "adabn")[0] == 0
    assert (folder / "leaderboard.md").read_text() == board


def test_advise_predicts_and_recommends_from_the_evaluation(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "predictors", "evaluate", "--store", str(study), "--method", "adabn")[0] == 0
    args = ["advise", "--method", "adabn", "--dataset", "digits", "--shift", "gaussian_noise:0.2", "--set", "epochs=2"]
    validation = ["--validation", str(study / "predictors"), "--store", str(tmp_path / "mine")]
    code, out, _ = cli(capsys, *args, *validation)
    assert code == 0, out
    assert "trained now" in out and "predicted target accuracy" in out and "predicted benefit of adabn" in out
    recommendation = next(line for line in out.splitlines() if line.startswith("recommendation: "))
    assert recommendation.split(": ", 1)[1] in ("adapt with adabn", "no benefit expected", "uncertain")
    assert "leave_one_shift_family_out on" in out
    code, out, _ = cli(capsys, *args, *validation)
    assert code == 0 and "loaded from" in out  # the source-only model comes from the store the second time


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "adabn", "--dataset", "perlin", "--shift", "brightness:0.3"], "no validated benefit predictor"),
        (["--method", "adabn", "--dataset", "digits"], "advise needs a target"),
        (["--method", "adabn", "--dataset", "digits", "--shift", "noise:0.5"], "no validated benefit predictor"),
    ],
)
def test_advise_exits_2_without_a_validated_predictor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "advise", *argv, "--validation", str(tmp_path), "--store", str(tmp_path / "s"))
    assert code == 2 and message in err


def test_evaluate_refuses_undeclared_or_unplanned_methods(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "predictors", "evaluate", "--store", str(study), "--method", "dann")
    assert code == 2 and "not 'dann'" in err
    (tmp_path / "records").mkdir()
    code, _, err = cli(capsys, "predictors", "evaluate", "--store", str(tmp_path), "--method", "adabn")
    assert code == 2 and "declares no benefit-predictor plan" in err
    code, _, err = cli(capsys, "predictors", "evaluate", "--store", str(tmp_path / "nope"), "--method", "adabn")
    assert code == 2 and ("not a result store" in err or "declares no" in err)


def test_compare_puts_published_errors_beside_held_out_ones(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evaluations" / "tiny"
    assert cli(capsys, "predictors", "evaluate", "--store", str(study), "--method", "adabn", "--out", str(out))[0] == 0
    published = tmp_path / "published.json"
    published.write_text('[{"predictor": "atc_ne", "quantity": "mae_pp", "value": 2.4, "setting": "S", "source": "P"}]')
    board = tmp_path / "comparison.md"
    argv = ["--published", str(published), "--evaluations", str(out.parent), "--method", "adabn", "--out", str(board)]
    code, _, _ = cli(capsys, "predictors", "compare", *argv)
    text = board.read_text()
    mae = json.loads((out / "evaluation.json").read_text())["evaluations"]["leave_one_shift_family_out"]
    atc = next(p for p in mae["predictors"] if p["name"] == "atc_ne")["mae_pp"]
    assert code == 0 and "| published: S" in text and "2.40" in text and f"{atc:.2f}" in text
    code, _, err = cli(capsys, "predictors", "compare", *argv[:-1], str(tmp_path / "c.md"), "--published", "nope.json")
    assert code == 2 and "not a readable JSON list" in err
