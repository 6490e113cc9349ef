"""One transaction per order on the chain, however alike the orders.

Identical orders of one wallet built on one blockhash used to sign byte-identical
transactions (Ed25519 is deterministic): one signature, run once by the chain, and every one
of those orders confirmed from that single landing, so N orders confirmed for fewer swaps and
fewer fees. Each order now claims its signature (shared/orders/signatures.py) and builds
again, one compute unit off, when another order holds it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx

from shared.chain.rpc import SolanaRpc, token_balance_changes
from shared.config import Settings
from shared.orders.signatures import SignatureClaims
from shared.tokens import token_by_symbol
from tests.helpers.engine import Engine, EngineFactory, follow, new_wallet
from tests.helpers.orders import RECORDS, new_order

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")
# Slots long enough that the identical orders are all built on one blockhash.
ON_CHAIN = {"CHAIN_SLOT_MS": "400"}
IDENTICAL = 4


async def submit(engine: Engine, client: httpx.AsyncClient, wallet: str) -> str:
    reply = await engine.submit(client, walletAddress=wallet, amountIn="1.5", priorityFee=0)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["orderId"])


async def lamports(rpc: SolanaRpc, address: str) -> int:
    return int((await rpc.call("getBalance", [address]))["value"])


async def test_identical_orders_each_land_their_own_transaction(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(**ON_CHAIN)
    rpc = SolanaRpc(engine.settings.solana_rpc_url)
    wallet = new_wallet()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            executor = (await client.get(f"{engine.url}/api/chain")).json()["executor"]
            first = await submit(engine, client, wallet)  # the starter balance, on its own
            events, _ = await follow(engine.ws_url(), first)
            assert events[-1]["status"] == "confirmed", events[-1]
            paid_before = await lamports(rpc, executor)
            held_before = (await client.get(f"{engine.url}/api/wallets/{wallet}/balances")).json()
            order_ids = [await submit(engine, client, wallet) for _ in range(IDENTICAL)]
            results = await asyncio.gather(*(follow(engine.ws_url(), o) for o in order_ids))
            held_after = (await client.get(f"{engine.url}/api/wallets/{wallet}/balances")).json()
        paid_after = await lamports(rpc, executor)
        confirmed = [events[-1] for events, _ in results]
        assert [c["status"] for c in confirmed] == ["confirmed"] * IDENTICAL, confirmed
        signatures = [c["data"]["txHash"] for c in confirmed]
        assert len(set(signatures)) == IDENTICAL, signatures  # one transaction per order
        fees = 0
        for c, signature in zip(confirmed, signatures, strict=True):
            info = await rpc.transaction(signature)
            assert info is not None and info.err is None
            assert info.fee == c["data"]["feeLamports"]
            fees += info.fee
            changes = {
                mint: delta
                for (owner, mint), delta in token_balance_changes(info).items()
                if owner == wallet
            }
            assert changes == {
                SOL.mint: -1_500_000_000,
                USDC.mint: USDC.to_base_units(Decimal(c["data"]["amountOut"])),
            }
    finally:
        await rpc.close()
    # The executor paid every order's fee, and the wallet traded once per order.
    assert paid_before - paid_after == fees
    held = {b["symbol"]: Decimal(b["amount"]) for b in held_before["balances"]}
    now = {b["symbol"]: Decimal(b["amount"]) for b in held_after["balances"]}
    assert held["SOL"] - now["SOL"] == Decimal("1.5") * IDENTICAL
    assert now["USDC"] - held["USDC"] == sum(Decimal(c["data"]["amountOut"]) for c in confirmed)


async def test_a_signature_is_granted_to_one_order_only(db: Settings) -> None:
    orders = []
    for _ in range(3):
        created = await RECORDS.insert(new_order())
        assert created is not None
        orders.append(uuid.UUID(created.order_id))
    claims, others = SignatureClaims(), SignatureClaims()  # two processes' batchers
    # The same signature claimed at once by three orders, in one batch and across two: one
    # order gets it.
    granted = await asyncio.gather(
        claims.claim("sig-a", orders[0]),
        claims.claim("sig-a", orders[1]),
        others.claim("sig-a", orders[2]),
        claims.claim("sig-b", orders[1]),
    )
    assert sum(granted[:3]) == 1 and granted[3], granted
    owner = orders[granted[:3].index(True)]
    # Its owner may claim it again (a retry that built the same bytes); nobody else may.
    assert await claims.claim("sig-a", owner)
    assert [await others.claim("sig-a", o) for o in orders if o != owner] == [False, False]
