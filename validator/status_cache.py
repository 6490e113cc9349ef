"""Our own duplicate-signature check and recent statuses (LiteSVM's history is turned off).

LiteSVM remembers only ~32 transactions: a resend after that would execute a second time. This
cache keeps every landed signature of the last `KEEP_SLOTS` slots (more than a blockhash lives,
so a resend with a still-valid blockhash always finds its first landing), and `in_flight` holds
signatures accepted but not yet committed, so a resend of a pending one is not queued twice.
Older outcomes are in the ledger (getSignatureStatuses' `searchTransactionHistory`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

KEEP_SLOTS = 300  # as Solana's status cache


class Status(NamedTuple):
    slot: int
    err: Any  # None, or the transaction error in Solana's JSON form


class StatusCache:
    def __init__(self) -> None:
        self._statuses: dict[str, Status] = {}
        self._slots: deque[tuple[int, list[str]]] = deque()
        self.in_flight: set[str] = set()

    def add_slot(self, slot: int, outcomes: Iterable[tuple[str, Any]]) -> None:
        """Record a committed slot's landed signatures and forget those of old slots."""
        sigs: list[str] = []
        for sig, err in outcomes:
            self._statuses[sig] = Status(slot, err)
            self.in_flight.discard(sig)
            sigs.append(sig)
        self._slots.append((slot, sigs))
        while self._slots and self._slots[0][0] <= slot - KEEP_SLOTS:
            _, old = self._slots.popleft()
            for sig in old:
                self._statuses.pop(sig, None)

    def get(self, sig: str) -> Status | None:
        return self._statuses.get(sig)

    def __len__(self) -> int:
        return len(self._statuses)
