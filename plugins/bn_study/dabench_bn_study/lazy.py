"""Target domains built on access: a grid of 20 Perlin cells (or of shift intensities) never sits in memory at once.

:class:`BoundedCache` builds a value by name on demand and keeps what fits in a byte budget; :class:`LazyUnlabeled`
is the read-only ``Mapping[str, UnlabeledSplit]`` an :class:`~dabench.AdaptationTask` holds as ``unlabeled``:
membership and iteration use the names only, a split is built when it is looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

from dabench import UnlabeledSplit

T = TypeVar("T")

DEFAULT_CACHE_BYTES = 512 * 2**20
"""Budget of a :class:`BoundedCache`. The CPU study's 20 uint8 Perlin cells (≈ 5 MB each) all fit; of the
paper-scale cells (≈ 45 MB each) 11 are kept and the others rebuilt on each pass."""


class BoundedCache(Generic[T]):
    """``get(name)``: ``build(name)``, cached. Values are kept as they come while their sizes (``size``) sum to at
    most ``max_bytes``; after that only the most recent other value is kept besides them. A run looks its domains up
    in the same order several times (evaluation, diagnostics, sizes), and under such cyclic scans this keeps every
    kept value a hit, where least-recently-used eviction would miss every time once the grid exceeds the budget."""

    def __init__(self, build: Callable[[str], T], size: Callable[[T], int], max_bytes: int = DEFAULT_CACHE_BYTES):
        self._build, self._size, self.max_bytes = build, size, max_bytes
        self._kept: dict[str, T] = {}
        self._kept_bytes = 0
        self._recent: tuple[str, T] | None = None
        self.builds = 0
        """How many values were built (cache misses)."""

    def get(self, name: str) -> T:
        if name in self._kept:
            return self._kept[name]
        if self._recent is not None and self._recent[0] == name:
            return self._recent[1]
        value = self._build(name)
        self.builds += 1
        nbytes = self._size(value)
        if self._kept_bytes + nbytes <= self.max_bytes:
            self._kept[name] = value
            self._kept_bytes += nbytes
        else:
            self._recent = (name, value)
        return value


class LazyUnlabeled(Mapping[str, UnlabeledSplit]):
    """The unlabelled splits of ``names``, each built by ``build(name)`` when looked up (never at construction)."""

    def __init__(self, names: Sequence[str], build: Callable[[str], UnlabeledSplit]) -> None:
        self._names = tuple(names)
        self._known = frozenset(self._names)
        self._build = build

    def __getitem__(self, name: str) -> UnlabeledSplit:
        if name not in self._known:
            raise KeyError(name)
        return self._build(name)

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"LazyUnlabeled({list(self._names)!r})"
