"""Resource names and server-made ids."""

import uuid

from grafeas_py.names import new_id


def test_new_id_is_a_random_uuid_in_canonical_text():
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lowercase, dashed, 36 characters
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every random bit varies: all 16 digits appear in each of the 30 free positions, and the
    # variant digit takes each of its 4 values.
    free = [i for i in range(36) if i not in (8, 13, 14, 18, 19, 23)]
    assert all(len({text[i] for text in ids}) == 16 for i in free)
    assert {text[19] for text in ids} == set("89ab")
