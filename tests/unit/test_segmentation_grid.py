"""dabench.report.segmentation_grid: the image / ground truth / predictions PNG, its Dice titles, palette, input
checks and reproducible bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dabench.errors import SpecError
from dabench.report.figures import DPI
from dabench.report.segmentation_grid import PANEL_INCHES, foreground_dice, palette, write_prediction_grid


def _inputs(k: int = 3, channels: int = 1) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    images = rng.random((k, channels, 16, 16))
    masks = np.zeros((k, 16, 16), dtype=np.int64)
    masks[:, 4:12, 4:12] = 1
    predictions = {"unadapted": np.ones_like(masks), "adapted": masks.copy()}  # all white, then right
    return images, masks, predictions


def test_grid_is_written_readable_and_reproducible(tmp_path: Path) -> None:
    images, masks, predictions = _inputs()
    path = write_prediction_grid(tmp_path / "sub" / "grid.png", images, masks, predictions, title="perlin")
    assert path == tmp_path / "sub" / "grid.png"
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
        assert "Software" not in png.info
        pixels = np.asarray(png.convert("RGB"))
    # 4 columns (image, truth, 2 predictions) by 3 rows of panels, plus the title
    assert abs(width - 4 * PANEL_INCHES * DPI) <= 2 and height > 3 * PANEL_INCHES * DPI
    assert (pixels == 0).all(axis=2).any() and (pixels == 255).all(axis=2).any()  # black and white mask pixels
    again = write_prediction_grid(tmp_path / "again.png", images, masks, predictions, title="perlin")
    assert again.read_bytes() == path.read_bytes()
    other = write_prediction_grid(tmp_path / "other.png", images, masks, predictions, title="other")
    assert other.read_bytes() != path.read_bytes()


def test_rgb_multiclass_with_names(tmp_path: Path) -> None:
    images, masks, _ = _inputs(k=2, channels=3)
    masks[:, :2] = 2
    path = write_prediction_grid(
        tmp_path / "rgb.png", images, masks, {"prediction": masks}, class_names=("background", "cell", "nucleus")
    )
    with Image.open(path) as png:
        colours = {tuple(c) for c in np.asarray(png.convert("RGB")).reshape(-1, 3)}
    assert {tuple(c) for c in (palette(3) * 255).round().astype(int).tolist()} <= colours


def test_dice_and_palette() -> None:
    truth = np.array([[0, 1, 1, 2]])
    assert foreground_dice(truth, truth) == 1.0
    assert foreground_dice(truth, np.zeros_like(truth)) == 0.0
    assert foreground_dice(truth, np.array([[0, 1, 2, 2]])) == pytest.approx(2 * 2 / 6)  # classes 1 and 2 pooled
    assert np.isnan(foreground_dice(np.zeros((2, 2)), np.zeros((2, 2))))
    assert palette(2).tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    many = palette(5)
    assert many[0].tolist() == [0.0, 0.0, 0.0] and len({tuple(c) for c in many}) == 5


def test_mismatches_are_spec_errors(tmp_path: Path) -> None:
    images, masks, predictions = _inputs()
    out = tmp_path / "bad.png"
    with pytest.raises(SpecError, match=r"prediction 'adapted' has shape \(3, 16, 8\); expected \[K, H, W\]"):
        write_prediction_grid(out, images, masks, {**predictions, "adapted": masks[:, :, :8]})
    with pytest.raises(SpecError, match=r"masks has shape \(2, 16, 16\)"):
        write_prediction_grid(out, images, masks[:2], predictions)
    with pytest.raises(SpecError, match=r"images have shape \(3, 2, 16, 16\)"):
        write_prediction_grid(out, np.zeros((3, 2, 16, 16)), masks, predictions)
    with pytest.raises(SpecError, match=r"in \[0, 1\].*got 0.0767 to 255"):
        write_prediction_grid(out, images * 255, masks, predictions)
    with pytest.raises(SpecError, match=r"dtype float64; expected integer class ids"):
        write_prediction_grid(out, images, masks.astype(float), predictions)
    with pytest.raises(SpecError, match=r"class id 1 but 1 class_names"):
        write_prediction_grid(out, images, masks, predictions, class_names=("background",))
    with pytest.raises(SpecError, match=r"must name a \.png file"):
        write_prediction_grid(tmp_path / "grid.svg", images, masks, predictions)
    assert not out.exists()
