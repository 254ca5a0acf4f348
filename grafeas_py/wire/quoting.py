"""Request values named in error messages, cut short: a request may hold megabytes, its error need not."""

from __future__ import annotations

LONGEST = 80


def cut(text: str) -> str:
    """`text`, its middle left out when it is longer than `LONGEST` characters."""
    return text if len(text) <= LONGEST else _elided(text, len(text))


def quoted(value) -> str:
    """`repr(value)`, its middle left out when it is longer than `LONGEST` characters."""
    text = repr(value)
    return text if len(text) <= LONGEST else _elided(text, len(value) if isinstance(value, str) else len(text))


def _elided(text: str, size: int) -> str:
    half = LONGEST // 2
    return f"{text[:half]}...{text[-half:]} ({size} characters)"
