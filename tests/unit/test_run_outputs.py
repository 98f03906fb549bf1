"""A method's training report is recorded; its pictures (its predictor's ``figures()``) are written next to the
record, which lists them; bad ones make a failed record, never a half-written one."""

from __future__ import annotations

import io
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.run.execution import execute
from dabench.run.resolve import RunRequest, resolve
from dabench.run.store import ResultStore
from dabench.specs import Citation, MethodSpec


def _png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


class Drawing:
    """Predicts uniform probabilities and draws one picture (``name``, ``data``)."""

    name, data = "grid", b""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: Any, *, seeds: object, device: torch.device) -> Drawing:
        self.num_classes = task.num_classes
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros((len(x), self.num_classes))

    def figures(self) -> dict[str, bytes]:
        return {self.name: self.data}


class Good(Drawing):
    data = _png()

    def training_report(self) -> dict[str, Any]:
        return {"losses": [1.0, float("nan")], "retention": 0.97}


class BadName(Good):
    name = "../escape"


class NotPng(Drawing):
    data = b"hello"


PLUGIN = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [
            MethodSpec(name=name, build=build, paper=Citation(authors="T", title=name, year=2024))
            for name, build in (("drawing", Good), ("badname", BadName), ("notpng", NotPng))
        ]
    )
)


def _execute(method: str, root: Path) -> tuple[dict[str, Any], ResultStore]:
    registry = build_registry([("drawing", PLUGIN)])
    spec = resolve(RunRequest(method=method, dataset="synthetic", shift="noise:0.3", n_bootstrap=5), registry)
    store = ResultStore(root)
    return execute(spec, registry, store).record, store


def test_figures_are_written_and_listed(tmp_path: Path) -> None:
    record, store = _execute("drawing", tmp_path)
    assert record["status"] == "ok" and record["figures"] == ["grid"]
    path = store.figure_path(record["key"], "grid")
    assert path.read_bytes() == Good.data
    assert path.parent.name == record["key"] and not list(path.parent.glob(".*.tmp"))
    assert record["training"] == {"losses": [1.0, None], "retention": 0.97}  # strict JSON: NaN is null
    assert "training" not in _execute("notpng", tmp_path / "other")[0]


def test_bad_figures_fail_the_run_and_write_nothing(tmp_path: Path) -> None:
    for method in ("badname", "notpng"):
        record, _ = _execute(method, tmp_path / method)
        assert record["status"] == "failed" and "figures() must map names" in record["error"]
        assert "figures" not in record and not (tmp_path / method / "figures").exists()
