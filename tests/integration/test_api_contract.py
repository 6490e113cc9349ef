"""The public contract of API.md beyond submit validation, through real API and worker processes:
the order view, a wallet's history by cursor, queue metrics, health, the OpenAPI document, the
token registry, error bodies for unknown routes and methods, and the WebSocket streams.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import base58
import httpx
import pytest
import websockets

from tests.helpers.engine import (
    WALLET,
    Engine,
    EngineFactory,
    follow,
    new_wallet,
    wait_terminal,
    ws_session,
)

SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
LIFECYCLE = ["pending", "routing", "building", "submitted", "confirmed"]
# One lamport in: the fee (rounded up) eats it all, no venue can pay anything out, and the order
# fails for good with NO_ROUTE right after pending.
UNFILLABLE_SOL = "0.000000001"


def assert_error_body(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    label = f"{response.request.method} {response.request.url} -> {response.status_code} "
    label += response.text[:300]
    assert response.status_code == status, label
    assert response.headers["content-type"].startswith("application/json"), label
    body: dict[str, Any] = response.json()
    assert body["error"] == error, label
    assert isinstance(body["message"], str) and body["message"], label
    assert set(body) <= {"error", "message", "details", "status"}, label
    return body


async def submit(client: httpx.AsyncClient, engine: Engine, **changes: Any) -> str:
    response = await engine.submit(client, **changes)
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


def is_decimal_string(value: Any) -> bool:
    """A plain decimal string: no exponent, no float noise, parseable exactly."""
    if not isinstance(value, str) or "e" in value.lower():
        return False
    try:
        return Decimal(value).is_finite()
    except ArithmeticError:
        return False


# --- GET /api/orders/{orderId} -----------------------------------------------------------------


async def test_get_order_unknown_is_404_and_malformed_id_is_400(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        unknown = uuid.uuid4()
        body = assert_error_body(
            await client.get(f"{shared_engine.url}/api/orders/{unknown}"), 404, "NOT_FOUND"
        )
        assert str(unknown) in body["message"]
        for malformed in (
            "not-a-uuid",
            "12345",
            str(unknown)[:-1],
            str(unknown) + "0",
            str(unknown)[:-1] + "g",
            "%27%20OR%201%3D1%20--",
        ):
            response = await client.get(f"{shared_engine.url}/api/orders/{malformed}")
            body = assert_error_body(response, 400, "VALIDATION_ERROR")
            assert [d["field"] for d in body["details"]] == ["orderId"], body


async def test_confirmed_order_has_every_contract_field(shared_engine: Engine) -> None:
    wallet = new_wallet()
    async with httpx.AsyncClient() as client:
        response = await shared_engine.submit(client, walletAddress=wallet, amountIn="1.5")
        assert response.status_code == 202, response.text
        accepted = response.json()
        order_id = accepted["orderId"]
        assert str(uuid.UUID(order_id)) == order_id
        assert accepted["status"] == "pending"
        assert accepted["wsUrl"] == f"{shared_engine.ws_url()}/api/orders/ws?orderId={order_id}"
        assert response.headers["location"] == f"/api/orders/{order_id}"

        streamed = await wait_terminal(shared_engine, order_id)
        got = await client.get(f"{shared_engine.url}{response.headers['location']}")
    assert got.status_code == 200, got.text
    stored = got.json()

    assert stored["orderId"] == order_id
    assert stored["status"] == "confirmed"
    assert stored["orderType"] == "market"
    assert (stored["tokenIn"], stored["tokenOut"]) == ("SOL", "USDC")
    assert stored["amountIn"] == "1.5"
    assert stored["slippageBps"] == 50
    assert stored["walletAddress"] == wallet
    assert stored["attempt"] == 1
    assert stored["failureReason"] is None
    for key in ("amountOut", "minAmountOut", "executedPrice"):
        assert is_decimal_string(stored[key]), f"{key}={stored[key]!r}"
    amount_out = Decimal(stored["amountOut"])
    assert Decimal(stored["minAmountOut"]) <= amount_out
    # 1.5 SOL at about 150 USDC: the seeded venues stay within a few percent of it.
    assert Decimal(100) < amount_out < Decimal(300), amount_out
    assert Decimal(stored["executedPrice"]) == pytest.approx(amount_out / Decimal("1.5"))
    assert stored["venue"] in {"raydium", "meteora"}
    assert len(base58.b58decode(stored["txSignature"])) == 64
    assert stored["createdAt"] <= stored["updatedAt"]
    for key in ("createdAt", "updatedAt"):
        assert stored[key].endswith("Z") and "T" in stored[key], stored[key]

    events = stored["events"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["status"] for e in events] == LIFECYCLE
    assert events == streamed, "GET and the WebSocket must carry the same event objects"
    for event in events:
        assert set(event) == {"orderId", "seq", "status", "attempt", "timestamp", "data"}, event
        assert event["orderId"] == order_id
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    confirmed = events[-1]["data"]
    assert confirmed["amountOut"] == stored["amountOut"]
    assert confirmed["txHash"] == stored["txSignature"] == events[3]["data"]["txSignature"]
    assert isinstance(confirmed["executionTimeMs"], int)
    assert events[2]["data"]["minAmountOut"] == stored["minAmountOut"]


async def test_failed_order_persists_its_reason(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        order_id = await submit(client, shared_engine, amountIn=UNFILLABLE_SOL)
        streamed = await wait_terminal(shared_engine, order_id)
        stored = (await client.get(f"{shared_engine.url}/api/orders/{order_id}")).json()
    assert [e["status"] for e in streamed] == ["pending", "failed"]
    assert streamed[-1]["data"]["error"]["code"] == "NO_ROUTE"
    assert stored["status"] == "failed"
    assert stored["amountIn"] == UNFILLABLE_SOL
    assert stored["amountOut"] is None
    assert stored["failureReason"].startswith("NO_ROUTE"), stored["failureReason"]
    assert stored["events"] == streamed


# --- GET /api/orders/history/{walletAddress} -----------------------------------------------------


async def history(
    client: httpx.AsyncClient, engine: Engine, wallet: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"{engine.url}/api/orders/history/{wallet}", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert set(page) == {"orders", "nextCursor"}, page
    return page


async def test_history_pages_newest_first_without_gaps_or_repeats(shared_engine: Engine) -> None:
    wallet, other = new_wallet(), new_wallet()
    async with httpx.AsyncClient() as client:
        mine: list[str] = []  # in submission order
        for index in range(7):
            # The fourth order fails (NO_ROUTE): the status filter has something to tell apart.
            amount = UNFILLABLE_SOL if index == 3 else f"0.{index + 1}"
            mine.append(await submit(client, shared_engine, walletAddress=wallet, amountIn=amount))
            await wait_terminal(shared_engine, mine[-1])
        theirs = []
        for _ in range(2):
            theirs.append(await submit(client, shared_engine, walletAddress=other))
            await wait_terminal(shared_engine, theirs[-1])
        newest_first = mine[::-1]

        pages: list[list[dict[str, Any]]] = []
        page = await history(client, shared_engine, wallet, limit=3)
        pages.append(page["orders"])
        # An order placed while a client pages is newer than every page: it must not shift
        # the next pages (keyset cursor, not offset).
        late = await submit(client, shared_engine, walletAddress=wallet)
        await wait_terminal(shared_engine, late)
        while page["nextCursor"] is not None:
            assert len(pages) < 5, "the cursor never ends"
            page = await history(client, shared_engine, wallet, limit=3, cursor=page["nextCursor"])
            pages.append(page["orders"])
        assert [len(p) for p in pages] == [3, 3, 1]
        paged = [o for p in pages for o in p]
        assert [o["orderId"] for o in paged] == newest_first, "pages skipped or repeated"
        created = [o["createdAt"] for o in paged]
        assert created == sorted(created, reverse=True)
        assert {o["walletAddress"] for o in paged} == {wallet}

        everything = await history(client, shared_engine, wallet)
        assert [o["orderId"] for o in everything["orders"]] == [late, *newest_first]
        assert everything["nextCursor"] is None
        exact = await history(client, shared_engine, wallet, limit=8)
        assert len(exact["orders"]) == 8 and exact["nextCursor"] is None

        confirmed = await history(client, shared_engine, wallet, status="confirmed", limit=200)
        assert [o["orderId"] for o in confirmed["orders"]] == [
            late,
            *[i for i in newest_first if i != mine[3]],
        ]
        assert {o["status"] for o in confirmed["orders"]} == {"confirmed"}
        failed = await history(client, shared_engine, wallet, status="failed")
        assert [o["orderId"] for o in failed["orders"]] == [mine[3]]
        assert (await history(client, shared_engine, wallet, status="pending"))["orders"] == []

        first_confirmed = await history(client, shared_engine, wallet, status="confirmed", limit=2)
        rest = await history(
            client,
            shared_engine,
            wallet,
            status="confirmed",
            limit=200,
            cursor=first_confirmed["nextCursor"],
        )
        assert [o["orderId"] for o in first_confirmed["orders"] + rest["orders"]] == [
            o["orderId"] for o in confirmed["orders"]
        ]

        other_page = await history(client, shared_engine, other)
        assert [o["orderId"] for o in other_page["orders"]] == theirs[::-1]
        assert (await history(client, shared_engine, new_wallet()))["orders"] == []


HISTORY_BAD_QUERIES = [
    pytest.param("not-a-wallet", {}, "walletAddress", id="wallet-malformed"),
    pytest.param(base58.b58encode(b"\x01" * 31).decode(), {}, "walletAddress", id="wallet-31"),
    pytest.param(WALLET, {"limit": "0"}, "limit", id="limit-0"),
    pytest.param(WALLET, {"limit": "201"}, "limit", id="limit-201"),
    pytest.param(WALLET, {"limit": "-1"}, "limit", id="limit-negative"),
    pytest.param(WALLET, {"limit": "abc"}, "limit", id="limit-abc"),
    pytest.param(WALLET, {"limit": "2.5"}, "limit", id="limit-fraction"),
    pytest.param(WALLET, {"status": "done"}, "status", id="status-unknown"),
    pytest.param(WALLET, {"status": "CONFIRMED"}, "status", id="status-uppercase"),
    pytest.param(WALLET, {"cursor": "garbage"}, "cursor", id="cursor-garbage"),
    pytest.param(WALLET, {"cursor": "0OIl"}, "cursor", id="cursor-not-base58"),
    pytest.param(
        WALLET,
        {"cursor": base58.b58encode(b"2026-01-01T00:00:00|not-a-uuid").decode()},
        "cursor",
        id="cursor-forged",
    ),
]


@pytest.mark.parametrize(("wallet", "params", "field"), HISTORY_BAD_QUERIES)
async def test_history_rejects_bad_queries(
    shared_engine: Engine, wallet: str, params: dict[str, str], field: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{shared_engine.url}/api/orders/history/{wallet}", params=params
        )
    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert field in {d["field"] for d in body["details"]}, body


# Query parameters: every bad one named at once, as the client spelled it (camelCase).
QUERY_FAULTS = [
    pytest.param(
        "/api/quote",
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": "0"},
        {"slippageBps"},
        id="quote-slippageBps-zero",
    ),
    pytest.param(
        "/api/quote",
        {"tokenIn": "NOPE", "tokenOut": "USDC", "amountIn": "abc", "slippageBps": "x"},
        {"tokenIn", "amountIn", "slippageBps"},
        id="quote-three-faults",
    ),
    pytest.param(
        "/api/quote", {"tokenIn": "SOL", "amountIn": "1"}, {"tokenOut"}, id="quote-missing"
    ),
    pytest.param(
        f"/api/orders/history/{WALLET}",
        {"limit": "0", "status": "done", "cursor": "garbage"},
        {"limit", "status", "cursor"},
        id="history-three-faults",
    ),
    pytest.param(
        "/api/chain/transactions", {"orderId": "not-a-uuid"}, {"orderId"}, id="chain-orderId"
    ),
    pytest.param("/api/chain/transactions", {}, {"orderId"}, id="chain-orderId-missing"),
]


@pytest.mark.parametrize(("path", "params", "fields"), QUERY_FAULTS)
async def test_bad_query_parameters_are_all_named_in_camel_case(
    shared_engine: Engine, path: str, params: dict[str, str], fields: set[str]
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{shared_engine.url}{path}", params=params)
    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in body["details"]} == fields, body


# --- GET /api/pools/{poolId} -----------------------------------------------------------------


async def test_a_pool_shows_its_bins_and_an_unknown_pool_is_404(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        listed = {
            p["poolId"]: p for p in (await client.get(f"{shared_engine.url}/api/pools")).json()
        }
        meteora = (await client.get(f"{shared_engine.url}/api/pools/meteora-SOL-USDC")).json()
        raydium = (await client.get(f"{shared_engine.url}/api/pools/raydium-SOL-USDC")).json()
        unknown = await client.get(f"{shared_engine.url}/api/pools/raydium-NOPE-USDC")
    assert_error_body(unknown, 404, "NOT_FOUND")
    assert "bins" not in listed["meteora-SOL-USDC"]
    assert {k: v for k, v in meteora.items() if k != "bins"} == listed["meteora-SOL-USDC"]
    assert raydium == listed["raydium-SOL-USDC"]  # a CPMM pool has no bins
    bins = meteora["bins"]
    assert len(bins) == meteora["binsWithLiquidity"] > 1
    ids = [b["binId"] for b in bins]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(set(b) == {"binId", "price", "amountA", "amountB"} for b in bins)
    assert all(Decimal(b["amountA"]) > 0 or Decimal(b["amountB"]) > 0 for b in bins)
    # Below the active bin only tokenB (Y), above it only tokenA (X); prices rise with the id.
    active = meteora["activeId"]
    assert all(Decimal(b["amountA"]) == 0 for b in bins if b["binId"] < active)
    assert all(Decimal(b["amountB"]) == 0 for b in bins if b["binId"] > active)
    prices = [Decimal(b["price"]) for b in bins]
    assert prices == sorted(prices) and prices[0] < Decimal(meteora["price"]) < prices[-1]
    # Every base unit of the reserves is in some bin.
    assert sum(Decimal(b["amountA"]) for b in bins) == Decimal(meteora["reserveA"])
    assert sum(Decimal(b["amountB"]) for b in bins) == Decimal(meteora["reserveB"])


# --- GET /api/queue/metrics ----------------------------------------------------------------------


async def test_queue_metrics_report_settings_and_finished_orders(
    engine_factory: EngineFactory,
) -> None:
    engine: Engine = await engine_factory(
        QUEUE_CONCURRENCY="7", QUEUE_RATE_LIMIT_PER_MINUTE="600", QUEUE_MAX_ATTEMPTS="4"
    )
    async with httpx.AsyncClient() as client:

        async def metrics() -> dict[str, Any]:
            response = await client.get(f"{engine.url}/api/queue/metrics")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        before = await metrics()
        assert before["queue"]["complete"] == 0 and before["queue"]["failed"] == 0, before

        ids = [await submit(client, engine) for _ in range(3)]
        ids.append(await submit(client, engine, amountIn=UNFILLABLE_SOL))
        outcomes = [(await wait_terminal(engine, i))[-1]["status"] for i in ids]
        assert outcomes == ["confirmed", "confirmed", "confirmed", "failed"]
        after = await metrics()

    queue = after["queue"]
    assert set(queue) >= {"queued", "active", "scheduled", "complete", "failed"}, queue
    assert all(isinstance(queue[k], int) and queue[k] >= 0 for k in queue), queue
    assert queue["complete"] == 3, queue
    assert queue["failed"] == 1, queue
    assert after["workers"] == 1, after
    limits = after["limits"]
    settings = engine.settings
    assert (limits["concurrency"], limits["ratePerMinute"], limits["maxAttempts"]) == (7, 600, 4)
    assert (limits["concurrency"], limits["ratePerMinute"], limits["maxAttempts"]) == (
        settings.queue_concurrency,
        settings.queue_rate_limit_per_minute,
        settings.queue_max_attempts,
    )


# --- health, schema, tokens, unknown routes -------------------------------------------------


async def test_health_reports_postgres_and_redis_ok(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{shared_engine.url}/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["postgres"], body["redis"]) == ("ok", "ok", "ok"), body


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` of the OpenAPI document."""
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


