"""records -> rows -> markdown: aggregation over seeds, never merging what differs, counting what failed, naming
what could not be read, escaping, credits and determinism."""

from __future__ import annotations

import copy
import math

import pytest

from dabench.report import leaderboard
from dabench.report.leaderboard_rows import build_settings, problem


def record(
    method: str,
    seed: int,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    domain: str = "target",
    protocol: str = "uda",
    params: dict | None = None,
    version: str = "1",
    **spec_extra: object,
) -> dict:
    estimate = {
        "value": value,
        "low": value - 0.01 if low is None else low,
        "high": value + 0.01 if high is None else high,
        "n_boot": 100,
        "interval": "percentile",
    }
    spec = {
        "protocol": protocol,
        "method": {"name": method, "version": version},
        "dataset": {"name": "digits", "version": "1"},
        "target": None,
        "shift": [{"name": "noise", "version": "1", "intensity": 0.8}],
        "metrics": [{"name": "err", "version": "1"}],
        "params": params or {"epochs": 3},
        "seed": seed,
        **spec_extra,
    }
    return {
        "key": f"{method}-{version}-{seed}-{value}-{sorted(spec_extra)}",
        "status": "ok",
        "spec": spec,
        "metrics": {domain: {"err": estimate}, "source": {"err": dict(estimate, value=0.05)}},
        "validators": {domain: {"collapsed": 0.0}},
        "sizes": {f"test_{domain}": 100, "test_source": 100},
        "timings": {"fit_s": 1.0},
        "provenance": {"device": "cpu", "dabench": "0.1.0"},
    }


def failed(method: str, seed: int, failure: str | None = None, **kw: object) -> dict:
    rec = record(method, seed, 0.0, **kw)
    out = {"key": rec["key"] + "-failed", "status": "failed", "spec": rec["spec"], "error": "RuntimeError: boom"}
    return out | ({"failure": failure} if failure else {})


def render(records: list[dict], higher: bool = True, **kw: object) -> str:
    return leaderboard.render(
        records,
        directions={"err": higher},
        citations={"a|b": "X (2020)"},
        bounds={"err": (0.0, 1.0)},
        command="dabench leaderboard --store s",
        **kw,
    )


