"""Resource names and server-made ids."""

import time
import uuid

import pytest

from grafeas_py.names import new_id, new_ids


# One at a time, and a batch's at once from one read of randomness: each 36 characters cut from it.
@pytest.mark.parametrize("make", [lambda n: [new_id() for _ in range(n)], new_ids], ids=["new_id", "new_ids"])
def test_new_ids_are_time_ordered_uuids_in_canonical_text(make):
    before = time.time_ns() // 1_000_000
    ids = make(20_000)
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
