"""The "auto" priority fee: one request for many orders, and an order waits for the node only
when nothing recent is known."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from solders.pubkey import Pubkey

from shared.chain import priority_fees
from shared.chain.priority_fees import (
    AUTO_FEE_MAX_AGE_S,
    AUTO_FEE_TTL_S,
    AutoFees,
    percentile_fee,
)

POOLS = frozenset({Pubkey.new_unique()})


class Node:
    """getRecentPrioritizationFees answering `fees` once `answer` is set."""

    def __init__(self) -> None:
        self.asked: list[list[Pubkey]] = []
        self.fees = [0, 100, 200, 300]
        self.answer = asyncio.Event()
        self.answer.set()
        self.fail = False

    async def __call__(self, addresses: Sequence[Pubkey]) -> list[int]:
        self.asked.append(list(addresses))
        await self.answer.wait()
        if self.fail:
            raise OSError("node gone")
        return list(self.fees)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(priority_fees.time, "monotonic", lambda: now[0])
    return now


def test_the_percentile() -> None:
    assert percentile_fee([]) == 0
    assert percentile_fee([7]) == 7
    assert percentile_fee([300, 0, 200, 100]) == 300  # index 4 * 75 // 100 = 3 of the sorted
    assert percentile_fee(list(range(100))) == 75


async def test_orders_arriving_together_share_one_request(clock: list[float]) -> None:
    node = Node()
    node.answer.clear()
    fees = AutoFees(node)
    waiting = [asyncio.ensure_future(fees.fee(POOLS)) for _ in range(50)]
    await asyncio.sleep(0)
    node.answer.set()
    assert await asyncio.gather(*waiting) == [300] * 50
    assert node.asked == [list(POOLS)]
    clock[0] += AUTO_FEE_TTL_S / 2
    assert await fees.fee(POOLS) == 300
    assert len(node.asked) == 1


async def test_a_recent_answer_serves_while_the_next_is_asked(clock: list[float]) -> None:
    node = Node()
    fees = AutoFees(node)
    assert await fees.fee(POOLS) == 300
    node.fees, node.answer = [5_000], asyncio.Event()  # the next answer waits
    clock[0] += AUTO_FEE_TTL_S * 1.5
    assert await fees.fee(POOLS) == 300  # at once, from the last answer
    await asyncio.sleep(0)
    assert len(node.asked) == 2
    node.answer.set()
    await asyncio.sleep(0)
    assert await fees.fee(POOLS) == 5_000


async def test_an_old_answer_is_not_used(clock: list[float]) -> None:
    node = Node()
    fees = AutoFees(node)
    assert await fees.fee(POOLS) == 300
    node.fees = [9]
    clock[0] += AUTO_FEE_MAX_AGE_S
    assert await fees.fee(POOLS) == 9


async def test_a_failed_request_fails_its_waiters_and_the_next_order_asks_again(
    clock: list[float],
) -> None:
    node = Node()
    node.fail = True
    fees = AutoFees(node)
    with pytest.raises(OSError):
        await fees.fee(POOLS)
    node.fail = False
    assert await fees.fee(POOLS) == 300  # within the TTL, yet asked again
    assert len(node.asked) == 2
