"""Helpers shared by the command modules: output (the CLI is the only layer that prints), the data root and the
registry."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dabench.errors import DataError, SpecError

if TYPE_CHECKING:
    from dabench.registry import Registry


def out(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def resolve_data_root(value: str | None) -> Path | None:
    root = value or os.environ.get("DABENCH_DATA") or None
    if root is None:
        return None
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(
            f"data root {str(path)!r} does not exist or is not a directory: pass --data-root DIR "
            "(or set DABENCH_DATA) to the folder holding the datasets; see 'dabench data list'."
        )
    return path


def load_registry() -> Registry:
    from dabench.registry import build_registry

    return build_registry()


def number(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def count(text: str) -> int:
    """argparse type: an integer >= 0 (a seed, a number of bootstrap replicates)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give a whole number >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a whole number >= 0")
    return value


def numbers(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SpecError(f"--test-intensities {text!r} must be comma-separated numbers, e.g. 0,0.5,1.") from None
