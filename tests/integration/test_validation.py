"""Every validation rule of POST /api/orders/execute (and of the WebSocket submit), through real
API and worker processes: each bad body answers 400 naming the offending field, the accepted
forms are stored as meant, and a rejected request leaves nothing behind: no order, no event,
no job, nothing published.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import base58
import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from shared.jobs.queue import create_queue
from tests.helpers.engine import WALLET, Engine, EngineFactory, wait_terminal, ws_session

SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
MAX_BODY = 64 * 1024

DROP = object()  # a value in `order(...)` that removes the field


def order(**changes: Any) -> dict[str, Any]:
    """A valid market order with `changes` applied (`DROP` removes a field)."""
    body: dict[str, Any] = {
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "1.5",
        "slippageBps": 50,
        "walletAddress": WALLET,
    }
    for key, value in changes.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


WALLET_31_BYTES = base58.b58encode(b"\xff" * 31).decode()  # 43 characters, decodes to 31 bytes
WALLET_33_BYTES = base58.b58encode(b"\x07" * 33).decode()  # 45 characters
WALLET_33_SHORT = "1" * 33  # 33 characters, each '1' a zero byte: 33 bytes
UNLISTED_MINT = base58.b58encode(bytes(range(1, 33))).decode()  # a real address, not a token


@dataclass(frozen=True)
class Bad:
    """A rejected request: its raw body and the fields the answer must name.

    Each entry of `fields` is a set of acceptable names: some detail must name one of them
    (when two fields clash, either may carry the blame)."""

    id: str
    content: bytes
    fields: tuple[frozenset[str], ...]
    bug: str | None = None  # a known engine bug: the case is xfail(strict)


def bad(id: str, body: Any, *fields: str | set[str], bug: str | None = None) -> Bad:
    content = body if isinstance(body, bytes) else encode(body)
    names = tuple(frozenset({f}) if isinstance(f, str) else frozenset(f) for f in fields)
    return Bad(id, content, names, bug)


SAME_TOKEN = {"tokenIn", "tokenOut"}

REJECTED: list[Bad] = [
    # tokens
    bad("tokenIn-unknown-symbol", order(tokenIn="NOPE"), "tokenIn"),
    bad("tokenOut-unknown-symbol", order(tokenOut="NOPE"), "tokenOut"),
    bad("tokenIn-unlisted-mint", order(tokenIn=UNLISTED_MINT), "tokenIn"),
    bad("tokenIn-mint-wrong-case", order(tokenIn=SOL_MINT.lower()), "tokenIn"),
    bad("tokenIn-empty", order(tokenIn=""), "tokenIn"),
    bad("tokens-equal-symbols", order(tokenOut="SOL"), SAME_TOKEN),
    bad("tokens-equal-symbol-vs-mint", order(tokenIn="SOL", tokenOut=SOL_MINT), SAME_TOKEN),
    bad("tokens-equal-mint-vs-lowercase", order(tokenIn=USDC_MINT, tokenOut="usdc"), SAME_TOKEN),
    # amountIn
    bad("amountIn-zero", order(amountIn="0"), "amountIn"),
    bad("amountIn-zero-number", order(amountIn=0), "amountIn"),
    bad("amountIn-zero-decimals", order(amountIn="0.000"), "amountIn"),
    bad("amountIn-negative", order(amountIn="-1"), "amountIn"),
    bad("amountIn-negative-number", order(amountIn=-1.5), "amountIn"),
    bad("amountIn-not-a-number", order(amountIn="abc"), "amountIn"),
    bad("amountIn-empty-string", order(amountIn=""), "amountIn"),
    bad("amountIn-NaN", order(amountIn="NaN"), "amountIn"),
    bad("amountIn-Infinity", order(amountIn="Infinity"), "amountIn"),
    bad("amountIn-10-decimals-SOL", order(amountIn="1.0000000001"), "amountIn"),
    bad("amountIn-10-decimals-SOL-number", order(amountIn=1.0000000001), "amountIn"),
    bad("amountIn-exponent-below-lamport", order(amountIn="1e-10"), "amountIn"),
    bad(
        "amountIn-7-decimals-USDC",
        order(tokenIn="USDC", tokenOut="SOL", amountIn="0.0000001"),
        "amountIn",
    ),
    bad("amountIn-bool", order(amountIn=True), "amountIn"),
    bad("amountIn-null", order(amountIn=None), "amountIn"),
    bad("amountIn-object", order(amountIn={"value": "1"}), "amountIn"),
    # slippage
    bad("slippageBps-zero", order(slippageBps=0), "slippageBps"),
    bad("slippageBps-5001", order(slippageBps=5001), "slippageBps"),
    bad("slippageBps-negative", order(slippageBps=-5), "slippageBps"),
    bad("slippageBps-fractional", order(slippageBps=1.5), "slippageBps"),
    bad("slippageBps-text", order(slippageBps="fifty"), "slippageBps"),
    bad("slippageBps-bool", order(slippageBps=True), "slippageBps"),
    bad("slippage-zero", order(slippageBps=DROP, slippage=0), "slippage"),
    bad("slippage-0.6", order(slippageBps=DROP, slippage=0.6), "slippage"),
    bad("slippage-just-over-half", order(slippageBps=DROP, slippage="0.5001"), "slippage"),
    bad("slippage-negative", order(slippageBps=DROP, slippage=-0.01), "slippage"),
    bad("slippage-text", order(slippageBps=DROP, slippage="one percent"), "slippage"),
    bad(
        "slippage-and-slippageBps",
        order(slippageBps=50, slippage=0.01),
        {"slippage", "slippageBps"},
    ),
    # walletAddress
    bad("wallet-not-base58", order(walletAddress="0OIl" + WALLET[4:]), "walletAddress"),
    bad("wallet-31-bytes", order(walletAddress=WALLET_31_BYTES), "walletAddress"),
    bad("wallet-33-bytes", order(walletAddress=WALLET_33_BYTES), "walletAddress"),
    bad("wallet-33-bytes-short-text", order(walletAddress=WALLET_33_SHORT), "walletAddress"),
    bad("wallet-too-short", order(walletAddress="abc"), "walletAddress"),
    bad("wallet-with-space", order(walletAddress=WALLET[:20] + " " + WALLET[21:]), "walletAddress"),
    bad("wallet-number", order(walletAddress=123), "walletAddress"),
    # unknown, missing and mistyped fields
    bad("unknown-field", order(clientOrderId="abc"), "clientOrderId"),
    bad("unknown-snake-case-field", order(slippageBps=DROP, slippage_bps=50), "slippage_bps"),
    bad("tokenIn-number", order(tokenIn=5), "tokenIn"),
    bad("tokenOut-null", order(tokenOut=None), "tokenOut"),
    bad("tokenOut-list", order(tokenOut=["USDC"]), "tokenOut"),
    bad("orderType-unknown", order(orderType="stop-loss"), "orderType"),
    bad("orderType-number", order(orderType=1), "orderType"),
    bad("missing-tokenIn", order(tokenIn=DROP), "tokenIn"),
    bad("missing-tokenOut", order(tokenOut=DROP), "tokenOut"),
    bad("missing-amountIn", order(amountIn=DROP), "amountIn"),
    bad("missing-walletAddress", order(walletAddress=DROP), "walletAddress"),
    # limit-only fields on a market order (explicit or default orderType)
    bad("limitPrice-on-market", order(limitPrice="160"), "limitPrice"),
    bad("expiresInSeconds-on-market", order(expiresInSeconds=60), "expiresInSeconds"),
    bad("maxPriceImpactBps-on-market", order(maxPriceImpactBps=100), "maxPriceImpactBps"),
    bad(
        "limitPrice-on-explicit-market",
        order(orderType="market", limitPrice="160"),
        "limitPrice",
    ),
    # several faults at once: every one is named
    bad(
        "three-faults",
        order(tokenIn="NOPE", amountIn="-1", walletAddress=WALLET_31_BYTES),
        "tokenIn",
        "amountIn",
        "walletAddress",
    ),
    bad(
        "two-type-faults",
        order(amountIn="abc", slippageBps=0),
        "amountIn",
        "slippageBps",
    ),
    bad(
        "type-faults-and-rule-faults",
        order(amountIn="abc", tokenIn="NOPE", walletAddress=WALLET_31_BYTES, expiresInSeconds=0),
        "amountIn",
        "tokenIn",
        "walletAddress",
        "expiresInSeconds",
    ),
    bad("unknown-and-missing", order(tokenIn=DROP, clientOrderId="x"), "tokenIn", "clientOrderId"),
    # the body as a whole
    bad("body-malformed-json", b'{"tokenIn": "SOL",, }', "body"),
    bad("body-truncated-json", encode(order())[:-10], "body"),
    bad("body-json-array", encode([order()]), "body"),
    bad("body-json-string", encode("SOL->USDC"), "body"),
    bad("body-json-null", b"null", "body"),
    bad("body-empty", b"", "body"),
]


def _param(case: Bad) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


def check_validation_error(response: httpx.Response, case: Bad) -> None:
    """400, the error shape of API.md, and a detail naming each offending field."""
    label = f"{case.id}: {case.content[:120]!r} answered {response.status_code} {response.text}"
    assert response.status_code == 400, label
    assert response.headers["content-type"].startswith("application/json"), label
    body = response.json()
    assert body["error"] == "VALIDATION_ERROR", label
    assert isinstance(body["message"], str) and body["message"], label
    details = body.get("details")
    assert isinstance(details, list) and details, label
    for item in details:
        assert set(item) == {"field", "message"}, label
        assert isinstance(item["message"], str) and item["message"], label
    named = {item["field"] for item in details}
    for acceptable in case.fields:
        assert named & acceptable, f"no detail names {sorted(acceptable)}; {label}"


async def post_raw(client: httpx.AsyncClient, engine: Engine, content: bytes) -> httpx.Response:
    return await client.post(
        f"{engine.url}/api/orders/execute",
        content=content,
        headers={"content-type": "application/json"},
    )


# --- HTTP submit ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [_param(c) for c in REJECTED])
async def test_rejected_submit_answers_400_naming_the_field(
    shared_engine: Engine, case: Bad
) -> None:
    async with httpx.AsyncClient() as client:
        response = await post_raw(client, shared_engine, case.content)
    check_validation_error(response, case)


async def test_numbers_as_json_strings_are_read_leniently_on_both_paths(
    shared_engine: Engine,
) -> None:
    """Litestar converts bodies leniently ("50" is 50); the WebSocket submit does the same."""
    async with httpx.AsyncClient() as client:
        response = await post_raw(client, shared_engine, encode(order(slippageBps="50")))
        assert response.status_code == 202, response.text
        stored = await client.get(f"{shared_engine.url}/api/orders/{response.json()['orderId']}")
        assert stored.json()["slippageBps"] == 50


async def test_body_over_64_kib_is_413_and_up_to_64_kib_is_read(shared_engine: Engine) -> None:
    valid = encode(order())

    def padded(size: int) -> bytes:  # the valid order, whitespace-padded to `size` bytes
        content = valid[:-1] + b" " * (size - len(valid)) + b"}"
        assert len(content) == size
        return content

    async with httpx.AsyncClient() as client:
        exactly = await post_raw(client, shared_engine, padded(MAX_BODY))
        assert exactly.status_code == 202, exactly.text
        over = await post_raw(client, shared_engine, padded(MAX_BODY + 1))
        assert over.status_code == 413, over.text
        assert over.json()["error"] == "PAYLOAD_TOO_LARGE"
        assert isinstance(over.json()["message"], str)
        huge_field = await post_raw(client, shared_engine, encode(order(tokenIn="x" * 100_000)))
        assert huge_field.status_code == 413, huge_field.text

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream is counted
            content = padded(4 * MAX_BODY)
            for start in range(0, len(content), 4096):
                yield content[start : start + 4096]

        chunked = await client.post(
            f"{shared_engine.url}/api/orders/execute",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413, chunked.text
        await wait_terminal(shared_engine, exactly.json()["orderId"])


@dataclass(frozen=True)
class Accepted:
    id: str
    body: dict[str, Any]
    expect: dict[str, Any]  # fields of GET /api/orders/{id}
    # A 1 bps tolerance may fail with SLIPPAGE_EXCEEDED: the living market may move the pool
    # before the landing.
    may_fail_on_slippage: bool = False


ACCEPTED = [
    Accepted("amountIn-json-number", order(amountIn=1.5), {"amountIn": "1.5"}),
    Accepted("amountIn-json-number-0.1", order(amountIn=0.1), {"amountIn": "0.1"}),
    Accepted("amountIn-json-integer", order(amountIn=2), {"amountIn": "2"}),
    Accepted("amountIn-all-9-decimals", order(amountIn="1.000000001"), {"amountIn": "1.000000001"}),
    Accepted(
        "amountIn-6-decimals-USDC",
        order(tokenIn="USDC", tokenOut="SOL", amountIn="1.234567"),
        {"amountIn": "1.234567", "tokenIn": "USDC", "tokenOut": "SOL"},
    ),
    Accepted("slippage-fraction", order(slippageBps=DROP, slippage=0.01), {"slippageBps": 100}),
    Accepted(
        "slippage-fraction-string", order(slippageBps=DROP, slippage="0.005"), {"slippageBps": 50}
    ),
    Accepted("slippage-fraction-max", order(slippageBps=DROP, slippage=0.5), {"slippageBps": 5000}),
    Accepted("slippageBps-min", order(slippageBps=1), {"slippageBps": 1}, True),
    Accepted("slippageBps-max", order(slippageBps=5000), {"slippageBps": 5000}),
    Accepted("slippage-default", order(slippageBps=DROP), {"slippageBps": 50}),
    Accepted("slippageBps-null", order(slippageBps=None), {"slippageBps": 50}),
    Accepted(
        "tokens-by-mint",
        order(tokenIn=SOL_MINT, tokenOut=USDC_MINT),
        {"tokenIn": "SOL", "tokenOut": "USDC"},
    ),
    Accepted(
        "tokens-lowercase-symbols",
        order(tokenIn="sol", tokenOut="usdc"),
        {"tokenIn": "SOL", "tokenOut": "USDC"},
    ),
    Accepted(
        "tokens-mixed-symbol-and-mint",
        order(tokenIn="Usdc", tokenOut=SOL_MINT, amountIn="25"),
        {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "25"},
    ),
    Accepted("orderType-market-explicit", order(orderType="market"), {"orderType": "market"}),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.id for c in ACCEPTED])
async def test_accepted_submit_forms_are_stored_as_meant(
    shared_engine: Engine, case: Accepted
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{shared_engine.url}/api/orders/execute", json=case.body)
        assert response.status_code == 202, f"{case.body} answered {response.text}"
        order_id = response.json()["orderId"]
        assert response.json()["status"] == "pending"
        events = await wait_terminal(shared_engine, order_id)
        stored = (await client.get(f"{shared_engine.url}/api/orders/{order_id}")).json()
    assert stored["walletAddress"] == WALLET
    assert stored["status"] == events[-1]["status"]
    if case.may_fail_on_slippage and stored["status"] == "failed":
        assert stored["failureReason"].startswith("SLIPPAGE_EXCEEDED"), stored
    else:
        assert stored["status"] == "confirmed", events[-1]
        assert Decimal(stored["amountOut"]) > 0
    for key, value in case.expect.items():
        assert stored[key] == value, f"{key}: {stored[key]!r} != {value!r} for {case.body}"
    # The pending event records what was accepted, in the same normalised form.
    pending = events[0]["data"]
    assert pending["amountIn"] == stored["amountIn"]
    assert pending["slippageBps"] == stored["slippageBps"]


# --- WebSocket submit ---------------------------------------------------------------------------


WS_REJECTED: list[Bad] = [
    bad("ws-tokenIn-unknown", order(tokenIn="NOPE"), "tokenIn"),
    bad("ws-tokens-equal-symbol-vs-mint", order(tokenOut=SOL_MINT), SAME_TOKEN),
    bad("ws-amountIn-10-decimals", order(amountIn="1.0000000001"), "amountIn"),
    bad("ws-slippage-and-slippageBps", order(slippage=0.01), {"slippage", "slippageBps"}),
    bad("ws-wallet-31-bytes", order(walletAddress=WALLET_31_BYTES), "walletAddress"),
    bad("ws-limitPrice-on-market", order(limitPrice="160"), "limitPrice"),
    bad("ws-malformed-json", b'{"tokenIn": ', "body"),
    bad("ws-amountIn-not-a-number", order(amountIn="abc"), "amountIn"),
    bad("ws-slippageBps-zero", order(slippageBps=0), "slippageBps"),
    bad("ws-unknown-field", order(clientOrderId="x"), "clientOrderId"),
    bad("ws-missing-walletAddress", order(walletAddress=DROP), "walletAddress"),
    bad("ws-two-type-faults", order(amountIn="abc", slippageBps=0), "amountIn", "slippageBps"),
]


def check_ws_rejection(case: Bad, messages: list[Any], code: int | None, reason: str) -> None:
    label = f"{case.id}: got {messages} then close {code} {reason!r}"
    assert code == 4400, label
    assert reason, label
    assert len(messages) == 1, label
    body = messages[0]
    assert body["error"] == "VALIDATION_ERROR", label
    assert isinstance(body["message"], str) and body["message"], label
    named = {item["field"] for item in body.get("details") or []}
    for acceptable in case.fields:
        assert named & acceptable, f"no detail names {sorted(acceptable)}; {label}"


@pytest.mark.parametrize("case", [_param(c) for c in WS_REJECTED])
async def test_ws_submit_rejects_bad_body_then_closes_4400(
    shared_engine: Engine, case: Bad
) -> None:
    messages, code, reason = await ws_session(
        f"{shared_engine.ws_url()}/api/orders/execute", send=case.content.decode()
    )
    check_ws_rejection(case, messages, code, reason)


async def test_ws_submit_streams_the_new_order_to_confirmed(shared_engine: Engine) -> None:
    messages, code, reason = await ws_session(
        f"{shared_engine.ws_url()}/api/orders/execute", send=json.dumps(order(amountIn="0.25"))
    )
    assert code == 1000, (code, reason, messages)
    accepted, events = messages[0], messages[1:]
    assert accepted["status"] == "pending"
    order_id = accepted["orderId"]
    assert str(uuid.UUID(order_id)) == order_id
    assert {k: v for k, v in accepted.items() if v is not None} == {
        "orderId": order_id,
        "status": "pending",
    }
    assert [e["status"] for e in events] == [
        "pending",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert {e["orderId"] for e in events} == {order_id}
    async with httpx.AsyncClient() as client:
        stored = (await client.get(f"{shared_engine.url}/api/orders/{order_id}")).json()
    assert stored["status"] == "confirmed"
    assert stored["amountIn"] == "0.25"
    assert stored["events"] == events


# --- Nothing left behind ------------------------------------------------------------------------


async def saq_order_jobs(redis: aioredis.Redis, namespace: str) -> dict[str, list[str]]:
    """Every trace of a job in the engine's SAQ queue: job records, queued and incomplete ids."""
    prefix = f"saq:job:{namespace}:orders:"
    records = [key.decode() async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    queued = await redis.lrange(f"saq:{namespace}:orders:queued", 0, -1)
    active = await redis.lrange(f"saq:{namespace}:orders:active", 0, -1)
    incomplete = await redis.zrange(f"saq:{namespace}:orders:incomplete", 0, -1)
    return {
        "records": sorted(records),
        "queued": sorted(item.decode() for item in queued),
        "active": sorted(item.decode() for item in active),
        "incomplete": sorted(item.decode() for item in incomplete),
    }


async def test_rejected_requests_leave_nothing_behind(engine_factory: EngineFactory) -> None:
    """Every rejected request, HTTP and WebSocket, then one valid order: only that order exists
    in PostgreSQL, in the SAQ queue and on the event channels.

    No worker runs while the rejected requests are sent, so a job one of them enqueued would
    still be in the queue when it is inspected (a finished job leaves Redis)."""
    engine: Engine = await engine_factory(workers=0)
    namespace = engine.settings.redis_namespace
    redis = aioredis.from_url(engine.settings.redis_url)
    pubsub = redis.pubsub()
    try:
        await pubsub.psubscribe(f"{namespace}:order:*")
        confirmation = await pubsub.get_message(timeout=5)
        assert confirmation is not None and confirmation["type"] == "psubscribe", confirmation

        async with httpx.AsyncClient() as client:
            for case in REJECTED:
                response = await post_raw(client, engine, case.content)
                assert response.status_code == 400, f"{case.id}: {response.text}"
            too_big = await post_raw(client, engine, encode(order(tokenIn="x" * MAX_BODY)))
            assert too_big.status_code == 413, too_big.text
        for case in WS_REJECTED:
            messages, code, reason = await ws_session(
                f"{engine.ws_url()}/api/orders/execute", send=case.content.decode()
            )
            assert code == 4400, f"{case.id}: {messages} {code} {reason}"
            assert len(messages) == 1 and messages[0]["error"] == "VALIDATION_ERROR", messages

        assert await saq_order_jobs(redis, namespace) == {
            "records": [],
            "queued": [],
            "active": [],
            "incomplete": [],
        }
        queue_info = await create_queue(engine.settings, redis).info()
        assert (queue_info["queued"], queue_info["active"], queue_info["scheduled"]) == (0, 0, 0)
        connection = await asyncpg.connect(engine.settings.database_url)
        try:
            assert await connection.fetchval("SELECT count(*) FROM orders") == 0
            assert await connection.fetchval("SELECT count(*) FROM order_events") == 0
        finally:
            await connection.close()

        async with httpx.AsyncClient() as client:
            valid = await engine.submit(client)
        assert valid.status_code == 202, valid.text
        valid_id = valid.json()["orderId"]
        jobs = await saq_order_jobs(redis, namespace)
        assert jobs["records"] == [f"saq:job:{namespace}:orders:{valid_id}"], jobs
        await engine.add_worker()

        # The first event anybody published is the valid order's: none came from a rejection.
        first = await pubsub.get_message(ignore_subscribe_messages=True, timeout=20)
        assert first is not None, "the valid order published no event within 20 s"
        assert first["channel"].decode() == f"{namespace}:order:{valid_id}", first
        assert msgspec.json.decode(first["data"])["orderId"] == valid_id
        events = await wait_terminal(engine, valid_id)
        assert events[-1]["status"] == "confirmed"
    finally:
        await pubsub.aclose()
        await redis.aclose()

    connection = await asyncpg.connect(engine.settings.database_url)
    try:
        orders = await connection.fetch("SELECT id FROM orders")
        event_owners = await connection.fetch(
            "SELECT order_id, count(*) AS n FROM order_events GROUP BY order_id"
        )
    finally:
        await connection.close()
    assert [str(row["id"]) for row in orders] == [valid_id]
    assert {str(row["order_id"]): row["n"] for row in event_owners} == {valid_id: 5}
