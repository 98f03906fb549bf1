"""The study's analysis end to end: ``dabench analyze`` on a store of synthetic dann4 records writes the reports,
the paper comparison (from the analysis.json it wrote) and the figures; Fig. 9 in the paper's colours."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from study_records import record, records

from dabench.cli import main
from dabench.registry import Registry
from dabench.run.store import ResultStore
from dabench_dann_study import applies
from dabench_dann_study.curves import accuracy_curves
from dabench_dann_study.decomposition import decompose
from dabench_dann_study.domain_groups import per_domain_groups
from dabench_dann_study.figures import KIND_COLOURS, group_colours, plot_domain_boxplots
from dabench_dann_study.paper import compare, to_markdown


def _store(path: Path, rs: list[dict]) -> Path:
    store = ResultStore(path)
    for r in rs:
        r["key"] = hashlib.sha256(r["key"].encode()).hexdigest()
        store.put(r)
    return path


def test_the_study_registers_its_protocol_and_analysis(registry: Registry) -> None:
    assert registry.protocols.providers["dann4"] == "dann_study"
    assert registry.analyses.providers["dann_decomposition"] == "dann_study"
    analysis = registry.analyses.get("dann_decomposition")
    assert analysis.applies(records(n_seeds=1)) and not analysis.applies(
        [{"status": "ok", "spec": {"protocol": "uda"}}]
    )
    assert not applies([{"status": "failed", "spec": {"protocol": "dann4"}}])


def test_analyze_writes_reports_comparison_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rs = records(n_seeds=2, da_j=[0.0, 0.5, 1.0], dataset="mnist", da_dataset="mnist")
    store = _store(tmp_path / "store", rs)
    out = tmp_path / "analysis"
    assert main(["analyze", "--store", str(store), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"analysis.md", "analysis.json", "paper_comparison.md"} <= names
    assert {"accuracy_vs_test_intensity.png", "gain_heatmap_dann_mnist_mnist_noise.svg"} <= names
    data = json.loads((out / "analysis.json").read_text())
    assert (out / "paper_comparison.md").read_text() == to_markdown(compare(data))  # from the file it wrote
    assert "wrote " + str(out / "analysis.md") in capsys.readouterr().out
    first = (out / "analysis.md").read_text()
    assert main(["analyze", "--store", str(store), "--out", str(out)]) == 0
    assert (out / "analysis.md").read_text() == first  # the same records give the same files
    assert main(["analyze", "--store", str(store), "--out", str(out), "--metric", "acuracy"]) == 2
    assert "Did you mean 'accuracy'?" in capsys.readouterr().err


def test_the_default_curve_is_the_papers_convention() -> None:
    """Fig. 5a/7a: at each test intensity the DA model trained at the same DA intensity."""
    decs = decompose(records(n_seeds=2))
    curves = accuracy_curves(decs)
    assert list(curves) == ["no DA (source_only)", "DA on fashion_mnist (DA intensity = test intensity)"]
    x, mean, low, high = curves["DA on fashion_mnist (DA intensity = test intensity)"]
    assert (low <= mean).all() and (mean <= high).all()
    assert x.tolist() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    (d,) = decs
    for a, i in enumerate(x):
        assert mean[a] == d.accuracy.value[list(d.test_intensities).index(i), list(d.da_intensities).index(i)]
    best = accuracy_curves(decs, da_intensity="best")
    assert "DA on fashion_mnist (noise 0.4)" in best  # the quadratic peaks at 0.5
    assert "DA on fashion_mnist (noise 0.2)" in accuracy_curves(decs, da_intensity=0.2)


def _colour(method: str, seed: int, da: str | None, reference: str, value: float, **kw: object) -> dict:
    r = record(method, seed, {0.0: 0.9, 1.0: value}, da_j=None if da is None else 1.0, da_dataset=da or "",
               dataset="pbc", test_shift="reinhard", **kw)  # type: ignore[arg-type]  # fmt: skip
    r["spec"]["shift"][0]["options"] = {"reference": reference}
    r["key"] += reference
    return r


def test_fig9_groups_in_the_paper_order_and_colours(tmp_path: Path) -> None:
    rs = [
        _colour("source_only", 1, None, "a#0", 0.5),
        _colour("source_only", 0, None, "a#0", 0.4),
        _colour("dann", 0, "pbc", "a#0", 0.7),
        _colour("dann", 0, "wbc_zheng", "a#0", 0.6),
        _colour("dann", 0, "pbc", "b#1", 0.8),
        {"status": "failed", "spec": {}},
    ]
    groups = per_domain_groups(rs, intensity=1.0)
    assert list(groups) == ["reinhard reference=a#0", "reinhard reference=b#1"]
    assert list(groups["reinhard reference=a#0"].items()) == [
        ("no DA", [0.4, 0.5]),
        ("DA same semantics (pbc)", [0.7]),
        ("DA other semantics (wbc_zheng)", [0.6]),
    ]
    assert per_domain_groups(rs, intensity=0.0)["reinhard reference=b#1"] == {"DA same semantics (pbc)": [0.9]}
    colours = group_colours([*groups["reinhard reference=a#0"], "dann control, DA same semantics (pbc)"])
    assert list(colours.values())[:3] == ["tab:blue", "tab:green", "tab:red"]  # the caption: blue, green, red
    assert colours["dann control, DA same semantics (pbc)"] not in KIND_COLOURS.values()
    png, svg = plot_domain_boxplots(groups, tmp_path / "boxes", metric="accuracy")
    text = svg.read_text()
    assert png.stat().st_size > 1000 and "DA same semantics (pbc)" in text and "dc:date" not in text
    assert plot_domain_boxplots(groups, tmp_path / "boxes", metric="accuracy")[1].read_text() == text
    control = _colour("dann", 0, "pbc", "a#0", 0.65, params={"lambda_max": 0.0})
    labelled = per_domain_groups([*rs, control], intensity=1.0)["reinhard reference=a#0"]
    assert "dann (lambda_max=0) control, DA same semantics (pbc)" in labelled
