"""Fuzz the command line in-process: argument vectors from a vocabulary of real and near-miss names, numbers and junk,
and malformed sweep files, must end in exit 0 or 2 — never a traceback, never an "unexpected" error; an exit 2 is one
``error:`` line and stores nothing. Runs are faked (no model trains), the store is a temporary folder, and the
examples are derandomised so the counts printed at the end are the same on every run."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dabench.cli import main

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

METHODS = ["source_only", "dann", "adabn", "dan", "DANN", "source-only", "entmin", ""]
DATASETS = ["digits", "synthetic", "mnist", "usps", "pbc", "wbc_zheng:lab1", "wbc_zheng:lab9", "isbi2012", "perlin"]
DATASETS += ["digit", "pbc:64", "pbc:size=64", "black", ":", ""]
SHIFTS = ["none", "noise", "noise:0.5", "noise:0.8+blur:3", "blur:3", "blur:2.5", "noise:-1", "noise:nan", "noise:inf"]
SHIFTS += ["noise:0.5+", "+", ":", "nois:0.5", "noise:0.5,colour=red", "reinhard:1,reference=wbc_zheng:lab1#0", ""]
NUMBERS = [
    "0",
    "1",
    "-1",
    "0.5",
    "1.5",
    "-0.0",
    "1e308",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "x",
    "",
]
SETS = ["epochs=1", "batch_size=0", "batch_size=-3", "lr=0", "lr=-1", "lr=nan", "lr=1e400", "momentum=1", "width=0"]
SETS += ["epochs=inf", "epochs=1.5", "epochs=", "epochs", "=3", "foo=1", "gamma=-1", "adapt_batch_size=0", "hidden=1e9"]
METRICS = ["accuracy", "acc", "dice", "accuracy,auc", "accuracy,,auc", ",", "", "macro_f1", "top2_accuracy"]
JUNK = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)


def values(*choices: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(*(st.sampled_from(c) for c in choices), JUNK)


RUN_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "--method": values(METHODS),
    "--dataset": values(DATASETS),
    "--target": values(DATASETS),
    "--shift": values(SHIFTS),
    "--intensity": values(NUMBERS),
    "--seed": values(NUMBERS),
    "--set": values(SETS),
    "--metrics": values(METRICS),
    "--n-bootstrap": values(NUMBERS),
    "--interval": values(["percentile", "bca", "wide"]),
    "--protocol": values(["uda", "dann4", "dan4"]),
    "--da-dataset": values(DATASETS),
    "--da-shift": values(SHIFTS),
    "--test-intensities": values(["0,0.5,1", "1,3,5", "0,,1", "nan", "-1", "a,b"]),
    "--device": values(["cpu", "auto", "cuda", "cuda:7", "tpu"]),
    "--force": None,
    "--debug": None,
    "--bogus": None,
}


@st.composite
def flag_pairs(draw: st.DrawFn, options: dict[str, st.SearchStrategy[str] | None], max_size: int) -> list[str]:
    tokens: list[str] = []
    for flag in draw(st.lists(st.sampled_from(sorted(options)), max_size=max_size)):
        strategy = options[flag]
        tokens += [flag] if strategy is None else [flag, draw(strategy)]
    if draw(st.integers(0, 9)) == 0:  # now and then a stray token
        tokens.insert(draw(st.integers(0, len(tokens))), draw(JUNK))
    return tokens


#: Every flag with every vocabulary value, equally likely in "one fault" mode.
FAULTS = [[flag] for flag, strategy in RUN_OPTIONS.items() if strategy is None] + [
    [flag, value]
    for flag, vocabulary in {
        "--method": METHODS,
        "--dataset": DATASETS,
        "--target": DATASETS,
        "--shift": SHIFTS,
        "--intensity": NUMBERS,
        "--seed": NUMBERS,
        "--set": SETS,
        "--metrics": METRICS,
        "--n-bootstrap": NUMBERS,
        "--protocol": ["dann4", "dan4", ""],
        "--da-dataset": DATASETS,
        "--da-shift": SHIFTS,
        "--test-intensities": ["0,0.5,1", "nan", "a,b"],
        "--device": ["auto", "cuda", "tpu"],
    }.items()
    for value in vocabulary
]
GOOD_RUN_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "--target": st.sampled_from(["digits", "synthetic", "usps"]),
    "--shift": st.sampled_from(["none", "noise:0.5", "noise:0.8+blur:3"]),
    "--seed": st.sampled_from(["0", "1", "99999999999999999999"]),
    "--set": st.sampled_from(["epochs=1", "lr=0.5", "momentum=0", "width=1", "hidden=1e9"]),
    "--metrics": st.sampled_from(["accuracy", "accuracy,auc", "macro_f1"]),
    "--interval": st.sampled_from(["percentile", "bca"]),
    "--device": st.sampled_from(["cpu", "auto"]),
    "--force": None,
}


@st.composite
def run_argv(draw: st.DrawFn, store: str) -> list[str]:
    """``dabench run``: good values only (these reach the faked run), good values plus one flag from the whole
    vocabulary (a single fault, where a missed check shows), or anything."""
    mode = draw(st.sampled_from(["good", "one fault", "one fault", "wild"]))
    required = []
    if mode != "wild" or draw(st.integers(0, 7)):
        method = draw(values(METHODS[:3], METHODS) if mode == "wild" else st.sampled_from(METHODS[:3]))
        dataset = draw(values(DATASETS[:2], DATASETS) if mode == "wild" else st.sampled_from(DATASETS[:2]))
        required = ["--method", method, "--dataset", dataset]
    extra = draw(flag_pairs(RUN_OPTIONS if mode == "wild" else GOOD_RUN_OPTIONS, 5 if mode == "wild" else 3))
    if mode == "one fault":
        extra += draw(st.sampled_from(FAULTS))
    return ["run", "--n-bootstrap", "0", *required, *extra, "--store", store]


@st.composite
def argv(draw: st.DrawFn, root: Path) -> list[str]:
    """An argument vector for one command; paths only inside ``root``."""
    store, data = str(root / "store"), str(root / "data")
    command = draw(st.sampled_from(["run"] * 6 + ["sweep", "list", "plugins", "leaderboard", "data", "junk"]))
    if command == "run":
        return draw(run_argv(store))
    if command == "sweep":
        file = str(root / draw(st.sampled_from(["valid.toml", "invalid.toml", "missing.toml", "."])))
        extra = draw(flag_pairs({"--force": None, "--device": RUN_OPTIONS["--device"]}, 2))
        return ["sweep", file, *extra, "--store", store]
    if command == "list":
        kinds = values(["methods", "datasets", "metrics", "shifts", "validators", "method"])
        return ["list", *draw(st.lists(kinds, max_size=2))]
    if command == "leaderboard":
        where = draw(st.sampled_from([store, str(root / "nowhere"), str(root)]))
        outs = st.sampled_from([str(root / "board.md"), str(root / "outdir")])  # outdir: a folder, not writable
        extra = draw(flag_pairs({"--out": outs, "--title": JUNK}, 2))
        return ["leaderboard", "--store", where, *extra]
    if command == "data":
        action = draw(st.sampled_from(["list", "verify", "verify", "nope"]))
        name = [draw(values(["mnist", "digits", "usps", "mnst"]))] if action == "verify" else []
        root_args = draw(st.sampled_from([[], ["--data-root", data], ["--data-root", str(root / "none")]]))
        return ["data", action, *name, *root_args]
    if command == "plugins":
        return ["plugins", *draw(st.lists(JUNK, max_size=1))]
    return draw(st.lists(values(["--version", "--help", "--debug", "-h", "runn", "sweeps"]), min_size=1, max_size=3))


def fake_run(spec: Any, registry: Any, *, data_root: Path | None = None, device: str = "cpu", examples: int = 0) -> Any:
    """A well-formed result in no time: the value 0.5 for every metric on the protocol's test domains."""
    from dabench.run.protocols import domain_name
    from dabench.run.runner import RunResult
    from dabench.stats.bootstrap import Estimate

    domains = [domain_name(i) for i in spec.test_intensities] if spec.protocol == "dann4" else ["source", "target"]
    estimate = Estimate(0.5, 0.4, 0.6, spec.n_bootstrap, spec.interval)
    metrics = {d: {m.name: estimate for m in spec.metrics} for d in domains}
    return RunResult(key=spec.key(), spec=spec, metrics=metrics, timings={"total_s": 0.0, "fit_s": 0.0})


