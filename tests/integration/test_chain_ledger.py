"""GET /api/chain/transactions: the simulated chain's ledger of an order, read-only."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx

from shared.config import Settings
from shared.db import pool
from shared.dex.chain import SimulatedChain, new_signature, order_transactions
from shared.dex.routing import Route
from shared.execution import Executor, load_order, plan_route
from shared.orders.steps import OrderFields
from shared.tokens import Token, resolve_token, token_by_symbol
from tests.helpers.engine import Engine, wait_terminal
from tests.helpers.events import sample
from tests.helpers.orders import RECORDS, chain_and_executor, new_order

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")


async def test_ledger_shows_the_one_settlement_of_a_confirmed_order(engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        order_id = (await engine.submit(client)).json()["orderId"]
        await wait_terminal(engine, order_id)
        order = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
        ledger = await client.get(
            f"{engine.url}/api/chain/transactions", params={"orderId": order_id}
        )
        unknown = await client.get(
            f"{engine.url}/api/chain/transactions", params={"orderId": str(uuid.uuid4())}
        )
        malformed = await client.get(
            f"{engine.url}/api/chain/transactions", params={"orderId": "not-a-uuid"}
        )
        missing = await client.get(f"{engine.url}/api/chain/transactions")

    assert order["status"] == "confirmed"
    assert ledger.status_code == 200
    body = ledger.json()
    assert body["orderId"] == order_id
    [transaction] = body["transactions"]
    assert transaction["status"] == "settled"
    assert transaction["signature"] == order["txSignature"]
    # Base units of USDC (6 decimals) on the chain, UI units on the order.
    assert Decimal(transaction["amountOut"]) == Decimal(order["amountOut"]) * 10**6
    assert transaction["slot"] > 0
    assert unknown.status_code == 200 and unknown.json()["transactions"] == []
    for response in (malformed, missing):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "VALIDATION_ERROR"


# --- the chain and the executor directly, on real servers ----------------------------------


async def submitted_order(settings: Settings, chain: SimulatedChain) -> tuple[uuid.UUID, str]:
    """An order moved to `submitted` with a stored signature, as an attempt leaves it."""
    created = await RECORDS.insert(new_order())
    assert created is not None
    order_id, signature = uuid.UUID(created.order_id), new_signature()
    for status in ("routing", "building"):
        assert await RECORDS.transition(order_id, status, attempt=1, data=sample(status))  # type: ignore[arg-type]
    fields = OrderFields(tx_signature=signature, min_amount_out=1)
    assert await RECORDS.transition(
        order_id, "submitted", attempt=1, fields=fields, data=sample("submitted")
    )
    return order_id, signature


async def sol_usdc_route(executor: Executor) -> Route:
    plan = await plan_route(executor.store, SOL.mint, USDC.mint, 1_500_000_000)
    return plan.route


async def test_a_signature_is_decided_once_and_listed_once(db: Settings) -> None:
    """send and expire race on one signature, many times: one outcome each, one ledger entry."""
    async with chain_and_executor(db) as (chain, executor):
        route = await sol_usdc_route(executor)
        outcomes = set()
        for _ in range(20):
            order_id, signature = str(uuid.uuid4()), new_signature()
            sent, expired = await asyncio.gather(
                chain.send(signature, order_id, route, 1), chain.expire(signature, order_id)
            )
            assert sent == expired  # both see the one decision
            outcomes.add(sent.status)
            ledger = await order_transactions(chain._redis, db.redis_namespace, order_id)
            assert [(s, r.status) for s, r in ledger] == [(signature, sent.status)]
        # A signature declared dead never settles afterwards.
        order_id, signature = str(uuid.uuid4()), new_signature()
        assert (await chain.expire(signature, order_id)).status == "dead"
        assert (await chain.send(signature, order_id, route, 1)).status == "dead"
        ledger = await order_transactions(chain._redis, db.redis_namespace, order_id)
        assert [r.status for _, r in ledger] == ["dead"]
    assert outcomes <= {"settled", "dead"}


async def test_an_order_whose_transaction_settled_is_confirmed_not_failed(db: Settings) -> None:
    """The last attempt died after its transaction landed: when the next job finds no attempts
    left, it asks the chain first, and confirms the order instead of failing it."""
    async with chain_and_executor(db) as (chain, executor):
        order_id, signature = await submitted_order(db, chain)
        record = await chain.send(signature, str(order_id), await sol_usdc_route(executor), 1)
        assert record.status == "settled"
        order = await load_order(RECORDS, order_id, lambda key: _resolve(executor, db, key))
        assert order is not None
        await executor.fail(order, order.attempt, "ATTEMPTS_EXHAUSTED", "no attempts left")
        row = await pool().fetchrow("SELECT status, amount_out FROM orders WHERE id = $1", order_id)
        assert (row["status"], int(row["amount_out"])) == ("confirmed", record.amount_out)

        # Not landed: the signature is declared dead (it can never land now) and the order fails.
        order_id, signature = await submitted_order(db, chain)
        order = await load_order(RECORDS, order_id, lambda key: _resolve(executor, db, key))
        assert order is not None
        await executor.fail(order, order.attempt, "ATTEMPTS_EXHAUSTED", "no attempts left")
        assert await pool().fetchval("SELECT status FROM orders WHERE id = $1", order_id) == (
            "failed"
        )
        assert (await chain.lookup(signature)).status == "dead"  # type: ignore[union-attr]


async def _resolve(executor: Executor, settings: Settings, key: str) -> Token | None:
    return await resolve_token(executor.chain._redis, settings.redis_namespace, key)
