"""Market orders executed as real Solana transactions on the engine's
own local validator: read back with solana-py, balances and fees exact to the base unit."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec
import websockets
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey
from solders.signature import Signature

from shared.chain.market import TRADER_FLOAT, trader_keys
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import SolanaRpc, wait_landed
from shared.dex.activity import MarketSwap
from shared.dex.market_seed import seed_pools
from shared.dex.pools import pool_view
from shared.tokens import token_by_symbol
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.wallets import STARTER
from tests.helpers.chain import chain_trader, trade_on_chain
from tests.helpers.engine import Engine, EngineFactory, follow, new_wallet

ON_CHAIN = {"CHAIN_SLOT_MS": "40"}
SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")


async def submit(engine: Engine, client: httpx.AsyncClient, wallet: str, **body: Any) -> str:
    reply = await engine.submit(client, walletAddress=wallet, **body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["orderId"])


async def balances(client: httpx.AsyncClient, engine: Engine, wallet: str) -> dict[str, str]:
    reply = await client.get(f"{engine.url}/api/wallets/{wallet}/balances")
    assert reply.status_code == 200, reply.text
    return {b["symbol"]: b["amount"] for b in reply.json()["balances"]}


async def order_row(engine: Engine, order_id: str) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
        fundings = await conn.fetch("SELECT * FROM wallet_fundings")
    finally:
        await conn.close()
    assert row is not None
    return row, fundings


def fee(limit: int, price: int) -> int:
    return 5_000 + -(-limit * price // 1_000_000)


async def test_a_market_order_is_a_real_transaction_with_exact_balances_and_fee(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(**ON_CHAIN)
    wallet = new_wallet()
    async with httpx.AsyncClient(timeout=30) as client:
        # The chain's pools, as the API decodes them, are the seeded market exactly.
        pools = (await client.get(f"{engine.url}/api/pools")).json()
        seeded = seed_pools(engine.settings.sim_seed)
        assert pools == [msgspec.to_builtins(pool_view(seeded[p["poolId"]])) for p in pools]
        assert len(pools) == len(seeded)
        order_id = await submit(engine, client, wallet, amountIn="1.5", priorityFee=1000)
        events, code = await follow(engine.ws_url(), order_id)
        assert code == 1000
        assert [e["status"] for e in events] == [
            "pending",
            "routing",
            "building",
            "submitted",
            "confirmed",
        ], events
        building, confirmed = events[2]["data"], events[4]["data"]
        after = await balances(client, engine, wallet)
        second = await submit(engine, client, wallet, amountIn="0.5", priorityFee=0)
        events2, _ = await follow(engine.ws_url(), second)
        again = await balances(client, engine, wallet)
    signature = confirmed["txHash"]
    assert signature == events[3]["data"]["txSignature"]
    limit, price = building["computeUnitLimit"], building["priorityFeeMicroLamports"]
    assert price == 1000 and 0 < confirmed["computeUnits"] <= limit
    assert confirmed["feeLamports"] == fee(limit, price)
    assert confirmed["priorityFeeMicroLamports"] == 1000
    amount_out = USDC.to_base_units(Decimal(confirmed["amountOut"]))
    assert amount_out >= USDC.to_base_units(Decimal(building["minAmountOut"]))
    assert {c["symbol"]: c["amount"] for c in confirmed["balanceChanges"]} == {
        "SOL": "-1.5",
        "USDC": confirmed["amountOut"],
    }

    # solana-py reads the same transaction back from the chain.
    solana = AsyncClient(engine.settings.solana_rpc_url)
    try:
        tx = (
            await solana.get_transaction(
                Signature.from_string(signature), max_supported_transaction_version=0
            )
        ).value
    finally:
        await solana.close()
    assert tx is not None
    meta = tx.transaction.meta
    assert meta is not None and meta.err is None
    assert meta.fee == confirmed["feeLamports"] and tx.slot == confirmed["slot"]
    keys = [str(k) for k in tx.transaction.transaction.message.account_keys]  # type: ignore[union-attr]
    assert {str(raydium_cpmm.PROGRAM_ID), str(meteora_dlmm.PROGRAM_ID)} & set(keys)
    assert keys[0] == (await executor_of(engine))  # the executor pays and signs
    delta: dict[str, int] = {}
    for sign, rows in ((-1, meta.pre_token_balances or []), (1, meta.post_token_balances or [])):
        for b in rows:
            if str(b.owner) == wallet:
                delta[str(b.mint)] = delta.get(str(b.mint), 0) + sign * int(
                    b.ui_token_amount.amount
                )
    assert {m: d for m, d in delta.items() if d} == {
        SOL.mint: -1_500_000_000,
        USDC.mint: amount_out,
    }

    # The wallet got the starter balance once, and the swap moved exactly what it says.
    assert Decimal(after["SOL"]) == Decimal(STARTER["SOL"]) - Decimal("1.5")
    assert Decimal(after["USDC"]) == Decimal(STARTER["USDC"]) + Decimal(confirmed["amountOut"])
    assert events2[-1]["status"] == "confirmed"
    out2 = Decimal(events2[-1]["data"]["amountOut"])
    assert Decimal(again["SOL"]) == Decimal(after["SOL"]) - Decimal("0.5")
    assert Decimal(again["USDC"]) == Decimal(after["USDC"]) + out2
    assert events2[-1]["data"]["feeLamports"] == 5_000  # price 0: the signature fee alone
    row, fundings = await order_row(engine, order_id)
    assert (row["fee_lamports"], row["compute_units"]) == (
        confirmed["feeLamports"],
        confirmed["computeUnits"],
    )
    assert row["tx_signature"] == signature and row["tx_bytes"]
    assert [(f["wallet_address"], f["source"]) for f in fundings] == [(wallet, "starter")]
    ledger = await chain_ledger(engine, order_id)
    assert ledger == [
        {"signature": signature, "status": "settled", "amountOut": str(amount_out), "slot": tx.slot}
    ]


async def test_an_auto_priority_fee_pays_what_recent_swaps_on_its_pools_paid(
    engine_factory: EngineFactory,
) -> None:
    # "auto" (the default priorityFee) is the 75th percentile of getRecentPrioritizationFees
    # for the route's pools, as solana-py reads it from the same node.
    engine = await engine_factory(**ON_CHAIN)
    settings, wallet = engine.settings, new_wallet()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        chain_trader(settings.solana_rpc_url, settings.solana_ws_url) as trader,
    ):
        funding = await submit(engine, client, wallet, amountIn="0.5", priorityFee=0)
        assert (await follow(engine.ws_url(), funding))[0][-1]["status"] == "confirmed"
        # The node's window holds its last 150 slots with transactions, about 100 of them
        # the market's setup at price 0: another trader swaps on every SOL/USDC pool in 50
        # more slots, a price each, so that the 75th percentile is one of these prices.
        prices = [1_000 * n for n in range(1, 51)]
        funded = await trader.fund("-SOL-USDC", "SOL", 0.005)
        for price in prices:
            swaps = [MarketSwap(s.pool_id, s.mint_in, s.amount // len(prices)) for s in funded]
            await wait_landed(trader.rpc, await trader.send(swaps, compute_unit_price=price))
        pools = [
            trader.pools.address_of(pool_id)
            for pool_id in trader.pools.pools()
            if pool_id.endswith("-SOL-USDC")
        ]
        solana = AsyncClient(settings.solana_rpc_url)
        try:
            recent = (await solana.get_recent_prioritization_fees(pools)).value
            order_id = await submit(engine, client, wallet, amountIn="1.5")  # priorityFee "auto"
            events, code = await follow(engine.ws_url(), order_id)
            confirmed = events[-1]["data"]
            tx = (
                await solana.get_transaction(
                    Signature.from_string(confirmed["txHash"]), max_supported_transaction_version=0
                )
            ).value
        finally:
            await solana.close()
    assert code == 1000 and events[-1]["status"] == "confirmed", events
    paid = sorted(entry.prioritization_fee for entry in recent)
    assert set(prices) <= set(paid)  # every price's slot is in the node's window
    expected = paid[len(paid) * 75 // 100]
    assert expected in prices and expected != max(prices), paid  # not the lowest, not the top
    building = events[2]["data"]
    assert building["priorityFeeMicroLamports"] == expected
    assert confirmed["priorityFeeMicroLamports"] == expected
    assert confirmed["feeLamports"] == fee(building["computeUnitLimit"], expected)
    assert tx is not None and tx.transaction.meta is not None
    assert tx.transaction.meta.fee == confirmed["feeLamports"]


async def chain_ledger(engine: Engine, order_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{engine.url}/api/chain/transactions?orderId={order_id}")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["transactions"])


async def executor_of(engine: Engine) -> str:
    async with httpx.AsyncClient() as client:
        return str((await client.get(f"{engine.url}/api/chain")).json()["executor"])


async def test_an_order_beyond_the_wallets_balance_fails_at_once_and_moves_nothing(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(**ON_CHAIN)
    wallet = new_wallet()
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await submit(engine, client, wallet, amountIn="2000")  # starter: 1000 SOL
        events, code = await follow(engine.ws_url(), order_id)
        after = await balances(client, engine, wallet)
    assert code == 1000
    assert [e["status"] for e in events] == ["pending", "failed"], events
    assert events[-1]["data"]["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert after["SOL"] == STARTER["SOL"] and after["USDC"] == STARTER["USDC"]
    row, _ = await order_row(engine, order_id)
    assert row["tx_signature"] is None  # nothing was sent
    assert await chain_ledger(engine, order_id) == []


async def test_a_swap_landing_before_the_order_in_its_slot_fails_its_slippage_moving_nothing(
    engine_factory: EngineFactory,
) -> None:
    # Long slots: the order's transaction and another trader's, sent just after it at a higher
    # priority fee, land in the same slot, the trader's first (a slot runs by priority fee).
    control = "slippage-control"
    engine = await engine_factory(CHAIN_SLOT_MS="2000", SIM_CONTROL_TOKEN=control)
    settings, wallet = engine.settings, new_wallet()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        chain_trader(settings.solana_rpc_url, settings.solana_ws_url) as trader,
    ):
        funded = await client.post(
            f"{engine.url}/api/sim/airdrop",
            json={"walletAddress": wallet, "amounts": {"SOL": "10"}},
            headers={"Authorization": f"Bearer {control}"},
        )
        assert funded.status_code == 200, funded.text
        # Selling 1% of every SOL/USDC pool's SOL lowers the price by about 2%.
        swaps = await trader.fund("-SOL-USDC", "SOL", 0.01)
        before = await balances(client, engine, wallet)
        # The order and the trader's swaps early in one slot.
        await next_slot(trader.pools.subscriptions)
        order_id = await submit(
            engine, client, wallet, amountIn="1.5", slippageBps=10, priorityFee="0"
        )
        events, _ = await follow_until(engine, order_id, "submitted")
        moved = await trader.send(swaps, compute_unit_price=1_000_000)
        events, code = await follow(engine.ws_url(), order_id)
        after = await balances(client, engine, wallet)
        trader_landed = await wait_landed(trader.rpc, moved)
    assert code == 1000
    assert [e["status"] for e in events][-2:] == ["submitted", "failed"], events
    assert events[-1]["data"]["error"]["code"] == "SLIPPAGE_EXCEEDED"
    assert events[-1]["attempt"] == 1  # permanent: not retried
    assert after == before  # the refused swap moved nothing of the wallet's
    ledger = await chain_ledger(engine, order_id)
    assert [t["status"] for t in ledger] == ["slippage"] and ledger[0]["amountOut"] is None
    assert {s.slot for s in trader_landed} == {ledger[0]["slot"]}  # the same slot
    assert all(s.err is None for s in trader_landed)


async def next_slot(subscriptions: ChainSubscriptions) -> None:
    """Return just after the chain produces its next slot (slotSubscribe notifies each)."""
    produced = asyncio.Event()
    await subscriptions.slot_subscribe(lambda *_: produced.set())
    async with asyncio.timeout(10):
        await produced.wait()


async def test_a_dropped_transaction_expires_and_is_retried_then_fails_moving_nothing(
    engine_factory: EngineFactory,
) -> None:
    # Every send is dropped by the validator: each attempt's blockhash expires (150 slots of
    # 20 ms) with its signature unknown, and only then is the order routed again.
    engine = await engine_factory(
        **{**ON_CHAIN, "CHAIN_SLOT_MS": "20"}, DEX_FAILURE_RATE="1", QUEUE_MAX_ATTEMPTS="2"
    )
    wallet = new_wallet()
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await submit(engine, client, wallet, amountIn="1")
        events, code = await follow(engine.ws_url(), order_id, timeout_s=60)
        after = await balances(client, engine, wallet)
    assert code == 1000
    statuses = [e["status"] for e in events]
    assert statuses.count("submitted") == 2 and statuses[-1] == "failed", statuses
    assert events[-1]["data"]["error"]["code"] == "TX_EXPIRED"
    signatures = [e["data"]["txSignature"] for e in events if e["status"] == "submitted"]
    assert len(set(signatures)) == 2
    solana = AsyncClient(engine.settings.solana_rpc_url)
    try:
        found = await solana.get_signature_statuses(
            [Signature.from_string(s) for s in signatures], search_transaction_history=True
        )
    finally:
        await solana.close()
    assert found.value == [None, None]  # neither ever landed
    assert [(t["signature"], t["status"]) for t in await chain_ledger(engine, order_id)] == [
        (signature, "dead") for signature in signatures
    ]
    assert after["SOL"] == STARTER["SOL"] and after["USDC"] == STARTER["USDC"]


async def test_a_limit_order_wakes_on_the_chains_price_and_fills_at_its_limit(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(**ON_CHAIN)
    wallet = new_wallet()
    async with httpx.AsyncClient(timeout=30) as client:
        params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"}
        quote = (await client.get(f"{engine.url}/api/quote", params=params)).json()
        price = Decimal(quote["outAmount"]) / Decimal(10**6) / 2
        limit = (price * Decimal("1.01")).quantize(Decimal("0.01"))  # 1% above the market
        order_id = await submit(
            engine, client, wallet, orderType="limit", amountIn="2", limitPrice=str(limit)
        )
        waiting, _ = await follow_until(engine, order_id, "waiting")
        assert [e["status"] for e in waiting] == ["pending", "waiting"]
        # Another trader buys SOL on every SOL/USDC pool: a real transaction each, which the
        # engine's pool caches learn by account notifications.
        await trade_on_chain(
            engine.settings.solana_rpc_url, engine.settings.solana_ws_url, "-SOL-USDC", "USDC", 0.03
        )
        events, code = await follow(engine.ws_url(), order_id)
    assert code == 1000
    statuses = [e["status"] for e in events]
    assert statuses == ["pending", "waiting", "routing", "building", "submitted", "confirmed"]
    trigger = events[2]["data"]["trigger"]
    assert trigger["trigger"] == "price" and Decimal(trigger["executablePrice"]) >= limit
    assert Decimal(events[3]["data"]["minAmountOut"]) >= 2 * limit
    confirmed = events[-1]["data"]
    assert Decimal(confirmed["amountOut"]) >= 2 * limit
    assert {c["symbol"]: c["amount"] for c in confirmed["balanceChanges"]} == {
        "SOL": "-2",
        "USDC": confirmed["amountOut"],
    }


async def follow_until(
    engine: Engine, order_id: str, status: str
) -> tuple[list[dict[str, Any]], None]:
    """The order's events up to the first with `status` (the stream then left)."""
    url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
    events: list[dict[str, Any]] = []
    async with websockets.connect(url) as socket:
        async for message in socket:
            events.append(json.loads(message))
            if events[-1]["status"] == status:
                return events, None
    raise AssertionError(f"the stream ended before {status}: {events}")


