"""The tests' other traders on the chain: a wallet of their own, funded by the local faucet,
sending real swap transactions (signed by itself) to an engine's local validator."""

from __future__ import annotations

import time

from solders.keypair import Keypair

from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import SolanaRpc, wait_landed
from shared.chain.transactions import MAX_CU_LIMIT, route_transaction
from shared.dex.pools import holding, other_mint, tokens
from shared.dex.routing import best_route
from shared.tokens import token_by_symbol


async def trade_on_chain(
    rpc_url: str, ws_url: str, pool_suffix: str, symbol_in: str, fraction: float
) -> list[str]:
    """Another trader swaps `fraction` of each matching pool's holding of `symbol_in` (pools
    whose id ends with `pool_suffix`, e.g. "-SOL-USDC"), one transaction per pool; returns
    the signatures once all have landed successfully."""
    rpc = SolanaRpc(rpc_url)
    subscriptions = ChainSubscriptions(ws_url)
    await subscriptions.start()
    pools = await ChainPools.load(rpc, subscriptions)
    try:
        trader = Keypair()
        mint_in = token_by_symbol(symbol_in).mint
        snapshot = pools.pools()
        chosen = {
            pool_id: pool for pool_id, pool in snapshot.items() if pool_id.endswith(pool_suffix)
        }
        amounts = {
            pool_id: int(holding(pool, mint_in) * fraction) for pool_id, pool in chosen.items()
        }
        # Accounts for both sides (the output's is created by the swap otherwise), the input
        # funded with what the swaps spend.
        funding = {mint: 0 for pool in chosen.values() for mint in tokens(pool)}
        funding[mint_in] = sum(amounts.values())
        await wait_landed(rpc, await rpc.fund_wallet(trader.pubkey(), funding, lamports=10**9))
        blockhash = (await rpc.latest_blockhash()).blockhash
        signatures = []
        for pool_id, amount in amounts.items():
            pool = chosen[pool_id]
            mint_out = other_mint(pool, mint_in)
            route = best_route({pool_id: pool}, mint_in, mint_out, amount)
            tx = route_transaction(
                route,
                trader.pubkey(),
                trader,  # the trader signs for itself: owner, not delegate
                pools.addresses,
                snapshot,
                0,
                int(time.time()),
                blockhash,
                compute_unit_limit=MAX_CU_LIMIT,
                compute_unit_price=0,
            )
            signatures.append(await rpc.send_transaction(bytes(tx)))
        for status in await wait_landed(rpc, signatures):
            assert status.err is None, status.err
        return signatures
    finally:
        await pools.close()
        await subscriptions.close()
        await rpc.close()
