"""Plugin provenance in run keys: the providing distribution, and a source hash for local installs."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from dabench.plugins import EXPLICIT
from dabench.provenance_code import code_hash, is_local_install, module_source_root, object_source_roots
from dabench.registry import build_registry
from dabench.run.resolve import RunRequest, resolve
from dabench.runspec import SCHEMA_VERSION, ComponentRef, RunSpec, ShiftStep

PLUGIN_SOURCE = """
from dabench import Citation, MethodSpec, hookimpl

PAPER = Citation(authors="A. Author", title="Twin", year=2020)


@hookimpl
def register_methods():
    return [MethodSpec(name="twin", build=lambda params: None, paper=PAPER, defaults={"lr": 0.1}, version="1")]
"""


def fake_distribution(
    root: Path, dist: str, module: str, entry: str, *, direct_url: dict[str, object] | None = None
) -> Path:
    """Write an installed distribution (``.dist-info`` + one package) under ``root``; return the package folder."""
    package = root / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    (package / "helpers.py").write_text("VALUE = 1\n")
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[dabench]\n{entry} = {module}\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return package


@pytest.fixture
def twins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two distributions, ``realtwin`` (entry point ``real``) and ``forktwin`` (``fork``), both registering
    method ``twin`` version 1 with the same defaults; ``forktwin`` is a local (``file://``) install."""
    fake_distribution(tmp_path, "realtwin", "twin_real_pkg", "real")
    fake_distribution(tmp_path, "forktwin", "twin_fork_pkg", "fork", direct_url={"url": "file:///src/fork"})
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("twin_real_pkg", "twin_fork_pkg"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def twin_spec(plugin: str) -> RunSpec:
    registry = build_registry(env={"DABENCH_PLUGINS": f"core,{plugin}"})
    return resolve(RunRequest(method="twin", dataset="synthetic", metrics=("accuracy",)), registry)


def test_same_name_and_version_from_two_distributions_get_different_keys(twins: Path) -> None:
    real, fork = twin_spec("real"), twin_spec("fork")
    assert real.method.name == fork.method.name == "twin" and real.method.version == fork.method.version == "1"
    assert real.params == fork.params
    assert real.method.plugin == "realtwin 1.0" and real.method.code == ""  # an index install: version suffices
    assert fork.method.plugin == "forktwin 1.0" and len(fork.method.code) == 16  # a file:// install is hashed
    assert real.key() != fork.key()
    assert real.canonical()["method"] == {"name": "twin", "version": "1", "plugin": "realtwin 1.0"}


def test_every_component_records_its_provider(twins: Path) -> None:
    spec = resolve(
        RunRequest(method="twin", dataset="synthetic", shift="noise:0.2", metrics=("accuracy",)),
        build_registry(env={"DABENCH_PLUGINS": "core,real"}),
    )
    for component in (spec.dataset, spec.metrics[0], spec.shift[0]):
        assert component.plugin.startswith("dabench ")  # the core plugin's distribution
    assert spec.canonical()["schema"] == SCHEMA_VERSION == 2
    assert "plugin" in spec.canonical()["shift"][0] and "plugin" in spec.canonical()["dataset"]


def test_editing_a_local_plugin_changes_its_key(twins: Path) -> None:
    before = twin_spec("fork").key()
    (twins / "twin_fork_pkg" / "helpers.py").write_text("VALUE = 2\n")
    assert twin_spec("fork").key() == before  # the hash is cached per process
    code_hash.cache_clear()
    after = twin_spec("fork").key()
    assert after != before
    (twins / "twin_real_pkg" / "helpers.py").write_text("VALUE = 2\n")
    code_hash.cache_clear()
    real = twin_spec("real")
    assert real.method.code == ""  # an index install is identified by its version alone


def test_editing_an_explicit_plugin_module_changes_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "twin_explicit_pkg").mkdir()
    (tmp_path / "twin_explicit_pkg" / "__init__.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "twin_explicit_pkg", raising=False)
    import twin_explicit_pkg  # type: ignore[import-not-found]

    def key() -> str:
        registry = build_registry([("twin", twin_explicit_pkg)], env={"DABENCH_PLUGINS": "core"})
        ref = registry.ref("method", "twin")
        assert ref.plugin == EXPLICIT and len(ref.code) == 16
        return resolve(RunRequest(method="twin", dataset="synthetic", metrics=("accuracy",)), registry).key()

    before = key()
    (tmp_path / "twin_explicit_pkg" / "extra.py").write_text("# a new file\n")
    code_hash.cache_clear()
    assert key() != before


def test_code_hash_covers_paths_and_bytes_but_not_caches_or_location(tmp_path: Path) -> None:
    def tree(root: Path, files: dict[str, str]) -> tuple[str, ...]:
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        code_hash.cache_clear()
        return (str(root),)

    base = code_hash(tree(tmp_path / "a", {"__init__.py": "x = 1\n", "sub/m.py": "y = 2\n"}))
    moved = code_hash(tree(tmp_path / "b", {"__init__.py": "x = 1\n", "sub/m.py": "y = 2\n"}))
    renamed = code_hash(tree(tmp_path / "c", {"__init__.py": "x = 1\n", "sub/n.py": "y = 2\n"}))
    assert base == moved and base != renamed and len(base) == 16
    assert code_hash(tree(tmp_path / "a", {"__pycache__/m.py": "junk", "data.txt": "not code"})) == base


def test_source_roots_hash_the_providing_package_not_the_core() -> None:
    import dabench

    builtins_root = module_source_root("dabench.builtins")
    assert builtins_root == Path(dabench.__file__).resolve().parent / "builtins"
    assert module_source_root("dabench.builtins.metrics") == builtins_root  # a plain submodule: its package
    plugin = types.SimpleNamespace(register_methods=lambda: [])
    assert object_source_roots(plugin, [__name__]) == (str(Path(__file__).resolve()),)


def test_local_install_detection(tmp_path: Path) -> None:
    from importlib import metadata

    def dist(direct_url: str | None, metadata_file: str = "METADATA") -> metadata.Distribution:
        folder = tmp_path / f"d{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (folder / metadata_file).write_text("Metadata-Version: 2.1\nName: x\nVersion: 1\n")
        if direct_url is not None:
            (folder / "direct_url.json").write_text(direct_url)
        return metadata.PathDistribution(folder)

    assert is_local_install(None)
    assert not is_local_install(dist(None))
    assert not is_local_install(dist('{"url": "https://files.example/x.whl", "archive_info": {}}'))
    assert is_local_install(dist('{"url": "https://github.com/x/y", "dir_info": {"editable": true}}'))
    assert is_local_install(dist('{"url": "file:///src/x", "dir_info": {}}'))
    assert is_local_install(dist("not json"))
    assert is_local_install(dist(None, metadata_file="PKG-INFO"))  # a legacy .egg-info checkout


SCHEMA_1 = {
    "schema": 1,
    "method": {"name": "dann", "version": "1"},
    "dataset": {"name": "wbc_zheng", "version": "1", "domain": "lab1"},
    "target": None,
    "shift": [{"name": "noise", "version": "1", "intensity": 0.8}],
    "metrics": [{"name": "accuracy", "version": "1"}],
    "params": {"epochs": 3},
    "protocol": "uda",
    "seed": 0,
    "n_bootstrap": 100,
}


def test_schema_1_records_still_load() -> None:
    spec = RunSpec.from_canonical(SCHEMA_1)
    assert spec.method == ComponentRef(name="dann", version="1")
    assert spec.dataset.domain == "lab1" and spec.shift == (ShiftStep(name="noise", version="1", intensity=0.8),)
    assert spec.canonical()["schema"] == 2 and "plugin" not in spec.canonical()["method"]


def test_schema_2_round_trips_with_providers() -> None:
    spec = RunSpec(
        method=ComponentRef(name="dann", version="1", plugin="dabench 0.1.0", code="0123456789abcdef"),
        dataset=ComponentRef(name="digits", version="1", plugin="dabench 0.1.0"),
        target=None,
        shift=(ShiftStep(name="noise", version="1", intensity=0.5, plugin="x 2", code="fedcba9876543210"),),
        metrics=(ComponentRef(name="accuracy", version="1", plugin="dabench 0.1.0"),),
        params={"lr": 0.1},
    )
    again = RunSpec.from_canonical(json.loads(json.dumps(spec.canonical())))
    assert again == spec and again.key() == spec.key()
    assert spec.canonical()["method"] == {
        "name": "dann",
        "version": "1",
        "plugin": "dabench 0.1.0",
        "code": "0123456789abcdef",
    }
    other = RunSpec.from_canonical(spec.canonical() | {"method": {"name": "dann", "version": "1", "plugin": "f 1"}})
    assert other.key() != spec.key()
