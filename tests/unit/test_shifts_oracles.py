"""Shifts against independent reference implementations (scipy.ndimage, scikit-image, PIL, torchvision)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage import color

from dabench.builtins.shifts import blur, intensity, jpeg, lab, reinhard, resample, stain
from dabench.shiftrandom import ShiftRandom


def _images(n: int = 3, c: int = 3, h: int = 21, w: int = 26, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _rand(n: int) -> ShiftRandom:
    return ShiftRandom.for_range(0, 0, n)


@pytest.mark.parametrize("k", [2, 3, 4, 9, 30])
def test_box_blur_matches_scipy_uniform_filter(k: int) -> None:
    x = _images()
    expected = ndimage.uniform_filter(x.numpy(), size=(1, 1, k, k), mode="nearest")
    np.testing.assert_allclose(blur.box_blur(x, k, _rand(3)).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(blur.box_blur(x.float(), k, _rand(3)).numpy(), expected, atol=2e-6)


@pytest.mark.parametrize("sigma", [0.4, 1.0, 2.5, 7.0])
def test_gaussian_blur_matches_scipy_gaussian_filter(sigma: float) -> None:
    x = _images()
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)
    np.testing.assert_allclose(blur.gaussian_blur(x, sigma, _rand(3)).numpy(), expected, atol=1e-12)
    out32 = blur.gaussian_blur(x.float(), sigma, _rand(3)).numpy()
    np.testing.assert_allclose(out32, expected, atol=1e-5)


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def test_rgb_to_lab_matches_skimage() -> None:
    x = _images(n=4)
    x[0, :, :3] = 0.0
    x[1, :, :3] = 1.0
    x[2, :, :6] *= 0.03  # the linear parts of both piecewise curves
    expected = np.stack([color.rgb2lab(im) for im in _nhwc(x)])
    np.testing.assert_allclose(_nhwc(lab.rgb_to_lab(x)), expected, atol=1e-9)
    np.testing.assert_allclose(_nhwc(lab.rgb_to_lab(x.float()).double()), expected, atol=2e-3)


def test_lab_to_rgb_matches_skimage_including_out_of_gamut() -> None:
    values = torch.from_numpy(np.stack([color.rgb2lab(im) for im in _nhwc(_images())])).permute(0, 3, 1, 2).clone()
    values[1, 1] += 70.0
    values[2, 2] -= 130.0  # negative z, clipped like scikit-image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.stack([color.lab2rgb(im) for im in _nhwc(values)])
    np.testing.assert_allclose(_nhwc(lab.lab_to_rgb(values)), expected, atol=1e-9)
    np.testing.assert_allclose(_nhwc(lab.lab_to_rgb(values.float()).double()), expected, atol=1e-5)


def _skimage_reinhard(image: np.ndarray, target: reinhard.LabStats, t: float) -> np.ndarray:
    values = color.rgb2lab(image)
    mean, std = values.reshape(-1, 3).mean(0), values.reshape(-1, 3).std(0)
    full = (values - mean) * (np.array(target.std) / std) + np.array(target.mean)
    return color.lab2rgb((1 - t) * values + t * full)


def _in_gamut_pair() -> tuple[torch.Tensor, torch.Tensor]:
    base = blur.gaussian_blur(_images(n=4, h=32, w=32, seed=3), 1.5, _rand(4))
    images = 0.35 + 0.3 * base
    reference = (0.3 + 0.35 * base[0].flip(-1)) * torch.tensor([0.95, 0.8, 1.0], dtype=torch.float64).view(3, 1, 1)
    return images, reference


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_reinhard_matches_skimage_per_image_reference(t: float) -> None:
    images, ref_image = _in_gamut_pair()
    target = reinhard.lab_stats(ref_image)
    expected = np.stack([_skimage_reinhard(im, target, t) for im in _nhwc(images)])
    np.testing.assert_allclose(_nhwc(reinhard.reinhard(images, t, _rand(4), target)), expected, atol=1e-8)
    out32 = reinhard.reinhard(images.float(), t, _rand(4), target)
    np.testing.assert_allclose(_nhwc(out32.double()), expected, atol=5e-5)


def test_reinhard_full_intensity_gives_reference_lab_statistics() -> None:
    images, ref_image = _in_gamut_pair()
    target = reinhard.lab_stats(ref_image)
    for image in reinhard.reinhard(images.float(), 1.0, _rand(4), target):
        values = color.rgb2lab(image.permute(1, 2, 0).double().numpy()).reshape(-1, 3)
        np.testing.assert_allclose(values.mean(0), target.mean, atol=0.02)
        np.testing.assert_allclose(values.std(0), target.std, rtol=2e-3)


def test_reinhard_grey_transfers_lightness_only() -> None:
    images, ref_image = _in_gamut_pair()
    grey = images[:, :1]
    target = reinhard.lab_stats(ref_image)
    out = reinhard.reinhard(grey, 1.0, _rand(4), target)
    assert out.shape == grey.shape
    lightness = color.rgb2lab(out[0].expand(3, -1, -1).permute(1, 2, 0).numpy())[..., 0]
    assert abs(lightness.mean() - target.mean[0]) < 0.05
    assert abs(lightness.std() - target.std[0]) < 0.05


def _pil_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    arr = (image.transpose(1, 2, 0) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer), dtype=np.float64) / 255
    return decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("quality", [90, 50, 10])
def test_jpeg_round_trip_close_to_pil(channels: int, quality: int) -> None:
    x = blur.gaussian_blur(_images(n=3, h=45, w=38, seed=5), 2.0, _rand(3))[:, :channels].float()
    x = (x - x.amin((2, 3), keepdim=True)) / (x.amax((2, 3), keepdim=True) - x.amin((2, 3), keepdim=True))
    ours = jpeg.jpeg(x, 100 - quality, _rand(3)).double().numpy()
    pil = np.stack([_pil_jpeg(im, quality) for im in x.double().numpy()])
    original = np.round(x.double().numpy() * 255) / 255
    assert abs(_psnr(ours, original) - _psnr(pil, original)) < 0.3
    assert _psnr(ours, pil) > (35.0 if quality >= 50 else 28.0)  # libjpeg's integer DCT rounds differently


@pytest.mark.parametrize("quality", [5, 50, 75, 95])
def test_jpeg_quantisation_tables_match_pil(quality: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    tables = Image.open(buffer).quantization
    assert list(tables[0]) == [q for row in jpeg.quality_table(jpeg.LUMINANCE_TABLE, quality) for q in row]
    assert list(tables[1]) == [q for row in jpeg.quality_table(jpeg.CHROMINANCE_TABLE, quality) for q in row]


def test_contrast_matches_torchvision() -> None:
    tvf = pytest.importorskip("torchvision.transforms.functional")
    x = _images().float()
    for value in (-0.6, 0.8):
        expected = tvf.adjust_contrast(x, 1.0 + value)
        torch.testing.assert_close(intensity.contrast(x, value, _rand(3)), expected, atol=1e-5, rtol=0)


def test_brightness_and_gamma_formulas() -> None:
    x = _images()
    torch.testing.assert_close(intensity.brightness(x, -0.3, _rand(3)), (x - 0.3).clamp(0, 1))
    torch.testing.assert_close(intensity.gamma(x, 1.5, _rand(3)), x ** (2**1.5))


def test_random_resized_crop_matches_scipy_bilinear_resampling() -> None:
    x = _images(n=5, h=24, w=30)
    rand = ShiftRandom.for_range(8, 0, 5)
    out = resample.random_resized_crop(x, 0.6, rand, {"max_ratio": 4 / 3}).numpy()
    boxes = resample.crop_boxes(rand, 0.6, 4 / 3).double().numpy()
    h, w = x.shape[2:]
    for i, (x0, y0, bw, bh) in enumerate(boxes):
        rows = (y0 + bh * (np.arange(h) + 0.5) / h) * h - 0.5
        cols = (x0 + bw * (np.arange(w) + 0.5) / w) * w - 0.5
        grid = np.meshgrid(rows, cols, indexing="ij")
        for c in range(3):
            expected = ndimage.map_coordinates(x[i, c].numpy(), grid, order=1, mode="nearest")
            np.testing.assert_allclose(out[i, c], expected, atol=1e-6)


def test_random_resized_crop_boxes_fit_and_follow_intensity() -> None:
    rand = ShiftRandom.for_range(1, 0, 4000)
    boxes = resample.crop_boxes(rand, 0.92, 4 / 3)
    x0, y0, width, height = boxes.unbind(1)
    assert bool(((x0 >= 0) & (y0 >= 0) & (x0 + width <= 1 + 1e-6) & (y0 + height <= 1 + 1e-6)).all())
    area = width * height
    assert float(area.min()) >= 0.08 and float(area.max()) <= 1.0
    assert float(area.min()) < 0.1  # the whole torchvision range is used
    small = resample.crop_boxes(rand, 0.1, 4 / 3)
    assert float((small[:, 2] * small[:, 3]).min()) >= 0.9 - 1e-6


def test_resolution_is_exact_on_block_constant_images() -> None:
    blocks = _images(h=8, w=10)
    x = blocks.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    out = resample.resolution(x, 1.0, _rand(3), {"upsample": "nearest"})
    torch.testing.assert_close(out, x)
    smooth = resample.resolution(x, 1.0, _rand(3), {"upsample": "bilinear"})
    assert not torch.allclose(smooth, x)
    flat = torch.full((2, 3, 17, 13), 0.25)
    torch.testing.assert_close(resample.resolution(flat, 3.0, _rand(2), {}), flat)


def _synthetic_he(n: int = 4, side: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = stain.ruifrok_matrix("cpu", torch.float64)
    generator = torch.Generator().manual_seed(0)
    h = torch.rand(n, side * side, generator=generator, dtype=torch.float64)
    pure = torch.rand(n, side * side, generator=generator, dtype=torch.float64) < 0.5
    concentrations = torch.stack([h * pure, (1.2 * h + 0.3) * ~pure, torch.zeros_like(h)], dim=1)
    return stain.from_od(matrix @ concentrations).reshape(n, 3, side, side), matrix


def test_macenko_recovers_stain_vectors() -> None:
    images, truth = _synthetic_he()
    estimated = stain.macenko_matrices(stain.to_od(images).reshape(4, 3, -1))
    for k in range(2):  # haematoxylin, eosin
        cosine = (estimated[:, :, k] * truth[:, k]).sum(1)
        assert float(cosine.min()) > 0.995


def test_stain_small_intensity_is_near_identity_and_blank_images_fall_back() -> None:
    images, _ = _synthetic_he()
    out = stain.stain(images, 1e-4, _rand(4))
    assert float((out - images).abs().max()) < 2e-3
    blank = torch.ones(2, 3, 16, 16)
    assert torch.isfinite(stain.stain(blank, 0.5, _rand(2))).all()
