"""Timestamps and durations as policies and occurrences write them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)


def parse_timestamp(value: str | datetime | date) -> datetime:
    """An RFC 3339 timestamp with a time zone, as an aware UTC datetime; a date means 00:00 UTC that day.

    YAML loaders hand over datetime and date objects, JSON hands over strings: both are accepted.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
        return parse_timestamp(date.fromisoformat(value))
    else:
        parsed = _from_rfc3339(value)
    if parsed.tzinfo is None:
        raise ValueError("must include a time zone, such as Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:00 is in the year 10000 in UTC
        raise ValueError("must fall between the years 1 and 9999 in UTC") from None


def _from_rfc3339(value: object) -> datetime:
    if isinstance(value, str) and len(value) > 10 and value[10] in "Tt":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be an RFC 3339 timestamp such as 2026-01-31T00:00:00Z")


def unix_nanos(value: datetime) -> int:
    """Nanoseconds since 1970-01-01T00:00:00Z, as Rego's time functions count."""
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> timedelta:
    """A positive duration written as days, hours, minutes and seconds, in that order: `7d`, `24h`, `1d12h`, `90m`."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) and text else None
    if match is None:
        raise ValueError("must be a duration such as 24h, 7d, 1d12h or 90m")
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError("is too long") from None
    if duration <= timedelta(0):
        raise ValueError("must be longer than zero")
    return duration


def format_duration(value: timedelta) -> str:
    """A short human form, to the minute: `2d 3h`, `45m`, `0m`."""
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or "0m"