@pytest.fixture
def fuzz_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import dabench.run.runner

    monkeypatch.setattr(dabench.run.runner, "run", fake_run)
    monkeypatch.delenv("DABENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # anything written to a relative path stays in the temporary folder
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "valid.toml").write_text(
        '[grid]\nmethod = ["source_only", "dann"]\ndataset = ["synthetic"]\nshift = ["noise:0.5"]\n'
        "[options]\nn_bootstrap = 0\n"
    )
    (tmp_path / "invalid.toml").write_text('[grid]\nmethod = ["source_only"]\n[options]\nprotocl = "dann4"\n')
    yield tmp_path


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def records(root: Path) -> int:
    return sum(1 for _ in (root / "store").rglob("*.json")) if (root / "store").exists() else 0


def check(argv: list[str], root: Path, counts: Counter[int], *, file: str | None = None) -> None:
    before = records(root)
    code, _, err = call(argv)
    counts[code] += 1
    assert code in (0, 2), (argv, code, err)
    assert "unexpected" not in err, (argv, err)
    if "--debug" in argv:
        return
    assert "Traceback" not in err, (argv, err)
    lines = err.strip().splitlines()
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert records(root) == before, (argv, "an exit 2 stored a record")
        if file is not None:
            assert repr(file) in lines[0], (argv, lines[0], "the message must name the sweep file")
    else:
        assert not any(line.startswith("error") for line in lines), (argv, err)


def report(capsys: pytest.CaptureFixture[str], what: str, counts: Counter[int]) -> None:
    with capsys.disabled():
        print(f"\n{what}: {sum(counts.values())} examples, {counts[0]} exit 0, {counts[2]} exit 2")


