"""Hostile strings in records and on the command line go through ``dabench leaderboard`` without changing the
document's structure: every table row keeps the header's column count, no injected heading, no raw HTML, and the
regenerate command stays one intact code span."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from dabench.cli import main
from dabench.run.store import ResultStore

HOSTILE = ["a|b", "x\r| fake | row |", "# H", "<script>alert(1)</script>", "``tick`` `", "line\n# injected\n- item"]
TITLE = " ".join(HOSTILE) + " [x](javascript:alert(1))"


def hostile_record(method: str, seed: int, value: float, note: str) -> dict:
    estimate = {"value": value, "low": value - 0.05, "high": value + 0.05, "n_boot": 100, "interval": "percentile"}
    spec = {
        "schema": 1,
        "protocol": "uda",
        "method": {"name": method, "version": "1"},
        "dataset": {"name": "imagefolder", "version": "1", "domain": HOSTILE[0] + HOSTILE[1]},
        "target": {"name": "imagefolder", "version": "1", "domain": HOSTILE[5] + HOSTILE[2]},
        "shift": [{"name": "reinhard", "version": "1", "intensity": 1.0, "options": {"reference": HOSTILE[3]}}],
        "metrics": [{"name": "accuracy", "version": "1"}],
        "params": {"epochs": HOSTILE[2], "note": note},
        "seed": seed,
        "n_bootstrap": 100,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    odd = HOSTILE[3] + HOSTILE[1]  # a test-domain label of a plugin's protocol
    return {
        "key": key,
        "status": "ok",
        "spec": spec,
        "metrics": {d: {"accuracy": estimate} for d in ("target", "source", odd)},
        "validators": {"target": {"collapsed": 0.0}},
        "sizes": {"test_target": 50, "test_source": 50},
        "timings": {"fit_s": 1.0},
        "provenance": {"device": HOSTILE[5], "dabench": HOSTILE[4], "libraries": {"torch": HOSTILE[0]}},
    }


def cells(line: str) -> list[str]:
    """A GFM table line split on its unescaped pipes (a backslash escapes the next character)."""
    parts, current, i = [], "", 0
    while i < len(line):
        if line[i] == "\\":
            current, i = current + line[i : i + 2], i + 2
            continue
        if line[i] == "|":
            parts.append(current)
            current = ""
        else:
            current += line[i]
        i += 1
    return [*parts, current][1:-1]  # a row starts and ends with a pipe


def tables(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    for previous, line in zip(["", *lines], lines, strict=False):
        if line.startswith("|"):
            if not previous.startswith("|"):
                blocks.append([])
            blocks[-1].append(line)
    return blocks


@pytest.mark.parametrize("store_name", ["plain", "st`ore |x"])
def test_hostile_strings_keep_the_document_structure(
    store_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ResultStore(tmp_path / store_name)
    for i, method in enumerate(["source_only", "dann", "dann"]):
        for seed in (0, 1):
            store.put(hostile_record(method, seed, 0.5 + i / 10 + seed / 100, note=HOSTILE[i + 1]))
    board = tmp_path / "board.md"
    assert main(["leaderboard", "--store", str(store.root), "--out", str(board), "--title", TITLE]) == 0
    capsys.readouterr()
    text = board.read_bytes().decode()  # not read_text: universal newlines would hide a \r
    lines = text.split("\n")
    assert "\r" not in text and len(text.splitlines()) == len(lines) - 1  # no other line separators either
    outside_code = re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", text)  # code spans show text literally
    assert "<script" not in outside_code.lower() and not re.search(r"(?<!\\)\]\(javascript", outside_code)
    found = tables(lines)
    assert len(found) == 1 and len(found[0]) == 2 + 3  # header, separator, three configurations
    header = cells(found[0][0])
    for row in found[0][1:]:
        assert len(cells(row)) == len(header), row
    headings = [line for line in lines if line.startswith("#")]
    assert headings == [lines[0], *(line for line in lines if line.startswith("## "))]
    assert len(headings) == 1 + len(found)
    (command,) = [line for line in lines if line.startswith("Regenerate with:")]
    match = re.fullmatch(r"Regenerate with: (`+)(.*)\1", command)
    assert match is not None and not re.search(rf"(?<!`){match.group(1)}(?!`)", match.group(2))
