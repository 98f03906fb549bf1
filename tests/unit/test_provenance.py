"""Provenance: the hardware fingerprint that says on which machine and build a record was made."""

from __future__ import annotations

from pathlib import Path

import torch

from dabench.run import provenance


def test_cpu_model_reads_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU 9000 @ 3.0GHz\nflags\t: avx\n")
    assert provenance.cpu_model(cpuinfo) == "Example CPU 9000 @ 3.0GHz"


def test_cpu_model_falls_back_without_cpuinfo(tmp_path: Path) -> None:
    assert provenance.cpu_model(tmp_path / "missing")  # platform.processor() or the machine type, never empty


def test_hardware_fields_and_fingerprint() -> None:
    hw = provenance.hardware("cpu")
    assert set(hw) == {"cpu_model", "cpu_capability", "torch_build", "numpy_blas", "threads", "gpu", "fingerprint"}
    assert hw["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert hw["threads"] == torch.get_num_threads() and hw["gpu"] is None
    build = hw["torch_build"]
    assert build["version"] == torch.__version__ and build["git_version"] == torch.version.git_version
    assert build["cuda"] == torch.version.cuda and isinstance(build["debug"], bool)
    assert all({"internal_api", "version"} <= set(blas) for blas in hw["numpy_blas"])
    assert len(hw["fingerprint"]) == 12 and hw["fingerprint"] == provenance.fingerprint_of(hw)
    assert provenance.hardware("cpu") == hw  # stable within a process


def test_fingerprint_changes_with_the_thread_count() -> None:
    before = torch.get_num_threads()
    first = provenance.hardware("cpu")
    try:
        torch.set_num_threads(before + 1)
        second = provenance.hardware("cpu")
    finally:
        torch.set_num_threads(before)
    assert second["threads"] == before + 1 and second["fingerprint"] != first["fingerprint"]


def test_hardware_is_cached_per_process() -> None:
    provenance.hardware("cpu")
    hits = provenance._static_hardware.cache_info().hits
    provenance.hardware("cpu")
    assert provenance._static_hardware.cache_info().hits == hits + 1


def test_collect_records_hardware() -> None:
    record = provenance.collect(torch.device("cpu"), {"core": "0.1.0"})
    assert record["hardware"] == provenance.hardware("cpu")
    assert record["plugins"] == {"core": "0.1.0"} and record["device"].startswith("cpu (")


def test_describe_hardware() -> None:
    hw = provenance.hardware("cpu")
    text = provenance.describe_hardware(hw)
    assert text.startswith(hw["fingerprint"] + " (") and f"threads={hw['threads']}" in text
    assert provenance.describe_hardware(None) == "not recorded"


def test_hardware_differences_names_the_fields() -> None:
    hw = provenance.hardware("cpu")
    other = hw | {"threads": hw["threads"] + 1, "fingerprint": "x"}
    assert provenance.hardware_differences(hw, other) == ["threads"]
    assert provenance.hardware_differences(hw, hw) == []
