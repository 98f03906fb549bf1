"""Regenerate every committed leaderboard (and DANN-study analysis) from its committed records.

Each ``leaderboards/<name>.md`` states the exact command that produced it; this script runs those commands, plus
``dabench analyze`` for every ``leaderboards/<name>/analysis/`` folder. ``tests/e2e/test_published.py`` fails when a
committed file differs from what its records give at its declared precision (markdown at its displayed digits,
``analysis.json`` at ``dabench.stats.precision.SIGNIFICANT_DIGITS`` significant digits): regenerating on another CPU
changes digits beyond that, and the test does not ask for them.

    python tools/regen_leaderboards.py
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from dabench.cli import main as dabench

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    status = 0
    for board in sorted((REPO / "leaderboards").glob("*.md")):
        match = re.search(r"Regenerate with: `dabench ([^`]+)`", board.read_text())
        if match is None:
            print(f"skip {board.name}: no regenerate command", file=sys.stderr)
            continue
        status |= dabench(shlex.split(match.group(1)))
    for folder in sorted((REPO / "leaderboards").glob("*/analysis")):
        status |= dabench(
            ["analyze", "--store", str(folder.parent.relative_to(REPO)), "--out", str(folder.relative_to(REPO))]
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
