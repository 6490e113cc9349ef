"""The living market: other traders' swaps, and arbitrageurs pulling the venues together.

Every tick (a second) the market makes SIM_MARKET_ACTIVITY random swaps, spread over the
second, of sizes from dust to a large trade (log-uniform), each on a random pool in a random
direction, so prices drift and the venues of a pair come apart. Then, for each pair whose two
venues differ by more than ARBITRAGE_THRESHOLD_BPS, an arbitrageur swaps on the dearer venue
until the gap is down to about the threshold: prices differ by a few percent at most, at times.
The plans here (`plan_random_swap`, `plan_arbitrage`) are pure; shared/chain/market.py sends
them as real transactions, from the traders' own wallets.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import structlog

from shared.dex.pool_maths import InsufficientLiquidity
from shared.dex.pools import Pool, holding, spot_price, swap, tokens

log = structlog.get_logger(__name__)

ARBITRAGE_THRESHOLD_BPS = 150
# A random swap is worth between these fractions of the pool's input-side depth.
SWAP_SIZE_RANGE = (1e-6, 3e-3)


@dataclass(frozen=True, slots=True)
class MarketSwap:
    """One swap the market decided on: `amount` base units of `mint_in` into `pool_id`."""

    pool_id: str
    mint_in: str
    amount: int


def plan_random_swap(pools: Mapping[str, Pool], rng: random.Random) -> MarketSwap | None:
    """A random trader's swap on these pools; None when it comes to nothing (dust, or more
    than the pool can fill)."""
    if not pools:
        return None
    pool = pools[rng.choice(sorted(pools))]
    mint_in = rng.choice(tokens(pool))
    low, high = SWAP_SIZE_RANGE
    fraction = low * (high / low) ** rng.random()
    amount = int(holding(pool, mint_in) * fraction)
    if amount <= 0:
        return None
    try:
        swap(pool, mint_in, amount)
    except InsufficientLiquidity:
        return None
    return MarketSwap(pool.pool_id, mint_in, amount)


def _pairs(pools: dict[str, Pool]) -> dict[frozenset[str], list[Pool]]:
    pairs: dict[frozenset[str], list[Pool]] = {}
    for pool_id in sorted(pools):
        pairs.setdefault(frozenset(tokens(pools[pool_id])), []).append(pools[pool_id])
    return pairs


def _price_after(pool: Pool, mint_in: str, amount: int) -> Fraction | None:
    """Spot price of mint_in after selling `amount` of it; None if the pool cannot take it."""
    try:
        return spot_price(swap(pool, mint_in, amount)[1], mint_in)
    except InsufficientLiquidity:
        return None


def _arbitrage_amount(pool: Pool, mint_in: str, target: Fraction) -> int:
    """The largest input of mint_in (base units) that leaves the pool's spot price of mint_in
    (mint_out per mint_in) at or above `target`: doubling to bracket it, then bisection."""
    if spot_price(pool, mint_in) <= target:
        return 0
    low, high = 0, 1
    while (price := _price_after(pool, mint_in, high)) is not None and price > target:
        low, high = high, high * 2
    for _ in range(60):
        if high - low <= 1:
            break
        mid = (low + high) // 2
        price = _price_after(pool, mint_in, mid)
        if price is not None and price > target:
            low = mid
        else:
            high = mid
    return low


def plan_arbitrage(pools: Mapping[str, Pool]) -> list[MarketSwap]:
    """Close every venue gap wider than the threshold, as an arbitrageur would: buy where the
    token is cheap, sell where it is dear, until the two prices meet near their middle."""
    planned: list[MarketSwap] = []
    margin = Fraction(ARBITRAGE_THRESHOLD_BPS, 4 * 10_000)
    for pair in _pairs(dict(pools)).values():
        if len(pair) < 2:
            continue
        mint = tokens(pair[0])[0]
        prices = [spot_price(p, mint) for p in pair]  # other token per `mint`
        cheap = min(range(len(pair)), key=prices.__getitem__)
        dear = max(range(len(pair)), key=prices.__getitem__)
        if prices[dear] <= prices[cheap] * (1 + Fraction(ARBITRAGE_THRESHOLD_BPS, 10_000)):
            continue
        # The geometric middle; a float is fine for a target (no amount is computed from it).
        middle_price = Fraction((prices[cheap] * prices[dear]) ** 0.5)
        # Sell `mint` on the dear venue down to a little above the middle ...
        sell = _arbitrage_amount(pair[dear], mint, middle_price * (1 + margin))
        # ... and buy it on the cheap one (sell the other token) up to a little below it.
        other = tokens(pair[cheap])[1]
        buy = _arbitrage_amount(pair[cheap], other, 1 / (middle_price * (1 - margin)))
        for pool, mint_in, amount in ((pair[dear], mint, sell), (pair[cheap], other, buy)):
            if amount > 0:
                planned.append(MarketSwap(pool.pool_id, mint_in, amount))
    return planned
