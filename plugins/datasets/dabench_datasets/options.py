"""Domain strings with options: ``"lab2,size=300"`` or ``"mu1=0.3,mu2=0.7"``.

A dataset selected as ``name:domain`` gets the domain string in ``LoadContext.domain``; datasets whose variants are
parametric (image size, synthetic intensities) read ``key=value`` options from it, checked against typed defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dabench import SpecError


@dataclass(frozen=True)
class DomainOptions:
    """A parsed domain string: an optional leading name (``lab2``) and typed options merged over the defaults."""

    name: str | None
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def parse_domain(domain: str | None, defaults: Mapping[str, Any], *, dataset: str) -> DomainOptions:
    """Parse ``"[name][,key=value]..."``; each value is converted to the type of its default.

    Raises :class:`dabench.SpecError` for unknown keys or values of the wrong type.
    """
    values = dict(defaults)
    name: str | None = None
    for index, token in enumerate(t.strip() for t in (domain or "").split(",")):
        if not token:
            continue
        if "=" not in token:
            if index != 0:
                raise SpecError(
                    f"dataset {dataset!r}: domain token {token!r} must be key=value (only the first "
                    f"token may be a bare name). Options: {_listing(defaults)}."
                )
            name = token
            continue
        key, _, raw = token.partition("=")
        key = key.strip()
        if key not in defaults:
            raise SpecError(f"dataset {dataset!r}: unknown domain option {key!r}. Options: {_listing(defaults)}.")
        values[key] = _convert(raw.strip(), defaults[key], key, dataset)
    return DomainOptions(name=name, values=values)


def _convert(raw: str, default: Any, key: str, dataset: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        return type(default)(raw)
    except ValueError as exc:
        raise SpecError(
            f"dataset {dataset!r}: option {key}={raw!r} must be a {type(default).__name__} (default {default!r})."
        ) from exc


def _listing(defaults: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} (default {v!r})" for k, v in defaults.items()) or "(none)"
