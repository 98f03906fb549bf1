"""docs/writing-a-plugin.md builds a working plugin: its marked blocks (``<!-- test: PATH -->`` before a fenced block)
are written out, pip-installed like a third-party distribution, loaded through the entry point and run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from dabench import Seeds, ShiftRandom, SpecError, testing
from dabench.registry import Registry, build_registry

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "writing-a-plugin.md"
BLOCK = re.compile(r"<!-- test: (?P<path>\S+) -->\n```[a-z]*\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)
PLUGIN_FILES = {
    "pyproject.toml",
    "dabench_coral/__init__.py",
    "dabench_coral/shifts.py",
    "dabench_coral/method.py",
    "tests/test_contract.py",
}
PUBLIC_MODULES = {"dabench", "dabench.testing", "dabench.nn.models", "dabench.nn.training", "dabench.nn.hyperparams"}


def guide_blocks() -> dict[str, str]:
    """Marked path -> the fenced code after it."""
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer(GUIDE.read_text()):
        assert match["path"] not in blocks, f"{match['path']} is marked twice in {GUIDE.name}"
        blocks[match["path"]] = match["code"]
    return blocks


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The guide's plugin, pip-installed into a temporary target that is on ``sys.path`` for this module."""
    source = tmp_path_factory.mktemp("guide") / "dabench-coral"
    for path, code in guide_blocks().items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(code)
    target = tmp_path_factory.mktemp("guide_target")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip, "--disable-pip-version-check", "--target", str(target), str(source)], capture_output=True, text=True
    )
    assert result.returncode == 0, f"the guide's pyproject.toml does not install:\n{result.stderr[-3000:]}"
    sys.path.insert(0, str(target))
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m == "dabench_coral" or m.startswith("dabench_coral.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def registry(installed: Path) -> Registry:
    return build_registry()


def test_the_guide_marks_every_plugin_file() -> None:
    assert set(guide_blocks()) == PLUGIN_FILES


def test_the_guide_plugin_uses_only_the_public_api() -> None:
    for path, code in guide_blocks().items():
        if not path.endswith(".py"):
            continue
        modules = [
            node.module
            for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dabench.")
        ]
        assert set(modules) <= PUBLIC_MODULES, f"{path} imports private modules {set(modules) - PUBLIC_MODULES}"


def test_entry_point_loads_and_components_register(registry: Registry) -> None:
    info = next(p for p in registry.plugins if p.name == "coral")
    assert (info.status, info.distribution, info.version) == ("loaded", "dabench-coral", "0.1.0"), info
    assert registry.methods.providers["deep_coral"] == "coral"
    assert registry.shifts.providers["salt_and_pepper"] == "coral"


def test_plugin_module_is_cheap_to_import(installed: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(installed)!r}); import dabench_coral; assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "'torch'" not in result.stdout, "importing the guide's plugin module imports torch"


def test_worked_method_passes_the_kit_and_beats_chance(registry: Registry) -> None:
    from dabench.nn.training import ModelPredictor

    spec = registry.methods.get("deep_coral")
    testing.check_method(spec)
    task = testing.toy_task()
    params = {**spec.defaults, **testing.FAST_PARAMS, "epochs": 8}
    predictor = spec.build(params).fit(task, seeds=Seeds(3), device=torch.device("cpu"))
    target = task.unlabeled["target"].images
    labels = torch.arange(len(target)) % task.num_classes  # toy_task's target labels (hidden from the method)
    accuracy = float((predictor.predict(target).argmax(1) == labels).float().mean())
    assert accuracy > 1 / task.num_classes + 0.25, f"deep_coral target accuracy {accuracy:.2f} is near chance"
    assert isinstance(predictor, ModelPredictor), "the guide's fit() returns a dabench.nn.training.ModelPredictor"
    assert predictor.features(target).shape[0] == len(target)


def test_worked_method_fails_a_diverging_run(registry: Registry) -> None:
    from dabench.errors import RunDiverged

    spec = registry.methods.get("deep_coral")
    params = {**spec.defaults, **testing.FAST_PARAMS, "epochs": 3, "lr": 1000.0}  # the guide's example of divergence
    with pytest.raises(RunDiverged, match=r"diverged at step \d+ of 9: loss is nan"):
        spec.build(params).fit(testing.toy_task(), seeds=Seeds(0), device=torch.device("cpu"))


def test_param_ranges_reject_a_negative_weight(registry: Registry) -> None:
    from dabench.nn.hyperparams import ParamRange

    declared = registry.methods.get("deep_coral").param_ranges["coral_weight"]
    with pytest.raises(SpecError, match="coral_weight"):
        ParamRange.of(declared).check("coral_weight", -1.0)


def test_salt_and_pepper_draws_independent_streams(registry: Registry) -> None:
    spec = registry.shifts.get("salt_and_pepper")
    testing.check_shift(spec)
    grey = torch.full((8, 3, 32, 32), 0.5)
    state = spec.prepare(dict(spec.defaults), _no_context()) if spec.prepare else spec.defaults
    out = spec.apply(grey, 0.3, ShiftRandom.for_range(5, 0, 8), state)
    flipped = out[:, 0] != 0.5
    assert abs(float(flipped.float().mean()) - 0.3) < 0.03, "the share of flipped pixels should be the intensity"
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2]), "channels flip alike"
    white = float((out[:, 0][flipped] == 1.0).float().mean())
    assert 0.45 < white < 0.55, f"{white:.0%} of flipped pixels are white; 'which' and 'colour' draws are correlated"
    assert set(out[:, 0][flipped].unique().tolist()) == {0.0, 1.0}


def test_the_pitfall_the_guide_warns_about() -> None:
    random = ShiftRandom.for_range(5, 0, 4)
    assert torch.equal(random.uniform((6,)), random.uniform((6,)))  # same call, same numbers
    assert not torch.equal(random.stream("flip").uniform((6,)), random.stream("colour").uniform((6,)))


def test_prepare_rejects_a_bad_option(registry: Registry) -> None:
    spec = registry.shifts.get("salt_and_pepper")
    assert spec.prepare is not None
    with pytest.raises(SpecError, match=r"salt=1\.5 .* \[0, 1\]"):
        spec.prepare({"salt": 1.5}, _no_context())


def test_the_plugins_own_contract_tests_pass(installed: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(guide_blocks()["tests/test_contract.py"], "tests/test_contract.py", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()


def _no_context() -> Any:
    from dabench.specs import ShiftContext

    def refuse(name: str) -> Any:
        raise AssertionError(f"salt_and_pepper must not load datasets (asked for {name!r})")

    return ShiftContext(data_root=None, load_dataset=refuse)
