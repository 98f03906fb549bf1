"""``dabench run --examples``: a PNG of test images, masks and the unadapted / adapted predictions; clear errors where
no picture can be made; and segmentation on the real two-lab blood-cell masks (multi-class) end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dabench.cli import main
from tests.conftest import data_root

TINY = ["--dataset", "perlin:size=32,n_train=64,n_test=16", "--target", "perlin:mu1=0.5,mu2=0.1,size=32,n_train=64"]
FAST = ["--set", "epochs=1", "--set", "width=4", "--set", "depth=2", "--n-bootstrap", "0"]


def test_adabn_draws_unadapted_and_adapted_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "grid.png"
    argv = ["run", "--method", "adabn", *TINY, *FAST, "--store", str(tmp_path / "s"), "--examples", str(png)]
    assert main([*argv, "--examples-count", "3"]) == 0
    assert f"examples: {png}" in capsys.readouterr().out
    with Image.open(png) as image:
        width, height = image.size
    assert width > height * 4 / 3 * 0.9  # 4 columns (image, truth, unadapted, adapted) for 3 rows
    # the picture needs the model: a cached run is refused unless forced
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_source_only_draws_one_prediction_column(tmp_path: Path) -> None:
    png = tmp_path / "one.png"
    argv = ["run", "--method", "source_only", *TINY, *FAST, "--store", str(tmp_path / "s"), "--examples", str(png)]
    assert main([*argv, "--examples-count", "3"]) == 0
    with Image.open(png) as image:
        width, height = image.size
    assert width < height * 3 / 3 * 1.2  # 3 columns: image, truth, prediction


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "digits", "--set", "epochs=1"], "segmentation masks"),
        ([*TINY, *FAST], "must name a .png"),
    ],
)
def test_no_picture_is_a_clear_error(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / ("grid.jpg" if "must name" in message else "grid.png")
    code = main(["run", "--method", "source_only", *argv, "--store", str(tmp_path / "s"), "--examples", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.realdata
def test_real_two_lab_blood_cell_masks_adapt_end_to_end(tmp_path: Path) -> None:
    root = data_root()
    if root is None or not (root / "wbc_seg_zheng2018").exists():
        pytest.skip("needs the Zheng-2018 masks under DABENCH_DATA")
    store = tmp_path / "s"
    argv = ["run", "--method", "adabn", "--dataset", "wbc_zheng_seg:lab1,size=48"]
    argv += ["--target", "wbc_zheng_seg:lab2,size=48", *FAST, "--data-root", str(root), "--store", str(store)]
    assert main(argv) == 0
    (path,) = store.glob("records/*/*.json")
    record = json.loads(path.read_text())
    for domain in ("source", "target"):  # 3 classes: background, cytoplasm, nucleus — foreground Dice averages 2
        assert 0.0 <= record["metrics"][domain]["dice"]["value"] <= 1.0
        assert 0.0 < record["metrics"][domain]["foreground_fraction"]["value"] < 1.0
