"""The 150-slot blockhash window LiteSVM lacks (it accepts only its own latest blockhash).

A blockhash issued by slot `i` is valid for a transaction executing in slot `s` while
`s - i <= 150`, so `lastValidBlockHeight = i + 150` (block height = slot on this chain). Each
slot's blockhash is `sha256(previous blockhash || slot as u64 LE)`: deterministic from the
genesis hash, different every slot.
"""

from __future__ import annotations

import hashlib
from collections import deque

from solders.hash import Hash

MAX_PROCESSING_AGE = 150


def next_blockhash(previous: Hash, slot: int) -> Hash:
    return Hash(hashlib.sha256(bytes(previous) + slot.to_bytes(8, "little")).digest())


class BlockhashWindow:
    """Blockhashes of the last 151 committed slots, newest last."""

    def __init__(self) -> None:
        self._slot_of: dict[Hash, int] = {}
        self._order: deque[tuple[int, Hash]] = deque()

    def add(self, slot: int, blockhash: Hash) -> None:
        self._slot_of[blockhash] = slot
        self._order.append((slot, blockhash))
        while self._order and self._order[0][0] < slot - MAX_PROCESSING_AGE:
            old_slot, old = self._order.popleft()
            if self._slot_of.get(old) == old_slot:
                del self._slot_of[old]

    @property
    def latest(self) -> tuple[int, Hash]:
        return self._order[-1]

    def issue_slot(self, blockhash: Hash) -> int | None:
        return self._slot_of.get(blockhash)

    def valid_at(self, blockhash: Hash, slot: int) -> bool:
        issued = self._slot_of.get(blockhash)
        return issued is not None and slot - issued <= MAX_PROCESSING_AGE

    def last_valid_block_height(self, blockhash: Hash) -> int | None:
        issued = self._slot_of.get(blockhash)
        return None if issued is None else issued + MAX_PROCESSING_AGE

    def entries(self) -> list[tuple[int, Hash]]:
        return list(self._order)
