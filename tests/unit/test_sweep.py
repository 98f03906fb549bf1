from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dabench.errors import DabenchError, SpecError
from dabench.hookspecs import hookimpl
from dabench.registry import build_registry
from dabench.specs import Citation, MethodSpec
from dabench.store import ResultStore
from dabench.sweep import load_sweep, run_sweep


class Exploding:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def fit(self, task: object, **kwargs: object) -> object:
        raise FloatingPointError("loss became NaN")


BOOM = types.SimpleNamespace(
    register_methods=hookimpl(
        lambda: [
            MethodSpec(
                name="boom", build=Exploding, paper=Citation(authors="T", title="t", year=2024), defaults={"epochs": 1}
            )
        ]
    )
)

SWEEP = """
name = "tiny"
[grid]
method = ["source_only", "boom"]
dataset = ["synthetic"]
shift = ["noise:0.2", "noise:0.6"]
seed = [0]
[params]
epochs = 1
width = 8
hidden = 16
[options]
n_bootstrap = 10
"""


def test_sweep_runs_records_failures_and_resumes(tmp_path: Path) -> None:
    registry = build_registry([("boom", BOOM)])
    path = tmp_path / "s.toml"
    path.write_text(SWEEP)
    sweep = load_sweep(path, registry)
    assert len(sweep.specs) == 4 and sweep.name == "tiny"
    store = ResultStore(tmp_path / "store")
    seen = []
    outcomes = run_sweep(sweep, registry, store, data_root=None, device="cpu", on_progress=seen.append)
    assert sorted(o.status for o in outcomes) == ["failed", "failed", "ok", "ok"]
    failed = [o.record for o in outcomes if o.status == "failed"]
    assert all("FloatingPointError: loss became NaN" in r["error"] for r in failed)
    assert [p.index for p in seen] == [1, 2, 3, 4] and seen[-1].eta_s == 0
    again = run_sweep(sweep, registry, store, data_root=None, device="cpu")
    assert sorted(o.status for o in again) == ["cached", "cached", "failed", "failed"]  # failures are retried


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nmethod = 'dann'", "must be a list"),
        ("[grid]\nmethods = ['dann']", "unknown grid keys"),
        ("[grid]\nmethod = ['dan']", "Did you mean 'dann'"),
        ("[grid]\nshift = ['noise:77']", "out of range"),
        ("[grid\n", "not valid TOML"),
        ("[grid]\nmethod = ['dann']\n[params.dann]\nepoch = 3", "Did you mean 'epochs'"),
        ("[grid]\nmethod = ['dann']\n[params]\nlearning_rate = 3", "no method in the grid has parameter"),
        ("[grid]\nmethod = ['dann']\n[grid.params]\nlr = 0.1", "must be a non-empty list"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, registry, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DabenchError, match=message):
        load_sweep(path, registry)


def test_missing_sweep_file(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match="does not exist"):
        load_sweep(tmp_path / "nope.toml", registry)
