"""New ids are unique and ordered by the time they were made: what keeps a B-tree insert at the
right edge of its index (kit/ids.py)."""

from __future__ import annotations

import uuid

from flashsale.kit.ids import new_id


def test_ids_made_later_sort_after_earlier_ones_and_never_repeat() -> None:
    made = [new_id() for _ in range(50_000)]  # ~15 ms: several ids a millisecond, several milliseconds

    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert {uuid.UUID(made_id).version for made_id in made} == {7}
