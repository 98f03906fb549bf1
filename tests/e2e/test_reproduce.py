"""``dabench reproduce``: re-runs stored records in a temporary store and classifies every metric value."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from dabench.cli import main
from dabench.registry import build_registry
from dabench.run import provenance
from dabench.run.reproduce import (
    IDENTICAL,
    NOT_COMPARABLE,
    OUTSIDE,
    WITHIN,
    RecordCheck,
    ReproduceReport,
    check_record,
    classify,
    compare_metrics,
    incomparable_reason,
    sample_keys,
)
from dabench.runspec import RunSpec

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--method", "source_only", "--dataset", "digits", "--shift", "noise:0.8", "--set", "epochs=1"]


def snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one record made here (one epoch on digits: about a second)."""
    store = tmp_path_factory.mktemp("quick") / "store"
    assert main(["run", *QUICK, "--n-bootstrap", "50", "--store", str(store)]) == 0
    return store


def only_record(store: Path) -> Path:
    (path,) = (store / "records").glob("*/*.json")
    return path


def test_committed_record_reproduces(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = REPO / "leaderboards" / "digits_noise"
    before = snapshot(store)
    monkeypatch.chdir(REPO)
    assert main(["reproduce", "--store", "leaderboards/digits_noise", "--sample", "1"]) == 0
    text = capsys.readouterr().out
    assert "reproduce: 1 of " in text and "ok records of leaderboards/digits_noise" in text
    assert "1 identical" in text or "1 within" in text
    assert "0 outside" in text and "consistent:" in text
    now = provenance.hardware("cpu")["fingerprint"]
    assert f"hardware now:    {now}" in text or f"same machine fingerprint {now}" in text
    assert "hardware stored: " in text or "same machine fingerprint" in text
    assert snapshot(store) == before  # the committed store is never written


def test_same_machine_is_identical(quick_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--store", str(quick_store)]) == 0
    text = capsys.readouterr().out
    assert "records: 1 identical, 0 within, 0 outside" in text
    assert f"hardware: same machine fingerprint {provenance.hardware('cpu')['fingerprint']}" in text


def test_tampered_value_is_outside(quick_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    shutil.copytree(quick_store, store)
    path = only_record(store)
    record = json.loads(path.read_text())
    stored = record["metrics"]["target"]["accuracy"]
    far = 1.0 - stored["value"]  # the re-run value is far outside [far - 0.01, far + 0.01]
    stored.update(value=far, low=far - 0.01, high=far + 0.01)
    path.write_text(json.dumps(record))
    before = snapshot(store)
    assert main(["reproduce", "--store", str(store), "--sample", "1"]) == 1
    text = capsys.readouterr().out
    assert "records: 0 identical, 0 within, 1 outside" in text
    assert f"outside: {record['key'][:10]} target accuracy: stored {far:.6g}" in text
    assert "reproducibility finding" in text
    assert snapshot(store) == before


def test_other_machine_is_named(quick_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    shutil.copytree(quick_store, store)
    path = only_record(store)
    record = json.loads(path.read_text())
    hw = record["provenance"]["hardware"] | {"cpu_model": "Another CPU", "threads": 64}
    record["provenance"]["hardware"] = hw | {"fingerprint": provenance.fingerprint_of(hw)}
    path.write_text(json.dumps(record))
    assert main(["reproduce", "--store", str(store)]) == 0
    text = capsys.readouterr().out
    stored = record["provenance"]["hardware"]["fingerprint"]
    assert f"hardware stored: {stored} (Another CPU, " in text and "differs in cpu_model, threads" in text
    assert f"hardware now:    {provenance.hardware('cpu')['fingerprint']} (" in text


def test_other_component_version_is_not_comparable(
    quick_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads(only_record(quick_store).read_text())
    record["spec"]["method"]["version"] = "99"
    work = tmp_path / "work"
    work.mkdir()
    check = check_record(record, build_registry(), workdir=work)
    assert check.status == NOT_COMPARABLE and "method 'source_only' is version 1 here, 99 in the record" in check.reason
    assert not any(work.iterdir())  # nothing was run
    store = tmp_path / "store"
    shutil.copytree(quick_store, store)
    only_record(store).write_text(json.dumps(record))
    assert main(["reproduce", "--store", str(store)]) == 0
    text = capsys.readouterr().out
    assert "0 outside, 0 failed, 1 not comparable" in text and "version 1 here, 99 in the record" in text
    assert "nothing compared" in text


def test_bad_input_exits_2(tmp_path: Path, quick_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--store", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["reproduce", "--store", str(quick_store), "--sample", "0"]) == 2
    assert "--sample 0 selects nothing" in capsys.readouterr().err
    failed = tmp_path / "failed"
    shutil.copytree(quick_store, failed)
    path = only_record(failed)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"status": "failed"}))
    assert main(["reproduce", "--store", str(failed)]) == 2
    assert "no completed (ok) records" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ library parts


def test_classify() -> None:
    est = {"value": 0.5, "low": 0.4, "high": 0.6}
    assert classify(est, 0.5) == IDENTICAL
    assert classify(est, 0.5000000000000001) == WITHIN
    assert classify(est, 0.6) == WITHIN and classify(est, 0.61) == OUTSIDE and classify(est, None) == OUTSIDE
    assert classify({"value": 0.5, "low": math.nan, "high": math.nan}, 0.51) == OUTSIDE


def test_compare_metrics_covers_every_stored_value() -> None:
    stored = {"source": {"accuracy": {"value": 0.9, "low": 0.8, "high": 1.0}}, "target": {"auc": {"value": 0.7}}}
    new = {"source": {"accuracy": {"value": 0.85}}}
    checks = compare_metrics(stored, new)
    assert [(c.domain, c.metric, c.status) for c in checks] == [
        ("source", "accuracy", WITHIN),
        ("target", "auc", OUTSIDE),
    ]
    assert checks[0].delta == pytest.approx(0.05) and math.isinf(checks[1].delta)


def test_sample_keys_is_deterministic() -> None:
    keys = [f"{i:02x}" * 32 for i in range(20)]
    assert sample_keys(keys, 5, seed=1) == sample_keys(list(reversed(keys)), 5, seed=1)
    assert sample_keys(keys, 5, seed=1) != sample_keys(keys, 5, seed=2)
    assert sample_keys(keys, 5, seed=1) == sorted(sample_keys(keys, 5, seed=1))
    assert set(sample_keys(keys[:10], 3, seed=1)) <= set(sample_keys(keys, 20, seed=1))
    assert sample_keys(keys, 50) == sorted(keys) and sample_keys(keys, None) == sorted(keys)


def test_incomparable_reason_names_the_component(quick_store: Path) -> None:
    record = json.loads(only_record(quick_store).read_text())
    registry = build_registry()
    assert incomparable_reason(RunSpec.from_canonical(record["spec"]), registry) == ""
    record["spec"]["metrics"][0]["name"] = "no_such_metric"
    reason = incomparable_reason(RunSpec.from_canonical(record["spec"]), registry)
    assert reason == "metric 'no_such_metric' is not installed"


def test_report_exit_code_and_fingerprints() -> None:
    hw = {"fingerprint": "abc"}
    ok = RecordCheck("k1", "m", "s", 0, WITHIN, stored_hardware=hw)
    bad = RecordCheck("k2", "m", "s", 0, OUTSIDE)
    assert ReproduceReport(Path("."), 2, hw, (ok,)).exit_code == 0
    assert ReproduceReport(Path("."), 2, hw, (ok,)).same_machine()
    report = ReproduceReport(Path("."), 2, {"fingerprint": "def"}, (ok, bad))
    assert report.exit_code == 1 and not report.same_machine()
    assert report.stored_hardware() == {"abc": hw, "not recorded": None}
