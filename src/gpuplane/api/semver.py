"""Semantic versions (semver 2.0.0) as DRA ``version`` attributes use them.

Comparison follows semver precedence: build metadata is ignored, a pre-release sorts
before the release, numeric identifiers compare numerically and before alphanumeric ones.
"""

from __future__ import annotations

import re
from functools import lru_cache, total_ordering

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class SemverError(ValueError):
    """A string that is not a semantic version."""


@total_ordering
class Semver:
    __slots__ = ("major", "minor", "patch", "pre", "build", "text")

    def __init__(self, major: int, minor: int, patch: int, pre: tuple, build: str, text: str) -> None:
        self.major, self.minor, self.patch = major, minor, patch
        self.pre, self.build, self.text = pre, build, text

    def _key(self) -> tuple:
        # A release sorts after all of its pre-releases.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Semver) and self._key() == other._key()

    def __lt__(self, other: "Semver") -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def compare(self, other: "Semver") -> int:
        a, b = self._key(), other._key()
        return (a > b) - (a < b)

    def __repr__(self) -> str:
        return f"Semver({self.text!r})"


@lru_cache(maxsize=16384)
def parse_semver(text: str, normalize: bool = False) -> Semver:
    """Parse strict semver; with ``normalize`` accept ``v1``, ``1.2`` and leading zeros."""
    src = text
    if normalize:
        src = src[1:] if src.startswith("v") else src
        core, sep, rest = src.partition("-") if "-" in src.split("+")[0] else (src.split("+")[0], "", "")
        build = ""
        if "+" in src:
            build = "+" + src.split("+", 1)[1]
            if sep:
                rest = rest.split("+")[0]
        parts = core.split(".")
        while len(parts) < 3:
            parts.append("0")
        parts = [p.lstrip("0") or "0" if p.isdigit() else p for p in parts]
        src = ".".join(parts) + (f"-{rest}" if sep else "") + build
    m = _SEMVER.match(src)
    if not m:
        raise SemverError(f"invalid semantic version {text!r}")
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return Semver(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, m.group(5) or "", text)
