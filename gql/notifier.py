"""Wakes subscriptions at once when this process writes something they watch; polling covers other writers."""

import asyncio


class Notifier:
    """A broadcast signal: every waiter wakes on the next `notify()` or after its timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        # Replace the event so later waiters wait for the next change, not this one.
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
