"""Glob patterns over URIs and names: `*` matches within one path segment, `**` across segments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\*\*|\*")


@dataclass(frozen=True)
class Pattern:
    """A compiled glob; `text` is what the policy author wrote."""

    text: str
    regex: re.Pattern = field(compare=False, repr=False)
    has_scheme: bool = field(compare=False, repr=False, default=False)

    def matches(self, value: str) -> bool:
        """Whether the whole value matches; a pattern without a scheme also matches the value without its scheme."""
        if self.regex.fullmatch(value):
            return True
        # `gcr.io/acme/**` should match `https://gcr.io/acme/app@sha256:...`: Grafeas resource URIs of images carry
        # an `https://` prefix that deploy tools and policy authors usually leave out.
        if not self.has_scheme and "://" in value:
            return self.regex.fullmatch(value.split("://", 1)[1]) is not None
        return False


def compile_pattern(text: str) -> Pattern:
    """Compile a glob; raises ValueError for an empty pattern or a run of three or more `*`."""
    if not text:
        raise ValueError("must not be empty")
    if "***" in text:
        raise ValueError("use `*` (one segment) or `**` (any number of segments), not `***`")
    parts = []
    position = 0
    for token in _TOKEN.finditer(text):
        parts.append(re.escape(text[position : token.start()]))
        parts.append(".*" if token.group() == "**" else "[^/]*")
        position = token.end()
    parts.append(re.escape(text[position:]))
    return Pattern(text, re.compile("".join(parts), re.DOTALL), "://" in text)


def any_match(patterns: tuple[Pattern, ...], value: str) -> Pattern | None:
    """The first pattern that matches the value, if any."""
    for pattern in patterns:
        if pattern.matches(value):
            return pattern
    return None
