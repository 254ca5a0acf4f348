"""Glob patterns over URIs and names: `*` matches within one path segment, `**` across segments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"(\*\*|\*)")  # split keeps the wildcards
MAX_WILDCARDS = 32  # `*` and `**` in one pattern


@dataclass(frozen=True)
class Pattern:
    """A compiled glob; `text` is what the policy author wrote."""

    text: str
    tokens: tuple[str, ...] = field(compare=False, repr=False)  # literal text, "*" or "**"
    has_scheme: bool = field(compare=False, repr=False, default=False)
    # For a pattern compiled from its canonical form (`compile_pattern`'s `canonical`): `text` as written.
    as_written: Pattern | None = field(compare=False, repr=False, default=None)

    def matches(self, value: str) -> bool:
        """Whether the whole value matches; a pattern without a scheme also matches the value without its scheme.
        A pattern compiled from a canonical form is matched in that form."""
        if _glob_match(self.tokens, value):
            return True
        # `gcr.io/acme/**` should match `https://gcr.io/acme/app@sha256:...`: Grafeas resource URIs of images carry
        # an `https://` prefix that deploy tools and policy authors usually leave out. Only that prefix:
        # `evil://gcr.io/acme/app` is not the image.
        scheme, sep, rest = value.partition("://")
        if not self.has_scheme and sep and scheme.lower() in ("http", "https"):
            return _glob_match(self.tokens, rest)
        return False

    def matches_as_written(self, value: str) -> bool:
        """Whether the pattern as its author wrote it matches the value."""
        return (self.as_written or self).matches(value)


def compile_pattern(text: str, canonical: str | None = None) -> Pattern:
    """Compile a glob, matching in its `canonical` form where given (`text` stays what the author wrote);
    raises ValueError for an empty pattern, a run of three or more `*`, or more than MAX_WILDCARDS wildcards."""
    if not text:
        raise ValueError("must not be empty")
    if "***" in text:
        raise ValueError("use `*` (one segment) or `**` (any number of segments), not `***`")
    wildcards = sum(token in ("*", "**") for token in _tokens(canonical or text))
    if wildcards > MAX_WILDCARDS:
        # Matching costs time per wildcard and character: 2,000 of them took seconds per pattern on a long URI.
        raise ValueError(f"holds {wildcards} wildcards; a pattern may hold at most {MAX_WILDCARDS}")
    written = Pattern(text, _tokens(text), "://" in text)
    if canonical is None or canonical == text:
        return written
    return Pattern(text, _tokens(canonical), "://" in canonical, written)


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(part for part in _TOKEN.split(text) if part)


def _glob_match(tokens: tuple[str, ...], value: str) -> bool:
    """Match by the set of positions each token can end at: time linear in the value per token.

    A backtracking regex took seconds on long image references against patterns with several `**`,
    which a Pod spec could send on purpose."""
    positions = {0}
    for token in tokens:
        if token == "**":
            positions = set(range(min(positions), len(value) + 1))
        elif token == "*":  # any run of characters without a `/`
            reached, covered = set(), -1
            for start in sorted(positions):
                if start <= covered:
                    continue
                end = value.find("/", start)
                covered = len(value) if end < 0 else end
                reached.update(range(start, covered + 1))
            positions = reached
        else:
            positions = {p + len(token) for p in positions if value.startswith(token, p)}
        if not positions:
            return False
    return len(value) in positions


def any_match(patterns: tuple[Pattern, ...], value: str) -> Pattern | None:
    """The first pattern that matches the value, if any."""
    for pattern in patterns:
        if pattern.matches(value):
            return pattern
    return None
