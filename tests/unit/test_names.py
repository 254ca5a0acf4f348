"""Resource names and server-made ids."""

import time
import uuid

from grafeas_py.names import new_id


def test_new_id_is_a_time_ordered_uuid_in_canonical_text():
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lowercase, dashed, 36 characters
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # Unix milliseconds, first
    # Ids of different milliseconds sort by time, so an index takes them at its end.
    assert sorted(ids, key=lambda t: uuid.UUID(t).int >> 80) == sorted(ids, key=lambda t: t[:13])
    # Every random bit varies: all 16 digits appear in each of the 18 free positions after the
    # time, and the variant digit takes each of its 4 values.
    free = [i for i in range(15, 36) if i not in (18, 19, 23)]
    assert all(len({text[i] for text in ids}) == 16 for i in free)
    assert {text[19] for text in ids} == set("89ab")
