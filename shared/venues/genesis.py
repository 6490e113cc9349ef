"""The accounts a validator's genesis writes so that a set of engine pools (e.g. the seeded
market, `shared.dex.market_seed.seed_pools`) exist on chain as Raydium CPMM and Meteora DLMM
pools, with their tokens' mints.

Mints are the registry's real mainnet addresses and decimals (`shared.tokens`); their supply is
what the pools hold (a genesis that also funds wallets adds those amounts). The native mint
(wrapped SOL) is a mint like the others here. AmmConfigs: index 0 for 25 bps (mainnet's index
0 is 25 bps), index 1,000 + fee_bps for any other fee (ours, not mainnet's).
"""

from __future__ import annotations

from collections.abc import Iterable

from solders.pubkey import Pubkey

from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import DlmmPool
from shared.tokens import TOKENS, Token
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.venues.spl import GenesisAccount, mint_genesis


def amm_config_index(fee_bps: int) -> int:
    """The AmmConfig index our genesis uses for a CPMM pool charging `fee_bps`."""
    return 0 if fee_bps == 25 else 1_000 + fee_bps


def market_genesis(
    pools: Iterable[CpmmPool | DlmmPool],
    *,
    tokens: Iterable[Token] = TOKENS,
    protocol_share: int = 0,
) -> list[GenesisAccount]:
    """Every account for `pools` (in order, no address twice): per CPMM pool its AmmConfig (once
    per index), PoolState, vaults, LP mint and ObservationState; per DLMM pool its LbPair,
    reserves, Oracle and bin arrays; then the mints of every token the pools use (ValueError
    for a mint not in `tokens`) and Raydium's pool-creation fee receiver, so that
    `initialize` (token launches) works too."""
    by_mint = {t.mint: t for t in tokens}
    out: dict[Pubkey, GenesisAccount] = {}
    held: dict[str, int] = {}

    def add(accounts: Iterable[GenesisAccount]) -> None:
        for a in accounts:
            if a.address in out and out[a.address] != a:
                raise ValueError(f"two different accounts at {a.address}")
            out[a.address] = a

    for pool in pools:
        if isinstance(pool, CpmmPool):
            mints = (pool.mint_a, pool.mint_b)
            decimals = tuple(_token(by_mint, m).decimals for m in mints)
            add(
                raydium_cpmm.genesis_accounts(
                    pool,
                    amm_config_index=amm_config_index(pool.fee_bps),
                    decimals=(decimals[0], decimals[1]),
                )
            )
            amounts = (pool.reserve_a, pool.reserve_b)
        else:
            mints = (pool.mint_x, pool.mint_y)
            add(meteora_dlmm.genesis_accounts(pool, protocol_share=protocol_share))
            amounts = (
                sum(b[0] for b in pool.bins) + pool.fee_x,
                sum(b[1] for b in pool.bins) + pool.fee_y,
            )
        for mint, amount in zip(mints, amounts, strict=True):
            held[mint] = held.get(mint, 0) + amount
    for mint, amount in held.items():
        add([mint_genesis(Pubkey.from_string(mint), _token(by_mint, mint).decimals, supply=amount)])
    add([raydium_cpmm.create_pool_fee_receiver_genesis()])
    return list(out.values())


def _token(by_mint: dict[str, Token], mint: str) -> Token:
    token = by_mint.get(mint)
    if token is None:
        raise ValueError(f"{mint} is not a registry token")
    return token


def genesis_addresses(
    pool: CpmmPool | DlmmPool,
) -> raydium_cpmm.CpmmAddresses | meteora_dlmm.DlmmAddresses:
    """The on-chain addresses `market_genesis` gives an engine pool (what a swap names)."""
    if isinstance(pool, CpmmPool):
        mints = Pubkey.from_string(pool.mint_a), Pubkey.from_string(pool.mint_b)
        return raydium_cpmm.pool_addresses(*mints, amm_config_index(pool.fee_bps))
    mints = Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y)
    return meteora_dlmm.pair_addresses(*mints, pool.bin_step)
