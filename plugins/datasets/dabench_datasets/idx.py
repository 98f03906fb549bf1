"""The IDX file format of MNIST and Fashion-MNIST: a magic number giving the element type and rank, big-endian
dimension sizes, then the raw array. Counts come from the header (never assumed), and a file shorter or longer than
its header says is an error.

References
----------
LeCun, Y., Cortes, C., Burges, C. J. C. The MNIST database of handwritten digits, http://yann.lecun.com/exdb/mnist/.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError
from dabench_datasets.reading import read_compressed

if TYPE_CHECKING:
    import numpy as np

_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """The array stored in IDX bytes ``data`` (``name`` is used in error messages only)."""
    import numpy as np

    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _TYPES:
        raise DataError(
            f"{name} is not an IDX file: expected the magic bytes 00 00 <type> <rank> "
            f"(e.g. 00 00 08 03 for MNIST images), got {data[:4].hex(' ') or 'an empty file'}."
        )
    dtype, rank = np.dtype(_TYPES[data[2]]), data[3]
    header = 4 + 4 * rank
    if len(data) < header:
        raise DataError(f"{name} is truncated: its IDX header needs {header} bytes, the file has {len(data)}.")
    dims = struct.unpack(f">{rank}I", data[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{name} is {state}: the header says shape {dims} ({expected} bytes), the decompressed "
            f"file has {len(data)} bytes. Delete it and download it again."
        )
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed when its name ends in ``.gz``."""
    return parse_idx(read_compressed(path), str(path))