def test_fuzz_argument_vectors(fuzz_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[int] = Counter()

    @SETTINGS
    @given(argv(fuzz_root))
    def run(vector: list[str]) -> None:
        check(vector, fuzz_root, counts)

    run()
    report(capsys, "fuzz CLI argument vectors", counts)
    assert counts[0] >= 10 and counts[2] >= 50  # both outcomes are really explored


def test_every_single_fault(fuzz_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Systematically, each vocabulary flag and value added to a good ``dabench run``: a single fault is where a
    missing check shows (random vectors usually hold several)."""
    counts: Counter[int] = Counter()
    base = ["run", "--method", "source_only", "--dataset", "synthetic", "--n-bootstrap", "0"]
    for fault in FAULTS:
        check([*base, *fault, "--store", str(fuzz_root / "store")], fuzz_root, counts)
    report(capsys, "single faults of dabench run", counts)
    assert counts[0] >= 20 and counts[2] >= 50


# ----------------------------------------------------------------------------------------------- sweep files

TOML_SCALARS = st.one_of(
    st.sampled_from(["source_only", "dann", "dan", "synthetic", "digits", "noise:0.5", "noise:77", "noise", "uda"]),
    st.sampled_from(["dann4", "accuracy", "acc", "none", "lots", "", "blur:3+noise:0.1", "noise:0.5,colour=red"]),
    st.integers(-3, 3),
    st.sampled_from([10**30, 1.5, -0.5, 0.0, 1e-9, math.nan, math.inf, -math.inf, True, False]),
)
TOML_VALUES = st.one_of(TOML_SCALARS, st.lists(TOML_SCALARS, max_size=3))
SECTIONS = ["", "grid", "options", "params", "grid.params", "params.dann", "params.dan", "option", "param", "gird"]
KEYS = ["name", "method", "dataset", "target", "shift", "seed", "da_dataset", "da_shift", "protocol", "n_bootstrap"]
KEYS += ["metrics", "interval", "test_intensities", "epochs", "lr", "batch_size", "gamma", "lambda_max", "protocl"]
KEYS += ["seeds", "methods", "grid", "params", "options"]
BASE: dict[str, Any] = {
    "grid": {"method": ["source_only"], "dataset": ["synthetic"], "seed": [0]},
    "options": {"n_bootstrap": 0},
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def to_toml(data: dict[str, Any], *, grid_tables: bool) -> str:
    """A small TOML writer for the generated shapes: top-level keys, tables, one level of sub-tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if not isinstance(table, dict):
            continue
        header = f"[[{name}]]" if name == "grid" and grid_tables else f"[{name}]"
        lines += [header, *(f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict))]
        for sub, inner in table.items():
            if isinstance(inner, dict):
                lines += [f"[{name}.{sub}]", *(f"{k} = {toml_value(v)}" for k, v in inner.items())]
    return "\n".join(lines) + "\n"


@st.composite
def sweep_texts(draw: st.DrawFn) -> str:
    """A valid small sweep with 0–3 mutations (set, delete, retype), or an empty, junk or truncated file."""
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return ""
    if shape == 1:
        return draw(st.sampled_from(["[grid\n", "grid = [\n", "= 3\n", "[grid]\nmethod = [source_only]\n", "\ufeff"]))
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(0, 3))):
        section, key = draw(st.sampled_from(SECTIONS)), draw(st.sampled_from(KEYS))
        table = data
        for part in filter(None, section.split(".")):
            table = table.setdefault(part, {}) if isinstance(table.get(part, {}), dict) else {}
        if draw(st.integers(0, 4)) == 0:
            table.pop(key, None)
        else:
            table[key] = draw(TOML_VALUES)
    return to_toml(data, grid_tables=draw(st.integers(0, 4)) == 0)


def test_fuzz_sweep_files(fuzz_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[int] = Counter()
    path = fuzz_root / "fuzz.toml"

    @SETTINGS
    @given(sweep_texts())
    def run(text: str) -> None:
        path.write_text(text)
        check(["sweep", str(path), "--store", str(fuzz_root / "store")], fuzz_root, counts, file=str(path))

    run()
    report(capsys, "fuzz sweep files", counts)
    assert counts[0] >= 10 and counts[2] >= 50


def test_every_single_key_fault_of_a_sweep_file(fuzz_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Systematically, every key of the vocabulary in every real table of a good sweep file, with a value of each
    wrong kind (a word, a fraction, a negative number, a list)."""
    counts: Counter[int] = Counter()
    path = fuzz_root / "fault.toml"
    for section, key, value in itertools.product(SECTIONS[:6], KEYS, ["lots", 1.5, -1, ["dann", 2]]):
        data = json.loads(json.dumps(BASE))
        table = data
        for part in filter(None, section.split(".")):
            table = table.setdefault(part, {})
        table[key] = value
        path.write_text(to_toml(data, grid_tables=False))
        check(["sweep", str(path), "--store", str(fuzz_root / "store")], fuzz_root, counts, file=str(path))
    report(capsys, "single key faults of a sweep file", counts)
    assert counts[2] >= 300
