"""RFC 3339 timestamps and durations in the proto3 JSON forms, with nanosecond precision."""

import datetime as dt
import re

from .quoting import quoted

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_DURATION = re.compile(r"(-)?(\d+)(?:\.(\d{1,9}))?s\Z", re.ASCII)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799
_MAX_DURATION_SECONDS = 315576000000


def _fraction(nanos: int) -> str:
    """Render nanos with 0, 3, 6 or 9 digits, as protobuf does."""
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return ".%03d" % (nanos // 1_000_000)
    if nanos % 1000 == 0:
        return ".%06d" % (nanos // 1000)
    return ".%09d" % nanos


def parse_timestamp(text: str) -> tuple[int, int]:
    """Parse an RFC 3339 timestamp into (seconds since the epoch, nanos); ValueError if malformed."""
    m = _TIMESTAMP.match(text)
    if not m:
        raise ValueError(f"{quoted(text)} is not an RFC 3339 timestamp such as 2024-01-02T03:04:05Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"{quoted(text)} is not a valid date and time: {exc}") from None
    seconds = (moment - _EPOCH) // dt.timedelta(seconds=1)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{quoted(text)} has an invalid UTC offset")
        seconds -= sign * (hours * 3600 + minutes * 60)
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise ValueError(f"{quoted(text)} is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z")
    return seconds, int(frac.ljust(9, "0")) if frac else 0


def format_timestamp(seconds: int, nanos: int = 0) -> str:
    """Render (seconds, nanos) as RFC 3339 in UTC with a Z suffix."""
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + _fraction(nanos) + "Z"


def normalize_timestamp(text: str) -> str:
    """Return the canonical UTC form of an RFC 3339 timestamp."""
    return format_timestamp(*parse_timestamp(text))


def from_datetime(moment: dt.datetime) -> str:
    """Render an aware datetime as a canonical timestamp."""
    moment = moment.astimezone(dt.UTC)
    seconds = (moment.replace(microsecond=0) - _EPOCH) // dt.timedelta(seconds=1)
    return format_timestamp(seconds, moment.microsecond * 1000)


def to_datetime(text: str) -> dt.datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (to the microsecond); ValueError if malformed."""
    seconds, nanos = parse_timestamp(text)
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


def to_micros(text: str) -> int:
    """Microseconds since the Unix epoch: how times are kept in indexed columns."""
    seconds, nanos = parse_timestamp(text)
    return seconds * 1_000_000 + nanos // 1000


def from_micros(micros: int) -> str:
    """The canonical timestamp of a time kept as epoch microseconds (see `to_micros`)."""
    seconds, micro = divmod(micros, 1_000_000)
    return format_timestamp(seconds, micro * 1000)


def normalize_duration(text: str) -> str:
    """Return the canonical form of a proto3 JSON duration such as '1.5s'."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{quoted(text)} is not a duration such as '1.5s'")
    seconds = int(m.group(2))
    if seconds > _MAX_DURATION_SECONDS:
        raise ValueError(f"{quoted(text)} is outside the range of a duration")
    nanos = int((m.group(3) or "").ljust(9, "0") or 0)
    sign = "-" if m.group(1) and (seconds or nanos) else ""
    return f"{sign}{seconds}{_fraction(nanos)}s"
