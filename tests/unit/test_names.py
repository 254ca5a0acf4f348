"""Resource names and server-made ids."""

import time
import uuid

import pytest

from grafeas_py.names import KeyedIds, new_id, new_ids


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


def test_keyed_ids_are_version_8_uuids_that_only_the_secret_and_the_request_decide():
    ids = KeyedIds(lambda: "s").ids("token:ci", "p", "k", 500)
    assert len(set(ids)) == 500 and ids == KeyedIds(lambda: "s").ids("token:ci", "p", "k", 500)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert KeyedIds(lambda: "s").ids("token:ci", "p", "k", 3) == ids[:3]  # a place's id is the same in any request
    others = [
        KeyedIds(lambda: "t").ids("token:ci", "p", "k", 1),
        KeyedIds(lambda: "s").ids("token:cj", "p", "k", 1),
        KeyedIds(lambda: "s").ids("token:ci", "q", "k", 1),
        KeyedIds(lambda: "s").ids("token:ci", "p", "l", 1),
        # The parts are a JSON array, so none of them can end in another and make the same message.
        KeyedIds(lambda: "s").ids("token:ci\np", "", "k", 1),
    ]
    assert len({ids[0], *(other[0] for other in others)}) == 6