async def test_the_living_market_trades_on_chain_from_its_own_wallets(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(**ON_CHAIN, SIM_MARKET_ACTIVITY="20")
    traders = [str(k.pubkey()) for k in trader_keys(engine.settings.sim_seed)]
    seeded = {p.pool_id: pool_view(p) for p in seed_pools(engine.settings.sim_seed).values()}
    # (The first test shows these views equal the API's before anything trades.)
    async with httpx.AsyncClient(timeout=30) as client, asyncio.timeout(30):
        while True:  # until the traders' swaps show, in their wallets and in the pools
            wallets = [await balances(client, engine, trader) for trader in traders]
            traded = [
                w for w in wallets if w and any(Decimal(a) != float_of(s) for s, a in w.items())
            ]
            pools = (await client.get(f"{engine.url}/api/pools")).json()
            moved = [p for p in pools if msgspec.to_builtins(seeded[p["poolId"]]) != p]
            if traded and moved:
                break
            await asyncio.sleep(0.2)  # a poll interval against the deadline


def float_of(symbol: str) -> Decimal:
    return token_by_symbol(symbol).to_ui(TRADER_FLOAT)


async def test_a_sniper_fires_on_a_launch_on_chain_and_buys_the_new_token(
    engine_factory: EngineFactory,
) -> None:
    control = "chain-launch-control"
    engine = await engine_factory(**ON_CHAIN, SIM_CONTROL_TOKEN=control)
    wallet = new_wallet()
    async with httpx.AsyncClient(timeout=30) as client:
        sniper = await submit(
            engine,
            client,
            wallet,
            orderType="sniper",
            tokenIn="SOL",
            tokenOut="CHAINCOIN",
            amountIn="1",
            maxPriceImpactBps=2000,
            slippageBps=3000,
        )
        await follow_until(engine, sniper, "waiting")
        launch = {
            "symbol": "CHAINCOIN",
            "decimals": 6,
            "venue": "raydium",
            "quoteToken": "SOL",
            "tokenAmount": "1000000000",
            "quoteAmount": "500",
        }
        reply = await client.post(
            f"{engine.url}/api/sim/launch",
            json=launch,
            headers={"Authorization": f"Bearer {control}"},
        )
        assert reply.status_code == 201, reply.text
        mint = reply.json()["mint"]
        events, code = await follow(engine.ws_url(), sniper)
        supply = await token_supply(engine, mint)
    assert code == 1000 and events[-1]["status"] == "confirmed", events[-1]
    trigger = events[2]["data"]["trigger"]
    assert trigger["trigger"] == "launch" and trigger["mint"] == mint
    changes = {c["mint"]: c["amount"] for c in events[-1]["data"]["balanceChanges"]}
    assert changes == {SOL.mint: "-1", mint: events[-1]["data"]["amountOut"]}
    assert supply == 1_000_000_000 * 10**6  # a real SPL mint: its supply is the pool's


async def token_supply(engine: Engine, mint: str) -> int:
    solana = AsyncClient(engine.settings.solana_rpc_url)
    try:
        return int((await solana.get_token_supply(Pubkey.from_string(mint))).value.amount)
    finally:
        await solana.close()


async def test_a_funding_on_another_chain_does_not_count(engine_factory: EngineFactory) -> None:
    """The database remembers a wallet funded on a ledger since replaced (another genesis
    hash): on this chain it is unfunded, and its first order gets the starter balance."""
    engine = await engine_factory(**ON_CHAIN)
    wallet = new_wallet()
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO wallet_fundings (chain, wallet_address, source) VALUES ($1, $2, 'faucet')",
            "OldLedger1111111111111111111111111111111111",
            wallet,
        )
        async with httpx.AsyncClient(timeout=30) as client:
            order_id = await submit(engine, client, wallet, amountIn="1")
            events, _ = await follow(engine.ws_url(), order_id)
        sources = await conn.fetch(
            "SELECT chain, source FROM wallet_fundings WHERE wallet_address = $1 ORDER BY source",
            wallet,
        )
    finally:
        await conn.close()
    assert events[-1]["status"] == "confirmed", events[-1]
    solana = AsyncClient(engine.settings.solana_rpc_url)
    try:
        genesis = str((await solana.get_genesis_hash()).value)
    finally:
        await solana.close()
    assert [(r["chain"], r["source"]) for r in sources] == [
        ("OldLedger1111111111111111111111111111111111", "faucet"),
        (genesis, "starter"),
    ]