async def test_openapi_document_describes_the_api(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{shared_engine.url}/schema/openapi.json")
    assert response.status_code == 200, response.text[:300]
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/orders/execute",
        "/api/orders/{order_id}",
        "/api/orders/history/{wallet_address}",
        "/api/queue/metrics",
        "/health",
    ):
        assert path in paths, f"{path} missing from {sorted(paths)}"
    content = paths["/api/orders/execute"]["post"]["requestBody"]["content"]
    submit_schema = resolve(document, content["application/json"]["schema"])
    properties = set(submit_schema["properties"])
    assert {
        "orderType",
        "tokenIn",
        "tokenOut",
        "amountIn",
        "slippageBps",
        "slippage",
        "walletAddress",
    } <= properties, properties
    assert not {p for p in properties if "_" in p}, f"snake_case properties: {properties}"
    assert set(submit_schema["required"]) >= {"tokenIn", "tokenOut", "amountIn", "walletAddress"}


async def test_token_registry(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{shared_engine.url}/api/tokens")
    assert response.status_code == 200, response.text
    tokens = response.json()
    by_symbol = {t["symbol"]: t for t in tokens}
    assert len(by_symbol) == len(tokens), "duplicate symbols"
    assert (by_symbol["SOL"]["mint"], by_symbol["SOL"]["decimals"]) == (SOL_MINT, 9)
    assert (by_symbol["USDC"]["mint"], by_symbol["USDC"]["decimals"]) == (USDC_MINT, 6)
    assert len({t["mint"] for t in tokens}) == len(tokens), "duplicate mints"
    for token in tokens:
        assert len(base58.b58decode(token["mint"])) == 32, token
        assert isinstance(token["decimals"], int) and 0 <= token["decimals"] <= 18, token


async def test_unknown_route_is_404_and_wrong_method_is_405(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        for path in ("/api/nope", "/api/orders", "/api/order/x", "/health/deep"):
            assert_error_body(await client.get(f"{shared_engine.url}{path}"), 404, "NOT_FOUND")
        for method, path in (
            ("PUT", "/api/orders/execute"),
            ("PATCH", "/api/orders/execute"),
            ("POST", "/api/tokens"),
            ("POST", f"/api/orders/{uuid.uuid4()}"),
            ("DELETE", "/api/queue/metrics"),
        ):
            response = await client.request(method, f"{shared_engine.url}{path}")
            assert_error_body(response, 405, "METHOD_NOT_ALLOWED")


# --- WebSocket streams ---------------------------------------------------------------------

STREAM_ERRORS = [
    pytest.param("/api/orders/ws?orderId=not-a-uuid", 4400, id="ws-malformed-id"),
    pytest.param("/api/orders/ws?orderId=12345", 4400, id="ws-numeric-id"),
    pytest.param(f"/api/orders/ws?orderId={uuid.uuid4()}", 4404, id="ws-unknown-id"),
    pytest.param("/api/orders/ws", 4400, id="ws-missing-id"),
    pytest.param("/api/orders/ws?afterSeq=0", 4400, id="ws-missing-id-with-afterSeq"),
    pytest.param(f"/api/orders/ws?orderId={uuid.uuid4()}&afterSeq=-1", 4400, id="ws-afterSeq-neg"),
    pytest.param(f"/api/orders/ws?orderId={uuid.uuid4()}&afterSeq=x", 4400, id="ws-afterSeq-text"),
    pytest.param("/api/orders/execute?orderId=not-a-uuid", 4400, id="execute-malformed-id"),
    pytest.param(f"/api/orders/execute?orderId={uuid.uuid4()}", 4404, id="execute-unknown-id"),
    pytest.param(
        f"/api/orders/execute?orderId={uuid.uuid4()}&afterSeq=-1", 4400, id="execute-afterSeq-neg"
    ),
]


@pytest.mark.parametrize(("path", "code"), STREAM_ERRORS)
async def test_stream_closes_with_code_and_reason_for_bad_query(
    shared_engine: Engine, path: str, code: int
) -> None:
    messages, close_code, reason = await ws_session(f"{shared_engine.ws_url()}{path}")
    assert (close_code, messages) == (code, []), (close_code, reason, messages)
    assert reason.strip(), "the close must say why"


async def test_execute_path_follows_an_order_like_the_ws_path(shared_engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        order_id = await submit(client, shared_engine)
    via_ws = await wait_terminal(shared_engine, order_id)
    assert [e["status"] for e in via_ws] == LIFECYCLE
    base = f"{shared_engine.ws_url()}/api/orders/execute?orderId={order_id}"
    messages, code, reason = await ws_session(base)
    assert (code, messages) == (1000, via_ws), reason
    messages, code, reason = await ws_session(f"{base}&afterSeq=3")
    assert code == 1000, reason
    assert messages == via_ws[3:]


@pytest.mark.parametrize("path", ["ws", "execute"])
async def test_resuming_after_the_terminal_event_closes_at_once(
    shared_engine: Engine, path: str
) -> None:
    async with httpx.AsyncClient() as client:
        order_id = await submit(client, shared_engine)
    events = await wait_terminal(shared_engine, order_id)
    assert events[-1]["seq"] == 5
    for after_seq in (5, 6, 1000):
        url = f"{shared_engine.ws_url()}/api/orders/{path}?orderId={order_id}&afterSeq={after_seq}"
        # A terminal order has nothing more to send: the answer is an immediate close. The
        # bound only keeps the failing case from hanging the suite.
        messages, code, reason = await ws_session(url, timeout_s=3)
        assert (code, messages) == (1000, []), (after_seq, reason)


async def test_concurrent_followers_get_the_identical_full_sequence(
    engine_factory: EngineFactory,
) -> None:
    """Clients that subscribe while the order runs (on both upgrade paths) each get every event
    once, in order, and the same objects as the stored timeline."""
    engine: Engine = await engine_factory(
        DEX_QUOTE_LATENCY_MS="100", DEX_EXECUTION_LATENCY_MS="600"
    )
    async with httpx.AsyncClient() as client:
        order_id = await submit(client, engine)
        urls = [
            f"{engine.ws_url()}/api/orders/ws?orderId={order_id}",
            f"{engine.ws_url()}/api/orders/ws?orderId={order_id}",
            f"{engine.ws_url()}/api/orders/execute?orderId={order_id}",
        ]
        async with asyncio.timeout(30):
            sockets = [await websockets.connect(url) for url in urls]
            try:
                firsts = [json.loads(await socket.recv()) for socket in sockets]
                # Every follower is subscribed (it has the replayed pending event) while the
                # order is still running: the rest reaches them live.
                status = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
                assert status["status"] not in {"confirmed", "failed"}, status

                async def rest(socket: websockets.ClientConnection) -> list[dict[str, Any]]:
                    return [json.loads(message) async for message in socket]

                tails = await asyncio.gather(*(rest(socket) for socket in sockets))
                codes = [socket.close_code for socket in sockets]
            finally:
                for socket in sockets:
                    await socket.close()
        stored = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
    sequences = [[first, *tail] for first, tail in zip(firsts, tails, strict=True)]
    assert codes == [1000, 1000, 1000]
    assert [e["seq"] for e in sequences[0]] == [1, 2, 3, 4, 5]
    assert [e["status"] for e in sequences[0]] == LIFECYCLE
    assert sequences[1] == sequences[0]
    assert sequences[2] == sequences[0]
    assert stored["events"] == sequences[0]
    again, code = await follow(engine.ws_url(), order_id)
    assert (again, code) == (sequences[0], 1000)
