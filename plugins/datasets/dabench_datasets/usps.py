"""USPS handwritten digits (16×16 grey, official 7,291 / 2,007 split) from either published format:

* the ESL text files ``zip.train.gz`` / ``zip.test.gz``: one line per image, the label then 256 values in [-1, 1];
* the LIBSVM files ``usps.bz2`` / ``usps.t.bz2`` (torchvision's source): ``label idx:value ...`` with labels 1-10
  and values in [-1, 1].

Values map to uint8 as ``round((v + 1) * 127.5)``; both formats give the same images.

References
----------
Hull, J. J. A database for handwritten text recognition research. IEEE TPAMI 16(5), 1994.
Hastie, T., Tibshirani, R., Friedman, J. The Elements of Statistical Learning, 2nd ed., Springer, 2009 (data files).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext
from dabench_datasets.reading import dataset_folder, fetch_hint, labeled, read_compressed

if TYPE_CHECKING:
    import numpy as np

_PIXELS = 256


def _to_uint8(values: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.clip(np.round((values + 1.0) * 127.5), 0, 255).astype(np.uint8).reshape(-1, 16, 16)


def parse_esl(text: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 16, 16]`` uint8 and labels ``[N]`` from ESL ``zip.*`` text."""
    import numpy as np

    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{name} is not in the ESL zip-digit format (numbers only): {exc}.") from exc
    width = _PIXELS + 1
    if values.size == 0 or values.size % width:
        raise DataError(
            f"{name}: expected lines of 257 numbers (label + 16×16 pixels), got {values.size} numbers "
            f"in total; the file is truncated or in another format."
        )
    table = values.reshape(-1, width)
    labels = table[:, 0]
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{name}: the first number of each line must be a digit label 0-9.")
    return _to_uint8(table[:, 1:]), labels.astype(np.int64)


def parse_libsvm(text: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 16, 16]`` uint8 and labels ``[N]`` (0-9) from LIBSVM ``usps`` text (labels 1-10)."""
    import numpy as np

    lines = [line.split() for line in text.splitlines() if line.strip()]
    values = np.full((len(lines), _PIXELS), -1.0)
    labels = np.empty(len(lines), dtype=np.int64)
    try:
        for row, tokens in enumerate(lines):
            labels[row] = int(float(tokens[0])) - 1
            pairs = np.array([t.split(":") for t in tokens[1:]], dtype=np.float64).reshape(-1, 2)
            values[row, pairs[:, 0].astype(np.int64) - 1] = pairs[:, 1]
    except (ValueError, IndexError) as exc:
        raise DataError(f"{name}: line {row + 1} is not 'label index:value ...' LIBSVM text ({exc}).") from exc
    if not lines or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{name}: expected LIBSVM lines with labels 1-10, found none or labels out of range.")
    return _to_uint8(values), labels


def _read(folder: Path, esl: str, libsvm: str) -> tuple[np.ndarray, np.ndarray]:
    if (folder / esl).exists():
        return parse_esl(read_compressed(folder / esl).decode("ascii", "replace"), str(folder / esl))
    if (folder / libsvm).exists():
        return parse_libsvm(read_compressed(folder / libsvm).decode("ascii", "replace"), str(folder / libsvm))
    raise DataError(
        f"dataset 'usps': neither {folder / esl} (ESL format) nor {folder / libsvm} (LIBSVM format) "
        f"exists. {fetch_hint('usps')}"
    )


def load_usps(ctx: LoadContext) -> DatasetSplits:
    """USPS (Hull 1994): 16×16 grey digits, official 7,291 train / 2,007 test split."""
    folder = dataset_folder(ctx, "usps", "usps")
    train = _read(folder, "zip.train.gz", "usps.bz2")
    test = _read(folder, "zip.test.gz", "usps.t.bz2")
    return DatasetSplits(train=labeled(*train), test=labeled(*test), source=str(folder))
