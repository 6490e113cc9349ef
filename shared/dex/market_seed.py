"""The local chain's seeded market: a Raydium CPMM pool and a Meteora DLMM pool for each main pair.

Each venue's price for a pair is the pair's reference mid price moved by a seeded offset
(within +-1.5% for volatile pairs, so the venues differ by up to ~3%; +-0.15% for the stable
pair), and each pool's depth is its pair's nominal depth times a seeded factor in [0.7, 1.3].
Depths are set so that 1 SOL barely moves SOL/USDC (< 1 bps on either venue) while 10,000 SOL
moves it by well over 1,000 bps (the Meteora pool cannot fill that alone).

The same seed always gives the same pools, bit for bit. Pool ids: "<venue>-<BASE>-<QUOTE>".
"""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from fractions import Fraction

from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import dlmm_from_spot
from shared.dex.pools import Pool
from shared.tokens import Token, token_by_symbol

# Reference prices in USD: every pair's mid price is the ratio of two of these.
REFERENCE_USD: dict[str, Decimal] = {
    "SOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "BONK": Decimal("0.00002"),
    "JUP": Decimal("0.8"),
    "RAY": Decimal("2"),
}

RAYDIUM_FEE_BPS = 25
METEORA_BASE_FEE_BPS = 20
METEORA_BINS_EACH_SIDE = 69  # 70 bins a side with the active one: one Meteora position wide


class PairSpec:
    """A pair's nominal market: USD depth per side on each venue, Meteora's bin step, and the
    largest seeded price offset per venue (bps)."""

    __slots__ = ("base", "bin_step", "max_offset_bps", "meteora_usd", "quote", "raydium_usd")

    def __init__(
        self,
        base: str,
        quote: str,
        raydium_usd: int,
        meteora_usd: int,
        bin_step: int,
        max_offset_bps: int,
    ) -> None:
        self.base, self.quote = base, quote
        self.raydium_usd, self.meteora_usd = raydium_usd, meteora_usd
        self.bin_step, self.max_offset_bps = bin_step, max_offset_bps


PAIRS: tuple[PairSpec, ...] = (
    PairSpec("SOL", "USDC", 6_000_000, 1_000_000, 10, 150),
    PairSpec("SOL", "USDT", 2_000_000, 600_000, 10, 150),
    PairSpec("USDC", "USDT", 3_000_000, 2_000_000, 1, 15),
    PairSpec("BONK", "SOL", 1_500_000, 500_000, 25, 150),
    PairSpec("JUP", "SOL", 1_000_000, 400_000, 20, 150),
    PairSpec("RAY", "SOL", 800_000, 300_000, 20, 150),
)


def _base_units(token: Token, usd: Decimal) -> int:
    """How many base units of `token` are worth `usd` at the reference price (floored)."""
    return int((usd / REFERENCE_USD[token.symbol]).scaleb(token.decimals))


def seed_pools(seed: int) -> dict[str, Pool]:
    """Both venues' pools for every pair in PAIRS, keyed by pool id."""
    pools: dict[str, Pool] = {}
    with localcontext() as ctx:
        ctx.prec = 50
        for spec in PAIRS:
            base, quote = token_by_symbol(spec.base), token_by_symbol(spec.quote)
            rng = random.Random(f"{seed}:{spec.base}:{spec.quote}")
            offsets = [rng.randint(-spec.max_offset_bps, spec.max_offset_bps) for _ in range(2)]
            depths = [rng.randint(70, 130) for _ in range(2)]  # percent of nominal depth
            mid = REFERENCE_USD[spec.base] / REFERENCE_USD[spec.quote]  # quote UI per base UI

            # Raydium: reserves worth the depth on each side, priced at mid * (1 + offset).
            usd = Decimal(spec.raydium_usd * depths[0]) / 100
            price = mid * (1 + Decimal(offsets[0]) / 10_000)
            reserve_base = _base_units(base, usd)
            reserve_quote = int(
                (Decimal(reserve_base).scaleb(-base.decimals) * price).scaleb(quote.decimals)
            )
            pool_id = f"raydium-{spec.base}-{spec.quote}"
            pools[pool_id] = CpmmPool(
                pool_id=pool_id,
                mint_a=base.mint,
                mint_b=quote.mint,
                reserve_a=reserve_base,
                reserve_b=reserve_quote,
                fee_bps=RAYDIUM_FEE_BPS,
            )

            # Meteora: X = base, Y = quote; the active bin at the nearest bin to its price.
            usd = Decimal(spec.meteora_usd * depths[1]) / 100
            price = mid * (1 + Decimal(offsets[1]) / 10_000)
            liquidity_x = _base_units(base, usd)
            liquidity_y = int(
                (Decimal(liquidity_x).scaleb(-base.decimals) * price).scaleb(quote.decimals)
            )
            per_base_unit = Fraction(price) * Fraction(10) ** (quote.decimals - base.decimals)
            pool_id = f"meteora-{spec.base}-{spec.quote}"
            pools[pool_id] = dlmm_from_spot(
                pool_id,
                base.mint,
                quote.mint,
                per_base_unit,
                spec.bin_step,
                liquidity_x,
                liquidity_y,
                METEORA_BINS_EACH_SIDE,
                base_fee_bps=METEORA_BASE_FEE_BPS,
            )
    return pools
