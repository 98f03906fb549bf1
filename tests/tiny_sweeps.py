"""The tiny sweep file the executor and concurrency tests share: ``source_only`` on the bundled digits, one
epoch, a handful of bootstrap replicates — seconds per run, so the tests exercise the machinery, not training."""

from __future__ import annotations

from collections.abc import Sequence


def tiny_sweep(name: str, seeds: int, *, shift: str | None = None, methods: Sequence[str] = ("source_only",)) -> str:
    """The TOML text of a sweep of ``methods`` × ``seeds`` seeds on digits (optionally under ``shift``)."""
    method_list = ", ".join(f'"{m}"' for m in methods)
    shift_line = f'shift = ["{shift}"]\n' if shift else ""
    return (
        f'name = "{name}"\n[grid]\nmethod = [{method_list}]\ndataset = ["digits"]\n{shift_line}'
        f"seed = {list(range(seeds))}\n[params]\nepochs = 1\n[options]\nn_bootstrap = 5\n"
    )
