"""analysis.md and analysis.json: deterministic, escaped, flags computed, headers from the data they show."""

from __future__ import annotations

import json

from study_records import TEST_I, record, records

from dabench_dann_study.claims import key_claim
from dabench_dann_study.decomposition import decompose
from dabench_dann_study.domain_groups import domain_rows
from dabench_dann_study.fits import fit_all
from dabench_dann_study.report import to_markdown
from dabench_dann_study.serialise import to_json

ACCURACY = (0.0, 1.0)


def _tables(text: str) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line.replace("\\|", ""))
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def test_markdown_is_deterministic_and_escapes_pipes() -> None:
    rs = records(n_seeds=2, da_dataset="fash|ion")
    decs = decompose(rs, bounds=ACCURACY)
    fits, claims = fit_all(decs), [key_claim(d) for d in decs]
    text = to_markdown(decs, fits, claims)
    again = decompose(list(reversed(rs)), bounds=ACCURACY)
    assert text == to_markdown(again, fit_all(again), [key_claim(d) for d in again])
    assert "fash\\|ion" in text and "fash|ion" not in text.replace("fash\\|ion", "")
    tables = _tables(text)
    assert len(tables) == 6  # degradation, cost, gain, net benefit, fits, key claims
    for table in tables:  # an unescaped | would add a column to some rows
        assert len({line.count("|") for line in table}) == 1
    assert "Largest observed gain" in text and "converged" in text and "net benefit over source_only" in text
    assert "in [0, 1]" in text and "Key claim" in text


def test_significance_is_a_flag_in_markdown_and_json() -> None:
    decs = decompose(records(n_seeds=3), bounds=ACCURACY)
    data = to_json(decs, fit_all(decs), [key_claim(d) for d in decs])
    (item,) = data["decompositions"]
    gain = item["gain"]
    for row_v, row_lo, row_hi, row_sig in zip(
        gain["value"], gain["low"], gain["high"], gain["significant"], strict=True
    ):
        for v, lo, hi, sig in zip(row_v, row_lo, row_hi, row_sig, strict=True):
            assert sig == (lo > 1e-9 or hi < -1e-9), (v, lo, hi, sig)
    assert item["gain"]["significant"][0] == [False] * 6  # gain at no test shift is exactly 0
    assert any(any(row) for row in item["net_benefit"]["significant"])
    assert "significant" not in item["reference"] and item["gain_over_control"] is None
    text = to_markdown(decs)
    (gain_table,) = [t for t in _tables(text) if t[0].startswith("| gain: test")]
    peak = next(line for line in gain_table if line.startswith("| 0.9 "))
    assert peak.count("\\*") >= 5  # the gain peaks at test 0.9: flagged at (nearly) every DA intensity


def test_collapse_flags_sit_beside_the_gain() -> None:
    rs = records(n_seeds=2, da_j=[0.5])
    for r in rs:
        r["validators"] = {"test@1.2": {"collapsed": 1.0}, "test@0": {"collapsed": 0.0}}
    decs = decompose(rs, bounds=ACCURACY)
    text = to_markdown(decs)
    assert "(collapsed 2/2)" in text
    item = to_json(decs)["decompositions"][0]
    assert item["collapsed"]["count"][-1] == [2] and item["collapsed"]["known"][-1] == [2]
    assert item["baseline_collapsed"]["count"][-1] == 2


def test_json_is_serialisable_with_nan_as_none() -> None:
    rs = records(n_seeds=1)
    rs.append(record("dann", 0, {0.0: 0.9, 1.3: None}, da_j=1.2))
    decs = decompose(rs)
    payload = to_json(decs, fit_all(decs), [key_claim(d) for d in decs])
    text = json.dumps(payload, allow_nan=False)
    (item,) = payload["decompositions"]
    assert item["test_intensities"][-1] == 1.3 and item["gain"]["value"][-1][0] is None
    assert item["fits"]["gain"]["model"] == "gaussian_quadratic" and "max_gain" in item
    assert item["key_claim"]["status"] in ("confirmed", "not confirmed", "cannot be tested")
    assert json.loads(text) == payload and payload["model"].startswith("accuracy = reference")


def _colour_records() -> list[dict]:
    out = []
    for seed in range(3):
        for reference, drop in (("lab1#0", 0.3), ("lab2#0", 0.5)):
            shift = {"test_shift": "reinhard", "dataset": "pbc"}
            so = record("source_only", seed, {0.0: 0.8, 0.5: 0.8 - drop / 2, 1.0: 0.8 - drop}, **shift)
            dann = record("dann", seed, {0.0: 0.75, 0.5: 0.7, 1.0: 0.6 - 0.01 * seed}, da_j=1.0, da_dataset="pbc",
                          **shift)  # fmt: skip
            for r in (so, dann):
                r["spec"]["shift"][0]["options"] = {"reference": f"wbc_zheng:{reference}"}
                r["key"] += reference
                r["spec"]["metrics"] = [{"name": "accuracy"}, {"name": "macro_f1"}]
                for metrics in r["metrics"].values():
                    metrics["macro_f1"] = {k: (v / 2 if isinstance(v, float) else v) for k, v in
                                           metrics["accuracy"].items()}  # fmt: skip
            out += [so, dann]
    return out


def test_colour_table_header_says_what_it_shows() -> None:
    rs = _colour_records()
    for metric in ("accuracy", "macro_f1"):
        rows = domain_rows(rs, metric=metric, bounds=ACCURACY)
        decs = decompose(rs, metric=metric, bounds=ACCURACY)
        text = to_markdown(decs, colour_rows=rows, metric=metric)
        header = next(line for line in text.splitlines() if line.startswith("| colour domain"))
        cells = [c.strip() for c in header.strip("|").split("|")]
        assert cells == ["colour domain", "arm", f"{metric} at test@0", f"{metric} at test@0.5", f"{metric} at test@1"]
        row = next(line for line in text.splitlines() if "lab2#0 | no DA" in line)
        expected = 0.3 if metric == "accuracy" else 0.15
        assert row.split("|")[-2].strip().startswith(f"{expected:.3f}")  # the cell of the column it sits under
    data = to_json(decs, colour_rows=rows, metric="macro_f1")["colour_domains"]
    assert data["metric"] == "macro_f1" and data["test_intensities"] == [0.0, 0.5, 1.0]
    assert [r["group"] for r in data["rows"][:2]] == ["no DA", "DA same semantics (pbc)"]
    assert TEST_I[0] == 0.0
