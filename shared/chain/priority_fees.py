"""The "auto" priority fee: what recent transactions on the same pools paid.

`AutoFees.fee(writable)` is the AUTO_FEE_PERCENTILE of `getRecentPrioritizationFees` for the
route's writable pool accounts. The node's list covers its last 150 slots and changes once a
slot, so it is asked at most once per AUTO_FEE_TTL_S for the same accounts, and the orders
arriving while it is asked wait for that one answer. An answer younger than
AUTO_FEE_MAX_AGE_S serves the orders that arrive while the next one is asked, so that an
order waits for the node only when nothing recent is known (the first, or after a failure).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from solders.pubkey import Pubkey

AUTO_FEE_PERCENTILE = 75  # "auto": this percentile of the recent fees paid on the same pools
AUTO_FEE_TTL_S = 0.4  # about a slot: asked again when older
AUTO_FEE_MAX_AGE_S = 2.0  # about five slots: older, an order waits for a fresh answer

RecentFees = Callable[[Sequence[Pubkey]], Awaitable[list[int]]]
Asked = tuple[float, "asyncio.Future[int]"]


def percentile_fee(fees: list[int]) -> int:
    """The AUTO_FEE_PERCENTILE of `fees` (0 when there are none)."""
    ranked = sorted(fees)
    return ranked[min(len(ranked) - 1, len(ranked) * AUTO_FEE_PERCENTILE // 100)] if ranked else 0


class AutoFees:
    """See the module; `recent_fees` is the node's getRecentPrioritizationFees."""

    def __init__(self, recent_fees: RecentFees) -> None:
        self._recent_fees = recent_fees
        self._asked: dict[frozenset[Pubkey], Asked] = {}

    async def fee(self, writable: frozenset[Pubkey]) -> int:
        now = time.monotonic()
        asked = self._asked.get(writable)
        if asked is None or now - asked[0] >= AUTO_FEE_TTL_S:
            last = asked
            asked = self._ask(writable, now)
            if last is not None and now - last[0] < AUTO_FEE_MAX_AGE_S and _answered(last[1]):
                return last[1].result()
        return await asyncio.shield(asked[1])

    def _ask(self, writable: frozenset[Pubkey], now: float) -> Asked:
        async def ask() -> int:
            return percentile_fee(await self._recent_fees(list(writable)))

        asked: Asked = (now, asyncio.ensure_future(ask()))

        def forget_a_failure(future: asyncio.Future[int]) -> None:
            # The next order asks again (retrieving the exception also keeps asyncio quiet
            # about an answer that nobody was waiting for).
            failed = future.cancelled() or future.exception() is not None
            if failed and self._asked.get(writable) is asked:
                del self._asked[writable]

        asked[1].add_done_callback(forget_a_failure)
        self._asked[writable] = asked
        return asked


def _answered(future: asyncio.Future[int]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