async def test_a_wallet_holding_token_accounts_gets_no_starter_balance(
    engine_factory: EngineFactory,
) -> None:
    """A funding that landed but was never recorded (the validator killed between the two, say)
    is seen on the chain: the wallet's first order brings no second starter balance."""
    engine = await engine_factory(**ON_CHAIN)
    wallet = new_wallet()
    rpc = SolanaRpc(engine.settings.solana_rpc_url)
    try:  # the faucet's funding, straight to the chain: nothing in wallet_fundings
        amounts = {SOL.mint: 5 * 10**9, USDC.mint: 0}
        executor = Pubkey.from_string(await executor_of(engine))
        await wait_landed(
            rpc, await rpc.fund_wallet(Pubkey.from_string(wallet), amounts, delegate=executor)
        )
    finally:
        await rpc.close()
    async with httpx.AsyncClient(timeout=30) as client:
        order_id = await submit(engine, client, wallet, amountIn="1.5")
        events, _ = await follow(engine.ws_url(), order_id)
        after = await balances(client, engine, wallet)
    assert events[-1]["status"] == "confirmed", events[-1]
    assert Decimal(after["SOL"]) == Decimal("3.5")  # 5 - 1.5: no starter 1,000 on top
    assert Decimal(after["USDC"]) == Decimal(events[-1]["data"]["amountOut"])
    _, fundings = await order_row(engine, order_id)
    assert [f["wallet_address"] for f in fundings] == []
