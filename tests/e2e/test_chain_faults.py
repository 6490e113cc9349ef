"""The chain under faults (EXECUTION_CHAIN=solana): the validator SIGKILLed and restarted while
orders are in flight. Every order ends, none settles twice, and afterwards the chain conserves
every token to the base unit: each mint's accounts add up to its supply, each confirmed order's
transaction moved exactly its amountIn and amountOut, and the executor's SOL went exactly to
the fees of the transactions that landed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey

from shared.chain.rpc import SolanaRpc, token_balance_changes
from shared.tokens import find_token
from tests.helpers.chain import check_conservation
from tests.helpers.engine import Engine, EngineFactory, follow_reconnecting, new_wallet

pytestmark = pytest.mark.faults

# Sends land 0.3-1.5 s after they are accepted: the kill finds transactions in flight (the
# validator keeps none of them: the engine's resends of the same bytes land them afterwards).
ON_CHAIN = {
    "EXECUTION_CHAIN": "solana",
    "CHAIN_SLOT_MS": "20",
    "QUEUE_MAX_ATTEMPTS": "5",
    "DEX_EXECUTION_LATENCY_MS": "300-1500",
}
WALLETS = 4
ORDERS = 24


async def executor_lamports(engine: Engine, rpc: SolanaRpc) -> tuple[str, int]:
    async with httpx.AsyncClient() as client:
        executor = (await client.get(f"{engine.url}/api/chain")).json()["executor"]
    balance = await rpc.call("getBalance", [executor])
    return executor, int(balance["value"])


async def submit(engine: Engine, client: httpx.AsyncClient, wallet: str, n: int) -> str:
    body: dict[str, Any] = (
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
        if n % 2 == 0
        else {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "200"}
    )
    reply = await engine.submit(client, walletAddress=wallet, **body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["orderId"])


async def test_validator_sigkill_under_load_loses_nothing_and_settles_nothing_twice(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(workers=2, **ON_CHAIN)
    chain = engine.processes.chain
    assert chain is not None
    rpc = SolanaRpc(engine.settings.solana_rpc_url)
    wallets = [new_wallet() for _ in range(WALLETS)]
    async with httpx.AsyncClient(timeout=30) as client:
        # Each wallet's first order (its starter balance), before the fault.
        first = [await submit(engine, client, w, 0) for w in wallets]
        for order_id in first:
            events, _ = await follow_reconnecting(engine.ws_url(), order_id)
            assert events[-1]["status"] == "confirmed", events[-1]
        executor, before = await executor_lamports(engine, rpc)

        order_ids = [await submit(engine, client, wallets[n % WALLETS], n) for n in range(ORDERS)]
        followers = [
            asyncio.create_task(follow_reconnecting(engine.ws_url(), o, timeout_s=120))
            for o in order_ids
        ]
        # A third of them submitted and not landed: kill the validator, and start it again on
        # the same ledger and ports after a second.
        await wait_for_submitted(engine, client, order_ids, at_least=ORDERS // 3)
        chain.kill()
        await asyncio.sleep(1.0)  # the outage itself, not a synchronisation
        chain.restart()
        results = await asyncio.gather(*followers)
        orders = {o: (await client.get(f"{engine.url}/api/orders/{o}")).json() for o in order_ids}
        ledgers = {
            o: (await client.get(f"{engine.url}/api/chain/transactions?orderId={o}")).json()
            for o in order_ids + first
        }
        _, after = await executor_lamports(engine, rpc)

    finals = [events[-1]["status"] for events, _ in results]
    assert all(s in ("confirmed", "failed") for s in finals), finals
    assert finals.count("confirmed") >= ORDERS // 2, finals  # most get through the outage
    landed_fees = 0
    for order_id in order_ids:
        transactions = ledgers[order_id]["transactions"]
        settled = [t for t in transactions if t["status"] == "settled"]
        # At most once, and exactly once for a confirmed order: the chain says so.
        assert len(settled) == (orders[order_id]["status"] == "confirmed"), transactions
        for t in transactions:
            if t["status"] in ("settled", "slippage", "failed"):
                info = await rpc.transaction(t["signature"])
                assert info is not None
                landed_fees += info.fee
        if settled:
            info = await rpc.transaction(settled[0]["signature"])
            assert info is not None
            order = orders[order_id]
            changes = {
                mint: delta
                for (owner, mint), delta in token_balance_changes(info).items()
                if owner == order["walletAddress"]
            }
            token_in, token_out = find_token(order["tokenIn"]), find_token(order["tokenOut"])
            assert token_in is not None and token_out is not None
            assert changes == {
                token_in.mint: -token_in.to_base_units(Decimal(order["amountIn"])),
                token_out.mint: token_out.to_base_units(Decimal(order["amountOut"])),
            }
    # The executor's SOL went to the fees of what landed, and nowhere else (every wallet's
    # accounts existed: no rent was paid for a new one).
    assert before - after == landed_fees, (before, after, landed_fees)
    conservation = await check_conservation(engine.settings.solana_rpc_url)
    print(
        f"\nvalidator SIGKILL: {ORDERS} orders, {finals.count('confirmed')} confirmed,"
        f" {finals.count('failed')} failed; executor paid {landed_fees} lamports in fees;"
        f" conservation: {conservation.summary()}"
    )
    await rpc.close()
    assert Pubkey.from_string(executor)


async def wait_for_submitted(
    engine: Engine, client: httpx.AsyncClient, order_ids: list[str], at_least: int
) -> None:
    async with asyncio.timeout(60):
        while True:
            statuses = [
                (await client.get(f"{engine.url}/api/orders/{o}")).json()["status"]
                for o in order_ids
            ]
            if statuses.count("submitted") >= at_least:  # in flight, not landed yet
                return
            await asyncio.sleep(0.02)  # a poll interval against the deadline
