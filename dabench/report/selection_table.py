"""The model-selection table of a leaderboard: for each configuration, the primary metric of the checkpoint every
selection rule picks (mean over seeds) and its gap to the oracle pick (selected − oracle, what a validator costs),
side by side; the oracle column is labelled as using target labels and is never a headline.

Values are the records' checkpoint scores (:mod:`dabench.run.selection`: a seeded subsample of the test domain,
the same images for every checkpoint), so ``last`` here can differ from the leaderboard's full-test-set value in
the last digits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tabulate import tabulate

from dabench.report.leaderboard_rows import config_key, setting_of
from dabench.report.markdown import escape_inline
from dabench.run.selection import LAST, ORACLE, select

ALWAYS_SHOWN = ("lambda_max", "estimator")
"""Parameters every label names (the DANN control and AdaBN's estimator); others only where they tell one
configuration of a method from another in the table."""


def _varying(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, set[str]], bool]:
    """Per method, the parameters whose values differ among its records; and whether protocols differ."""
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for record in records:
        spec = record["spec"]
        for key, value in spec["params"].items():
            values[spec["method"]["name"]][key].add(repr(value))
    varying = {m: {k for k, v in params.items() if len(v) > 1} for m, params in values.items()}
    return varying, len({r["spec"].get("protocol") for r in records}) > 1


def _label(record: Mapping[str, Any], varying: Mapping[str, set[str]] | None = None, protocols: bool = False) -> str:
    spec = record["spec"]
    _, dataset, target, shift = setting_of(record)
    named = set(ALWAYS_SHOWN) | set((varying or {}).get(spec["method"]["name"], ()))
    params = ", ".join(f"{k}={v}" for k, v in sorted(spec["params"].items()) if k in named)
    where = f"{dataset} → {target if target != '-' else dataset}, shift {shift}"
    protocol = f", protocol {spec.get('protocol')}" if protocols else ""
    return f"{spec['method']['name']}{f' ({params})' if params else ''} — {where}{protocol}"


def _unscored(members: Sequence[Mapping[str, Any]], rule: str, domain: str) -> bool:
    """No checkpoint of any member has a ``rule`` score on ``domain`` (segmentation runs record no validators)."""
    return not any(
        rule in e["domains"][domain].get("validators", {})
        for r in members
        for e in (r.get("checkpoints") or {}).get("entries") or []
        if domain in e["domains"]
    )


def render_selection(
    records: Sequence[Mapping[str, Any]],
    rules: Sequence[str],
    *,
    validators: Mapping[str, bool],
    higher_is_better: Mapping[str, bool],
    domain: str = "target",
) -> str:
    """The markdown section (empty when no record kept checkpoints)."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    single: set[str] = set()
    usable = [r for r in records if r.get("status") == "ok"]
    varying, protocols = _varying(usable)

    def label(record: Mapping[str, Any]) -> str:
        return _label(record, varying, protocols)

    for record in records:
        entries = (record.get("checkpoints") or {}).get("entries") or []
        if record.get("status") != "ok" or not entries:
            continue
        if len(entries) > 1:
            groups[config_key(record)].append(record)
        else:
            single.add(label(record))
    if not groups and not single:
        return ""
    shown = [r for r in rules if r != ORACLE]
    rows, notes = [], []
    unscored: set[str] = set()
    metric = ""
    for key in sorted(groups, key=lambda k: label(groups[k][0])):
        members = sorted(groups[key], key=lambda r: r["spec"]["seed"])
        metric = members[0]["spec"]["metrics"][0]["name"]
        up = higher_is_better.get(metric, True)
        picks = {
            rule: [select(r, rule, validators=validators, domain=domain, higher_is_better=up) for r in members]
            for rule in [*shown, ORACLE]
        }
        if any(p is None for p in picks[ORACLE]):
            continue
        oracle = np.array([float(p.estimate["value"]) for p in picks[ORACLE] if p is not None])
        cells = []
        for rule in shown:
            if rule != LAST and _unscored(members, rule, domain):
                cells.append("–")
                unscored.add(rule)
                continue
            values = np.array([float(p.estimate["value"]) for p in picks[rule] if p is not None])
            gap = values - oracle
            cells.append(f"{values.mean():.3f} ({gap.mean():+.3f})")
            notes += [
                f"{label(members[0])}, seed {r['spec']['seed']}: {p.note}"
                for r, p in zip(members, picks[rule], strict=True)
                if p is not None and p.note
            ]
        rows.append([escape_inline(label(members[0])), len(members), *cells, f"{oracle.mean():.3f}"])
    headers = ["configuration", "seeds", *(f"{rule} (gap)" for rule in shown), "oracle (target labels)"]
    lines = [
        f"## Model selection on `{domain}` ({metric})",
        "",
        "Each cell: the mean over seeds of the primary metric of the checkpoint the rule picks, and in brackets its "
        "mean gap to the oracle pick (selected − oracle: what the rule costs). Validators are computed on the "
        "domain's unlabelled images; collapsed checkpoints are skipped (a rule that finds none falls back to "
        "`last`). The oracle picks with the target labels — a ceiling, not a method.",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
    ]
    if single:
        lines += [
            "",
            "Left out, with only their final model to choose from (the method offers no checkpoints, or adapts at "
            "test time without `from_checkpoint`): " + "; ".join(escape_inline(s) for s in sorted(single)) + ".",
        ]
    if unscored:
        lines += [
            "",
            f"–: no checkpoint has a {', '.join(sorted(unscored))} score (validators score classification outputs; "
            "segmentation runs record none), so the rule cannot choose; `last` and `oracle` still can.",
        ]
    if notes:
        lines += ["", *(f"- {escape_inline(n)}" for n in sorted(set(notes)))]
    return "\n".join(lines) + "\n"
