"""Reading a dataset's original files from the data root, with errors that name the file and say how to get it.

Every loader of this plugin goes through these helpers, so a missing data root, a missing file, a truncated gzip,
zip, tar or npz, or an undecodable image all become one :class:`dabench.DataError` line with the path, what was
expected and what to do.

Pixel values and labels pass through :func:`labeled` unchanged (no silent cast): the core checks every load
(``dabench.run.validation``: uint8 as is, lossless conversions, everything else rejected naming the file).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, LabeledSplit, LoadContext

if TYPE_CHECKING:
    import numpy as np
    import torch

_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, NotImplementedError, *_DECOMPRESS_ERRORS)


def reason(exc: BaseException) -> str:
    """An exception's message on one line (tarfile and zipfile messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def fetch_hint(dataset: str) -> str:
    """The sentence every "missing file" message ends with."""
    return f"See 'dabench data list' for where '{dataset}' looks, and 'dabench data fetch {dataset}' to download it."


def dataset_folder(ctx: LoadContext, folder: str, dataset: str) -> Path:
    """``ctx.root / folder``, or a :class:`DataError` when the data root or the folder is missing."""
    if ctx.root is None:
        raise DataError(
            f"dataset {dataset!r} reads files from the data root, but none is set: set DABENCH_DATA (or pass "
            f"--data-root) to the folder that contains '{folder}/'. {fetch_hint(dataset)}"
        )
    path = Path(ctx.root) / folder
    if not path.is_dir():
        raise DataError(
            f"dataset {dataset!r}: folder {path} does not exist (expected '{folder}/' under the data "
            f"root {ctx.root}). {fetch_hint(dataset)}"
        )
    return path


def first_existing(folder: Path, candidates: Iterable[str], *, dataset: str, what: str) -> Path:
    """The first of ``candidates`` (relative to ``folder``) that exists, or a :class:`DataError` listing them all."""
    names = list(candidates)
    for name in names:
        if (folder / name).exists():
            return folder / name
    listing = " or ".join(f"'{n}'" for n in names)
    raise DataError(f"dataset {dataset!r}: {what} not found in {folder}: expected {listing}. {fetch_hint(dataset)}")


def read_compressed(path: Path) -> bytes:
    """The decompressed bytes of ``path`` (``.gz``, ``.bz2``, ``.xz`` by suffix; anything else read as is)."""
    modules = {".gz": gzip, ".bz2": bz2, ".xz": lzma}
    try:
        module = modules.get(path.suffix)
        if module is None:
            return path.read_bytes()
        with module.open(path, "rb") as handle:  # type: ignore[attr-defined]
            return handle.read()
    except FileNotFoundError as exc:
        raise DataError(f"file {path} does not exist.") from exc
    except _DECOMPRESS_ERRORS as exc:
        raise DataError(
            f"file {path} is truncated or corrupt ({path.suffix} decompression failed: {reason(exc)}); "
            "delete it and download it again."
        ) from exc


def read_members(path: Path, keep: Callable[[str], bool]) -> dict[str, bytes]:
    """Files under a directory, or members of a tar (any compression) or zip archive, whose relative POSIX name
    satisfies ``keep``; read into memory as ``{name: bytes}``."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file() and keep(p.relative_to(path).as_posix())
        }
    try:
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            if not zipfile.is_zipfile(path):
                raise zipfile.BadZipFile("no end-of-archive record: the zip is truncated or not a zip file")
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/") and keep(n)]
                return {n: archive.read(n) for n in names}
        with tarfile.open(path, "r:*") as archive:
            out: dict[str, bytes] = {}
            for member in archive:
                if member.isfile() and keep(member.name):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        out[member.name] = handle.read()
            return out
    except FileNotFoundError as exc:
        raise DataError(f"file {path} does not exist.") from exc
    except _ARCHIVE_ERRORS as exc:
        raise DataError(
            f"archive {path} is truncated or corrupt ({reason(exc)}); delete it and download it again."
        ) from exc


def read_npz(path: Path, keys: Iterable[str], *, what: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an npz file, read in full (so a truncated member fails here, naming the file); a
    missing array is a :class:`DataError` listing what ``what`` (e.g. "a MedMNIST-format npz") must contain."""
    import numpy as np

    wanted = list(keys)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in wanted if k not in archive.files]
            if missing:
                raise DataError(
                    f"{path} is not {what}: missing {', '.join(missing)} (expected {', '.join(wanted)}; "
                    f"found {', '.join(archive.files) or 'no arrays'})."
                )
            return {k: np.asarray(archive[k]) for k in wanted}
    except FileNotFoundError as exc:
        raise DataError(f"file {path} does not exist.") from exc
    except (*_ARCHIVE_ERRORS, KeyError) as exc:
        raise DataError(
            f"{path} is truncated or not an npz file ({reason(exc)}); delete it and download it again."
        ) from exc


def decode_image(data: bytes, name: str, mode: str) -> np.ndarray:
    """Decode one image file (PNG, JPEG, BMP, TIFF, ...) to a uint8 ``[H, W]`` (mode ``L``) or ``[H, W, 3]`` array."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"image {name} cannot be decoded ({reason(exc)}); the file is truncated or not an image."
        ) from exc


def resize(array: np.ndarray, size: int, *, nearest: bool = False) -> np.ndarray:
    """Resize a uint8 ``[H, W]`` or ``[H, W, 3]`` array to ``size × size`` (bicubic, or nearest for masks)."""
    import numpy as np
    from PIL import Image

    if array.shape[0] == size and array.shape[1] == size:
        return array
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(array).resize((size, size), method), dtype=np.uint8)


def _tensor(array: np.ndarray, what: str, source: str) -> torch.Tensor:
    """``array`` as a tensor of the same values: integer labels and unsigned pixels wider than 8 bits as int64."""
    import numpy as np
    import torch

    if array.dtype.kind not in "biuf":
        where = f" in {source}" if source else ""
        raise DataError(f"{what}{where} have dtype {array.dtype}; expected numbers (uint8 pixels, integer labels).")
    if (what == "labels" and array.dtype.kind in "iu") or (array.dtype.kind == "u" and array.dtype != np.uint8):
        array = array.astype(np.int64)
    elif not array.flags.writeable:  # e.g. np.frombuffer over decompressed bytes; torch wants writable memory
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array))


def labeled(images: np.ndarray, labels: np.ndarray, *, channels_last: bool = False, source: str = "") -> LabeledSplit:
    """A :class:`LabeledSplit` from ``[N, C, H, W]`` (or ``[N, H, W, C]`` / ``[N, H, W]``) images, values unchanged
    (``source``, the file they came from, is named in errors)."""
    if images.ndim == 3:
        images = images[:, None]
    elif channels_last and images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4:
        where = f" in {source}" if source else ""
        raise DataError(f"images{where} have shape {images.shape}; expected [N, H, W], [N, H, W, C] or [N, C, H, W].")
    return LabeledSplit(images=_tensor(images, "images", source), labels=_tensor(labels, "labels", source))
