"""Group commit: callers queued behind a write go together in the next one, each gets its own result."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from kgcrm.actions.group_commit import GroupCommit


class SlowWrites:
    """A write that holds its first call until released, so the test controls what queues behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release_first.wait(10)
        if any(item < 0 for item in items):
            raise ValueError(f"negative item in {list(items)}")
        return [item * 10 for item in items]


def _queue_behind_first(writes: SlowWrites, group: GroupCommit[int, int], later: list[int]) -> list:
    """Submit 1 (which writes alone and is held), then `later` while it is held; release; all results."""
    with ThreadPoolExecutor(max_workers=len(later) + 1) as pool:
        first = pool.submit(group.submit, 1)
        assert writes.first_started.wait(10)
        rest = [pool.submit(group.submit, item) for item in later]
        while len(group._queued) < len(later):  # all queued behind the held write
            threading.Event().wait(0.005)
        writes.release_first.set()
        return [first, *rest]


def test_a_lone_submit_writes_at_once_and_gets_its_result() -> None:
    writes = SlowWrites()
    writes.release_first.set()
    group = GroupCommit(writes)
    assert group.submit(7) == 70
    assert group.submit(8) == 80
    assert writes.batches == [[7], [8]]


def test_submits_queued_behind_a_write_go_together_in_the_next_and_each_gets_its_own_result() -> None:
    writes = SlowWrites()
    group = GroupCommit(writes)
    futures = _queue_behind_first(writes, group, [2, 3, 4, 5])
    assert [f.result(10) for f in futures] == [10, 20, 30, 40, 50]
    assert writes.batches[0] == [1]
    assert sorted(writes.batches[1]) == [2, 3, 4, 5] and len(writes.batches) == 2
    assert not group._writing and not group._queued


def test_the_batch_size_is_capped_and_the_rest_follows_in_the_next_write() -> None:
    writes = SlowWrites()
    group = GroupCommit(writes, max_batch=2)
    futures = _queue_behind_first(writes, group, [2, 3, 4, 5, 6])
    assert [f.result(10) for f in futures] == [10, 20, 30, 40, 50, 60]
    assert [len(batch) for batch in writes.batches] == [1, 2, 2, 1]


def test_a_failed_write_raises_in_every_caller_of_its_batch_and_not_in_the_next() -> None:
    writes = SlowWrites()
    group = GroupCommit(writes, max_batch=2)
    futures = _queue_behind_first(writes, group, [2, -3, 4])
    assert futures[0].result(10) == 10
    batches = writes.batches[1:]
    for future, item in zip(futures[1:], [2, -3, 4], strict=True):
        failed_batch = next(batch for batch in batches if item in batch)
        if -3 in failed_batch:
            with pytest.raises(ValueError, match="negative item"):
                future.result(10)
        else:
            assert future.result(10) == item * 10
    assert group.submit(9) == 90  # the group still writes after a failure


def test_a_write_that_returns_the_wrong_number_of_results_is_an_error() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [0])
    assert group.submit(1) == 0
    with pytest.raises(ValueError):
        GroupCommit(lambda items: [], max_batch=0)
    short: GroupCommit[int, int] = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        short.submit(1)
