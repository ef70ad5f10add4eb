"""Group commit: many threads' small writes go to the database as one transaction, with no added wait.

A thread that submits while no write is in flight writes at once (a batch of one); threads that submit
while one is in flight queue, and when it commits the first of them writes everything queued so far in
the next transaction. Each caller still gets its own item's result, after its own write committed, so
callers keep the semantics of writing alone, and a busy dispatcher makes one transaction for a burst of
deliveries instead of one per delivery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("item", "turn", "settled", "result", "error")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.turn = threading.Event()  # set when the slot is settled, or when it is its turn to lead
        self.settled = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Calls `write(items)` (one transaction; returns one result per item, in order) for queued items."""

    def __init__(self, write: Callable[[Sequence[Item]], Sequence[Result]], max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queued: list[_Slot[Item, Result]] = []
        self._writing = False

    def submit(self, item: Item) -> Result:
        """Write `item` (with whatever else is queued) and return its result; raises the write's error."""
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queued.append(slot)
            lead = not self._writing
            self._writing = True
        if not lead:
            slot.turn.wait()
        if not slot.settled:
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self) -> None:
        """Write what is queued (this thread's own item first among them), then hand the lead on."""
        with self._lock:
            batch, self._queued = self._queued[:self._max_batch], self._queued[self._max_batch:]
        try:
            results = self._write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a group write returned {len(results)} results for {len(batch)} items")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # noqa: BLE001 - each caller re-raises it in its own thread
            for slot in batch:
                slot.error = exc
        finally:
            for slot in batch:
                slot.settled = True
                slot.turn.set()
            with self._lock:
                if self._queued:
                    self._queued[0].turn.set()  # its turn to lead: it is not settled, so it writes
                else:
                    self._writing = False