def table_rows(text: str) -> list[list[str]]:
    """Body rows of every table, as stripped cells (cells here hold no escaped pipes)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines if not line.startswith("|--")]


def row_of(text: str, label: str) -> dict[str, str]:
    rows = table_rows(text)
    header = rows[0]
    return next(dict(zip(header, r, strict=True)) for r in rows[1:] if r[1] == label)


def test_seeds_aggregate_with_t_interval_and_bounds() -> None:
    rows = leaderboard.group_rows([record("m", 0, 0.5), record("m", 1, 0.7), record("m", 2, 0.9)])
    (row,) = next(iter(rows.values()))
    mean, low, _ = row.cell("target", "err")
    half = 4.3027 * 0.2 / math.sqrt(3)  # t(0.975, df=2) · sd / sqrt(n)
    assert mean == pytest.approx(0.7) and low == pytest.approx(0.7 - half, rel=1e-3)
    assert row.cell("target", "err", (0.0, 0.8))[2] == 0.8  # clipped to the metric's range
    single = next(iter(leaderboard.group_rows([record("m", 0, 0.5, low=0.4, high=0.55)]).values()))[0]
    assert single.cell("target", "err") == (0.5, 0.4, 0.55)  # one seed: the run's bootstrap interval


def test_sorting_follows_direction() -> None:
    records = [record("good", 0, 0.1, low=0.09, high=0.11), record("bad", 0, 0.9, low=0.89, high=0.91)]
    lower_better = render(records, higher=False)
    assert lower_better.index("| good") < lower_better.index("| bad")
    higher_better = render(records, higher=True)
    assert higher_better.index("| bad") < higher_better.index("| good")


def test_other_versions_providers_and_schemas_never_merge_and_are_labelled() -> None:
    records = [record("dann", s, 0.5 + s / 100) for s in range(8)] + [record("dann", 0, 0.9, version="2")]
    text = render(records)
    assert row_of(text, "dann (v1)")["n_seeds"] == "8" and row_of(text, "dann (v2)")["n_seeds"] == "1 ⚠"
    fork = record("dann", 0, 0.7, schema=2)
    fork["spec"]["method"] |= {"plugin": "fork-dist 1.0", "code": "0123456789abcdef"}
    real = record("dann", 0, 0.6, schema=2)
    real["spec"]["method"] |= {"plugin": "dabench-dann 0.1.0"}
    labels = {r[1] for r in table_rows(render([fork, real]))[1:]}
    assert labels == {"dann [fork-dist 1.0, code 01234567]", "dann [dabench-dann 0.1.0]"}
    old = record("dann", 0, 0.6)  # schema 1: no schema field, no provider
    labels = {r[1] for r in table_rows(render([old, real]))[1:]}
    assert labels == {"dann (schema 1)", "dann (schema 2) [dabench-dann 0.1.0]"}


def test_rows_differing_elsewhere_are_told_apart_and_versions_of_the_setting_split_tables() -> None:
    a, b = record("m", 0, 0.5), record("m", 0, 0.6)
    b["spec"]["metrics"] = [{"name": "err", "version": "1", "plugin": "other 1.0"}]  # a provider elsewhere differs
    assert {r[1] for r in table_rows(render([a, b]))[1:]} == {"m", "m [metrics.0.plugin=other 1.0]"}
    c = record("m", 0, 0.6)
    c["spec"]["dataset"]["version"] = "2"
    text = render([a, c])
    assert text.count("## digits → digits, shift noise:0.8 (digits v") == 2  # two tables, told apart by versions


def test_one_record_per_configuration_and_seed() -> None:
    first = record("m", 0, 0.5)
    again = copy.deepcopy(first) | {"key": "other-key", "created": "2030-01-01T00:00:00+00:00"}
    again["spec"]["n_bootstrap"] = 50  # same configuration and seed, another bootstrap budget
    again["metrics"]["target"]["err"]["value"] = 0.6
    (setting,) = build_settings([first, again, failed("m", 0)])
    (row,) = setting.rows
    assert len(row.records) == 1 and row.records[0]["key"] == "other-key" and not row.failures
    assert setting.duplicates == 2
    assert "2 duplicate record(s)" in render([first, again, failed("m", 0)])


def test_failed_diverged_and_collapsed_runs_are_counted_never_dropped() -> None:
    collapsed = record("m", 1, 0.1)
    collapsed["validators"]["target"]["collapsed"] = 1.0
    records = [record("m", 0, 0.5), collapsed, failed("m", 2), failed("m", 3, "diverged"), failed("m", 4, "invalid")]
    records += [failed("broken", 0), failed("broken", 1, "diverged")]
    text = render(records)
    m, broken = row_of(text, "m"), row_of(text, "broken")
    assert (m["n_seeds"], m["collapsed"], m["failed"], m["diverged"]) == ("2", "1", "2", "1")
    assert (broken["rank"], broken["n_seeds"], broken["failed"], broken["diverged"]) == ("–", "0", "1", "1")
    assert broken["target err (ranked)"] == "–"
    assert text.index("| broken") > text.index("| m ")  # unranked, at the bottom
    assert "2 ok (1 collapsed), 3 failed, 2 diverged" in text and "unranked" in text
    only_failed = render([failed("broken", 0)])
    assert "| broken" in only_failed and "No completed runs" not in only_failed


def test_unreadable_and_unusable_records_are_named() -> None:
    bad = {"key": "k-bad", "status": "ok", "spec": {"method": "dann"}}
    text = render([record("m", 0, 0.5), bad], unreadable=["records/ab/ab12.json"])
    assert "**Unreadable records: 1**" in text and "`records/ab/ab12.json`" in text and "re-runs them" in text
    assert "not usable run records: 1" in text and "`k-bad`" in text and "spec.method" in text
    assert problem(record("m", 0, 0.5)) is None and problem({"key": "x", "status": "running", "spec": {}})


def test_escaping_determinism_and_credits() -> None:
    records = [record("a|b", 0, 0.3), record("c", 0, 0.4, params={"note": "<b>x</b>"}), record("c", 0, 0.2)]
    text = render(records)
    assert "a\\|b" in text and "X (2020)" in text and "&lt;b&gt;x&lt;/b&gt;" in text and "<b>" not in text
    assert render(list(reversed(records))) == text
    assert "Regenerate with: `dabench leaderboard --store s`" in text
    assert "Valliani et al." in text and "Kim et al." not in text


def test_params_that_differ_are_shown() -> None:
    text = render([record("m", 0, 0.3, params={"lr": 0.1}), record("m", 0, 0.4, params={"lr": 0.01})])
    assert "| params" in text and "lr=0.1" in text and "lr=0.01" in text


def test_empty_store() -> None:
    assert "No completed runs" in render([])


def two_metrics(method: str, seed: int, f1: float, acc: float, source_f1: float = 0.9) -> dict:
    """A record with ``macro_f1`` first and ``accuracy`` second (a sweep's ``metrics = ["macro_f1", "accuracy"]``)."""
    rec = record(method, seed, f1)
    rec["spec"]["metrics"] = [{"name": "macro_f1", "version": "1"}, {"name": "accuracy", "version": "1"}]
    point = {"low": None, "high": None, "n_boot": 0, "interval": "percentile"}
    rec["metrics"] = {
        "target": {"macro_f1": point | {"value": f1}, "accuracy": point | {"value": acc}},
        "source": {"macro_f1": point | {"value": source_f1}, "accuracy": point | {"value": 0.95}},
    }
    return rec


def test_ranks_by_the_first_metric_shows_it_first_and_says_so() -> None:
    # accuracy would put the constant predictor first; macro-F1 (the first metric) puts it last
    records = [two_metrics("majority_class", s, 0.18, 0.58) for s in (0, 1)]
    records += [two_metrics("adabn", s, 0.40 + s / 100, 0.53) for s in (0, 1)]
    records += [two_metrics("source_only", s, 0.10 + s / 100, 0.12) for s in (0, 1)]
    text = leaderboard.render(
        records, directions={"macro_f1": True, "accuracy": True}, citations={}, command="dabench leaderboard"
    )
    header, *body = table_rows(text)
    assert [r[1] for r in body] == ["adabn", "majority_class", "source_only"]
    metric_columns = [h for h in header if h.startswith(("target ", "source "))]
    assert metric_columns == ["target macro_f1 (ranked)", "target accuracy", "source macro_f1", "source accuracy"]
    assert "salvage (macro_f1)" in header and "across-domain variance (macro_f1, %²)" in header
    assert "- Primary metric: `macro_f1`" in text and "- Ranking: by target macro_f1," in text
    assert row_of(text, "majority_class")["target macro_f1 (ranked)"].startswith("0.180")


def test_across_domain_variance_is_named_for_what_it_is() -> None:
    text = render([record("m", 0, 0.65)])  # target 0.65, source 0.05 (see record)
    header = table_rows(text)[0]
    assert "across-domain variance (err, %²)" in header and not any(h.startswith("spread") for h in header)
    assert row_of(text, "m")["across-domain variance (err, %²)"] == f"{30.0**2:.2f}"  # ((65 - 5) / 2)²
    assert "It is not Valliani et al.'s *domain spread*" in text and "one global model trained on the pooled" in text
    assert "internal test value" in text and "theoretical ceiling" in text  # salvage's reference, as in the paper


def test_single_seed_rows_are_marked_and_explained() -> None:
    text = render([record("one", 0, 0.3), record("two", 0, 0.4), record("two", 1, 0.5)])
    assert row_of(text, "one")["n_seeds"] == "1 ⚠" and row_of(text, "two")["n_seeds"] == "2"
    assert "- Single seed: 1 of 2 row(s)" in text and "says nothing about seed-to-seed variation" in text
    assert leaderboard.seeds_label(1) == "1 ⚠" and leaderboard.seeds_label(0) == "0"
    assert "- Single seed:" not in render([record("two", 0, 0.4), record("two", 1, 0.5)])


def test_a_plugin_protocol_is_described_by_its_registered_description() -> None:
    study = [record("source_only", 0, 0.9, protocol="grid")]
    described = leaderboard.render(
        study, directions={"accuracy": True}, citations={}, command="c", protocols={"grid": "one model, many shifts"}
    )
    assert "- Protocol: `grid` — one model, many shifts" in described
    plain = leaderboard.render(study, directions={"accuracy": True}, citations={}, command="c")
    assert "- Protocol: `grid` — see \\`dabench list protocols\\` for grid" in plain
