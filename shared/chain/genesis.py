"""CHAIN_GENESIS_HOOK for the local validator: the engine's seeded market on chain.

`CHAIN_GENESIS_HOOK=shared.chain.genesis:seeded_market` makes a fresh validator start with
`shared.venues.genesis.market_genesis(seed_pools(seed))`: every seeded pool as a Raydium CPMM or
Meteora DLMM pool, and the tokens' mints. The seed is `MARKET_SEED`, else `SIM_SEED` (the
engine's setting, shared/config.py), else that setting's default, so that the engine and the
chain seed the same market.

The validator writes the registry's mints itself (supply 0, the faucet as mint authority) and
then the hook's accounts, the later write winning. market_genesis's mints carry the pools'
holdings as supply but no mint authority, which would leave the faucet (localnet_fundWallet)
unable to mint; so here every mint the market writes gets the faucet as its authority (wrapped
SOL keeps none, as the validator's own: it is minted by SyncNative), keeping the supply.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import msgspec
from solders.account import Account
from solders.pubkey import Pubkey

from shared.config import Settings
from shared.dex.market_seed import seed_pools
from shared.tokens import TOKENS
from shared.venues import spl
from shared.venues.genesis import market_genesis

_REGISTRY_MINTS = {Pubkey.from_string(t.mint) for t in TOKENS}


def market_seed(env: Mapping[str, str]) -> int:
    """MARKET_SEED, else SIM_SEED, else Settings' default; ValueError when both are set and
    differ (the chain and the engine would seed different markets)."""
    values = {name: env[name].strip() for name in ("MARKET_SEED", "SIM_SEED") if env.get(name)}
    if len(set(values.values())) > 1:
        raise ValueError(f"MARKET_SEED and SIM_SEED differ: {values}")
    raw = next(iter(values.values()), str(Settings().sim_seed))
    seed = int(raw)
    if seed < 0:
        raise ValueError(f"the market seed must be >= 0, got {raw}")
    return seed


def with_faucet_authority(account: spl.GenesisAccount, faucet: Pubkey) -> spl.GenesisAccount:
    """A registry mint (other than wrapped SOL) with `faucet` as its mint authority."""
    if account.address not in _REGISTRY_MINTS or account.address == spl.NATIVE_MINT:
        return account
    mint = msgspec.structs.replace(spl.decode_mint(account.data), mint_authority=faucet)
    return msgspec.structs.replace(account, data=spl.encode_mint(mint))


def seeded_market(faucet: Pubkey, rent: Callable[[int], int]) -> list[tuple[Pubkey, Account]]:
    """The validator's extra genesis accounts: the seeded market (see the module)."""
    pools = seed_pools(market_seed(os.environ)).values()
    return [
        (account.address, with_faucet_authority(account, faucet).account())
        for account in market_genesis(pools)
    ]
