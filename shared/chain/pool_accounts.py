"""Pure helpers of the pool cache (shared/chain/pools.py): which accounts make up a pool, how
a pool is named, and its decoding from those accounts' bytes into the engine's models.

Pool ids are the engine's labels, "<venue>-<BASE>-<QUOTE>": the base and quote of a pair are
those of the seeded market's PAIRS (shared/dex/market_seed.py) when it lists the pair, else the
quote is the first of USDT, USDC, SOL the pair holds (which reproduces PAIRS), else the pair is
ordered by symbol. A CPMM pool's `mint_a` is its base (Raydium itself orders mints by bytes);
a DLMM pool keeps its X/Y as the LbPair has them.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from solders.pubkey import Pubkey

from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import DlmmPool
from shared.dex.market_seed import PAIRS
from shared.tokens import Token
from shared.venues import meteora_dlmm, raydium_cpmm

_SEEDED_ORDER = {frozenset((p.base, p.quote)): (p.base, p.quote) for p in PAIRS}
QUOTE_PREFERENCE = ("USDT", "USDC", "SOL")


def base_and_quote(a: Token, b: Token) -> tuple[Token, Token]:
    """The pair's (base, quote) for its label (see the module)."""
    by_symbol = {a.symbol: a, b.symbol: b}
    seeded = _SEEDED_ORDER.get(frozenset(by_symbol))
    if seeded is not None and len(by_symbol) == 2:
        return by_symbol[seeded[0]], by_symbol[seeded[1]]
    for quote in QUOTE_PREFERENCE:
        if quote in by_symbol and len(by_symbol) == 2:
            return (b, a) if a.symbol == quote else (a, b)
    return (a, b) if a.symbol <= b.symbol else (b, a)


def pool_label(venue: str, base: Token, quote: Token) -> str:
    return f"{venue}-{base.symbol}-{quote.symbol}"


class CpmmEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One Raydium CPMM pool as the cache tracks it; `base_mint` is the label's base."""

    pool_id: str
    addresses: raydium_cpmm.CpmmAddresses
    base_mint: str

    @property
    def address(self) -> Pubkey:
        return self.addresses.pool_state

    @property
    def accounts(self) -> tuple[Pubkey, ...]:
        a = self.addresses
        return (a.pool_state, a.amm_config, a.token_0_vault, a.token_1_vault)


class DlmmEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One Meteora DLMM pair as the cache tracks it: `bin_arrays` by array index."""

    pool_id: str
    addresses: meteora_dlmm.DlmmAddresses
    bin_arrays: Mapping[int, Pubkey]

    @property
    def address(self) -> Pubkey:
        return self.addresses.lb_pair

    @property
    def accounts(self) -> tuple[Pubkey, ...]:
        a = self.addresses
        return (a.lb_pair, a.reserve_x, a.reserve_y, *self.bin_arrays.values())


Entry = CpmmEntry | DlmmEntry


def orient(pool: CpmmPool, base_mint: str) -> CpmmPool:
    """The pool with `mint_a` = `base_mint` (reserves swapped along)."""
    if pool.mint_a == base_mint:
        return pool
    return msgspec.structs.replace(
        pool,
        mint_a=pool.mint_b,
        mint_b=pool.mint_a,
        reserve_a=pool.reserve_b,
        reserve_b=pool.reserve_a,
    )


def trim_bins(pool: DlmmPool) -> DlmmPool:
    """The pool without the empty bins at either end (the bin arrays pad the pool to multiples
    of 70 bins; an empty bin and a bin outside the range quote the same)."""
    bins = pool.bins
    lo, hi = 0, len(bins)
    while lo < hi - 1 and bins[lo] == (0, 0):
        lo += 1
    while hi > lo + 1 and bins[hi - 1] == (0, 0):
        hi -= 1
    if (lo, hi) == (0, len(bins)):
        return pool
    return msgspec.structs.replace(
        pool,
        min_bin_id=pool.min_bin_id + lo,
        bins=bins[lo:hi],
        prices=pool.prices[lo:hi] if pool.prices else (),
    )


def decode_cpmm(entry: CpmmEntry, data: Mapping[Pubkey, bytes]) -> CpmmPool:
    """The engine's CpmmPool from the entry's accounts (ValueError when one is missing or
    the pool is not modelled; see raydium_cpmm.decode_pool)."""
    a = entry.addresses
    pool = raydium_cpmm.decode_pool(
        data[a.pool_state],
        data[a.amm_config],
        data[a.token_0_vault],
        data[a.token_1_vault],
        pool_id=entry.pool_id,
    )
    return orient(pool, entry.base_mint)


def decode_dlmm(entry: DlmmEntry, data: Mapping[Pubkey, bytes]) -> DlmmPool:
    """The engine's DlmmPool from the entry's accounts, empty end bins trimmed."""
    a = entry.addresses
    arrays = [data[address] for address in entry.bin_arrays.values() if data.get(address)]
    pool = meteora_dlmm.decode_pool(
        data[a.lb_pair],
        arrays,
        pool_id=entry.pool_id,
        reserve_x=data[a.reserve_x],
        reserve_y=data[a.reserve_y],
    )
    return trim_bins(pool)


def liquid_array_indexes(lb_pair: bytes) -> set[int]:
    """The bin arrays the LbPair's bitmap marks as holding liquidity (the bitmap extension,
    for arrays beyond +-512, is not read)."""
    bitmap = meteora_dlmm.decode_lb_pair(lb_pair).bin_array_bitmap
    size = meteora_dlmm.BIN_ARRAY_BITMAP_SIZE
    return {i - size for i in range(2 * size) if bitmap >> i & 1}
