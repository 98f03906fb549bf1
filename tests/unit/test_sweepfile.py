"""Sweep files: the committed ones and the documented example load; every malformed one is a :class:`SweepFileError`
naming the file and the key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dabench.run.sweepfile
from dabench.run.sweepfile import SweepFileError, expand, load_sweep

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_committed_sweeps_are_valid(path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    sweep = load_sweep(path, registry)
    assert sweep.specs and sweep.name == path.stem
    assert len({s.key() for s in sweep.specs}) == len(sweep.specs)


def test_there_are_committed_sweeps() -> None:
    assert len(SWEEPS) >= 5


def test_the_documented_example_is_valid(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    doc = dabench.run.sweepfile.__doc__ or ""
    block = doc.split("File format::\n\n", 1)[1].split("\n\n", 1)[0]
    text = re.sub(r"(?m)^    ", "", block)
    path = tmp_path / "example.toml"
    path.write_text(text)
    sweep = load_sweep(path, registry)
    # 3 methods x 3 seeds, dann twice more for its lambda_max axis (the axis skips methods without the parameter)
    assert sweep.name == "digits_noise" and len(sweep.specs) == 12
    dann = [s for s in sweep.specs if s.method.name == "dann"]
    assert {s.params["lambda_max"] for s in dann} == {0.1, 1.0} and all(s.params["gamma"] == 10.0 for s in dann)
    assert all(s.params["epochs"] == 15 and [m.name for m in s.metrics] == ["accuracy"] for s in sweep.specs)


def test_defaults_and_grids_of_tables(registry) -> None:  # type: ignore[no-untyped-def]
    specs = list(expand({"grid": {"method": ["source_only"]}}, registry))
    assert len(specs) == 1 and specs[0].dataset.name == "digits" and specs[0].shift == () and specs[0].seed == 0
    assert specs[0].n_bootstrap == 1000 and specs[0].protocol == "uda" and specs[0].target is None
    twice = {"grid": [{"method": ["source_only"]}, {"method": ["source_only", "dann"]}]}
    assert [s.method.name for s in expand(twice, registry)] == ["source_only", "dann"]  # duplicates run once


@pytest.mark.parametrize(
    ("data", "path", "phrase"),
    [
        ({}, "", "needs a [grid] table"),
        ({"grid": []}, "grid", "must be a table"),
        ({"grid": {"method": []}}, "grid.method", "at least `method`"),
        ({"grid": [{"method": ["dann"]}, {"dataset": ["digits"]}]}, "grid[1].method", "at least `method`"),
        ({"grid": [{"method": ["dann"]}, {"method": ["dann"], "sed": [1]}]}, "grid[1]", "Did you mean 'seed'?"),
        ({"grid": {"method": ["dan"]}}, "grid.method", "Did you mean 'dann'?"),
        ({"grid": {"method": ["dann"], "dataset": ["digit"]}}, "grid.dataset", "Did you mean 'digits'?"),
        ({"grid": {"method": ["dann"], "target": ["wbc_zheng:lab9"]}}, "grid.target", "no domain 'lab9'"),
        ({"grid": {"method": ["dann"], "seed": [True]}}, "grid.seed", "seed[0] is True (a boolean)"),
        ({"grid": {"method": ["dann"], "seed": [-1]}}, "grid.seed", "integers >= 0"),
        ({"grid": {"method": ["dann"], "params": []}}, "grid.params", "must be a table"),
        ({"grid": {"method": ["dann"], "params": {"nope": [1]}}}, "grid.params.nope", "no method in the grid"),
        ({"grid": {"method": ["dann"]}, "name": 3}, "name", "non-empty string"),
        ({"grid": {"method": ["dann"]}, "options": {"protocol": "dan4"}}, "options.protocol", "'dann4'"),
        ({"grid": {"method": ["dann"]}, "options": {"n_bootstrap": True}}, "options.n_bootstrap", "integer >= 0"),
        ({"grid": {"method": ["dann"]}, "options": {"interval": "wide"}}, "options.interval", "percentile, bca"),
        ({"grid": {"method": ["dann"]}, "options": {"metrics": []}}, "options.metrics", "at least one metric"),
        ({"grid": {"method": ["dann"]}, "options": {"protocol": "dann4"}}, "grid.shift", "test shift by name"),
        (
            {
                "grid": {"method": ["dann"], "shift": ["noise"]},
                "options": {"protocol": "dann4", "test_intensities": []},
            },
            "options.test_intensities",
            "non-empty list of numbers",
        ),
        (
            {"grid": {"method": ["dann"], "shift": ["noise+blur"]}, "options": {"protocol": "dann4"}},
            "grid (method 'dann', dataset 'digits', shift 'noise+blur')",
            "protocol dann4 needs one shift by name",
        ),
        ({"grid": {"method": ["dann"]}, "params": {"dann": {"epoch": 3}}}, "params.dann.epoch", "'epochs'"),
        ({"grid": {"method": ["dann"]}, "params": {"dan": {"epochs": 3}}}, "params.dan", "unknown method 'dan'"),
        ({"grid": {"method": ["adabn"]}, "params": {"gamma": 1.0}}, "params.gamma", "no method in the grid"),
        ({"grid": {"method": ["dann"]}, "params": {"momentum": 1.0}}, "params.momentum", "0 <= momentum < 1"),
    ],
)
def test_malformed_sweeps_name_file_and_key(data: dict, path: str, phrase: str, registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SweepFileError) as info:
        list(expand(data, registry, "my.toml"))
    message = str(info.value)
    assert message.startswith("sweep file 'my.toml'" + (f", {path}:" if path else ":")), message
    assert phrase in message, message


def test_shared_params_apply_only_where_they_exist(registry) -> None:  # type: ignore[no-untyped-def]
    data = {"grid": [{"method": ["adabn"]}, {"method": ["dann"]}], "params": {"gamma": 2.0, "adapt_batch_size": 8}}
    adabn, dann = expand(data, registry)
    assert adabn.params["adapt_batch_size"] == 8 and "gamma" not in adabn.params
    assert dann.params["gamma"] == 2.0 and "adapt_batch_size" not in dann.params


def test_unreadable_files(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SweepFileError, match="is not UTF-8"):
        load_sweep(binary, registry)
    with pytest.raises(SweepFileError, match="cannot be read"):
        load_sweep(tmp_path, registry)
