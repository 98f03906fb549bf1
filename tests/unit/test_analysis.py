"""The ``register_analyses`` hook and ``dabench analyze``: every analysis that applies to a store's records runs,
with the metric bounds in its context; none applying is a clear error."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from dabench import AnalysisContext, AnalysisSpec, SpecError, hookimpl
from dabench.cli import main
from dabench.registry import Registry, build_registry
from dabench.run.store import ResultStore

REPO = Path(__file__).resolve().parents[2]
CONTEXTS: list[AnalysisContext] = []


def _records(n_seeds: int = 2) -> list[dict[str, Any]]:
    """Synthetic ``dann4`` records with a known decomposition, from the DANN study plugin's tests
    (``plugins/dann_study/tests/study_records.py``); ``tests/e2e/test_cli.py`` analyses them end to end."""
    module = sys.modules.get("study_records")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "study_records", REPO / "plugins" / "dann_study" / "tests" / "study_records.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["study_records"] = module
        spec.loader.exec_module(module)
    return module.records(n_seeds=n_seeds)


def count_runs(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: AnalysisContext) -> list[Path]:
    CONTEXTS.append(ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "counts.json"
    methods = sorted(r["spec"]["method"]["name"] for r in records if r["status"] == "ok")
    path.write_text(json.dumps({"methods": methods}))
    return [path]


def never(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: AnalysisContext) -> list[Path]:
    raise AssertionError("an analysis that does not apply must not run")


COUNTS = AnalysisSpec(name="counts", applies=lambda records: bool(records), run=count_runs, description="counts")
ELSEWHERE = AnalysisSpec(name="elsewhere", applies=lambda records: False, run=never)
TWIN = AnalysisSpec(name="twin", applies=lambda records: True, run=count_runs)
PLUGIN = types.SimpleNamespace(register_analyses=hookimpl(lambda: [COUNTS, ELSEWHERE]))


def _registry(*analyses: AnalysisSpec) -> Registry:
    plugin = types.SimpleNamespace(register_analyses=hookimpl(lambda: list(analyses)))
    return build_registry([("toy", plugin)], env={"DABENCH_PLUGINS": "core"})


def _store(path: Path, methods: Sequence[str]) -> Path:
    store = ResultStore(path)
    for k, method in enumerate(methods):
        key = f"{k:064x}"
        store.put({"key": key, "status": "ok", "spec": {"method": {"name": method}, "protocol": "uda"}, "metrics": {}})
    return path


def test_every_analysis_that_applies_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("dabench.cli.report.load_registry", lambda: _registry(COUNTS, ELSEWHERE))
    CONTEXTS.clear()
    store = _store(tmp_path / "store", ["dann", "source_only"])
    assert main(["analyze", "--store", str(store), "--out", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "counts.json").read_text()) == {"methods": ["dann", "source_only"]}
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'out' / 'counts.json'}"
    (ctx,) = CONTEXTS
    assert ctx.metric is None and ctx.bounds_of("accuracy") == (0.0, 1.0) and ctx.higher_is_better["accuracy"]
    assert ctx.bounds_of("unregistered") == (-float("inf"), float("inf")) and "--store" in ctx.command
    assert main(["analyze", "--store", str(store), "--out", str(tmp_path / "out"), "--metric", "macro_f1"]) == 0
    assert CONTEXTS[-1].metric == "macro_f1"


def test_none_applying_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("dabench.cli.report.load_registry", lambda: _registry(ELSEWHERE))
    store = _store(tmp_path / "store", ["dann"])
    assert main(["analyze", "--store", str(store), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no analysis applies to the 1 record(s)" in err and "elsewhere" in err and "dabench list analyses" in err
    assert main(["analyze", "--store", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_two_analyses_writing_one_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("dabench.cli.report.load_registry", lambda: _registry(COUNTS, TWIN))
    store = _store(tmp_path / "store", ["dann"])
    assert main(["analyze", "--store", str(store), "--out", str(tmp_path / "out")]) == 2
    assert "analyses 'counts' and 'twin' both write" in capsys.readouterr().err


def test_analysis_specs_are_validated_and_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SpecError, match="analysis name 'Bad Name' is invalid"):
        AnalysisSpec(name="Bad Name", applies=lambda r: True, run=count_runs)
    registry = build_registry([("toy", PLUGIN)], env={"DABENCH_PLUGINS": "core"})
    assert registry.analyses.names() == ["counts", "elsewhere"] and registry.analyses.providers["counts"] == "toy"
    monkeypatch.setattr("dabench.cli.catalog.load_registry", lambda: registry)
    assert main(["list", "analyses"]) == 0
    assert "counts             [toy] counts" in capsys.readouterr().out
