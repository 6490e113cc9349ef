"""Idempotent submits, wallet signatures, ownership of cancels, the per-client submit limit."""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import httpx
import msgspec
import websockets
from solders.keypair import Keypair

from tests.helpers.engine import Engine, EngineFactory, wait_terminal

ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 50}


async def order_count(engine: Engine) -> int:
    db = await asyncpg.connect(engine.settings.database_url)
    try:
        return int(await db.fetchval("SELECT count(*) FROM orders"))
    finally:
        await db.close()


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    engine: Engine,
) -> None:
    wallet = str(Keypair().pubkey())
    body = {**ORDER, "walletAddress": wallet}
    url = f"{engine.url}/api/orders/execute"
    async with httpx.AsyncClient() as http:
        first = await http.post(url, json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 202
        # The same order, written differently (key order, spacing): the same answer.
        spaced = json.dumps(dict(reversed(list(body.items()))), indent=2)
        again = await http.post(
            url,
            content=spaced,
            headers={"Idempotency-Key": "k-1", "content-type": "application/json"},
        )
        assert again.status_code == 202 and again.json() == first.json()
        other = await http.post(
            url, json={**body, "amountIn": "2"}, headers={"Idempotency-Key": "k-1"}
        )
        assert other.status_code == 422 and other.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
        await wait_terminal(engine, first.json()["orderId"])
    assert await order_count(engine) == 1


async def test_simultaneous_duplicates_create_one_order(engine: Engine) -> None:
    body = {**ORDER, "walletAddress": str(Keypair().pubkey())}
    async with httpx.AsyncClient() as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{engine.url}/api/orders/execute",
                    json=body,
                    headers={"Idempotency-Key": "same"},
                )
                for _ in range(20)
            )
        )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["orderId"] for a in answers}) == 1
    assert await order_count(engine) == 1


def signed(keypair: Keypair, body: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    raw = msgspec.json.encode(body)
    signature = str(keypair.sign_message(raw))
    return raw, {"X-Wallet-Signature": signature, "content-type": "application/json"}


async def test_signatures_prove_the_wallet(engine_factory: EngineFactory) -> None:
    engine: Engine = await engine_factory(REQUIRE_SIGNATURES="true")
    owner, stranger = Keypair(), Keypair()
    body = {**ORDER, "walletAddress": str(owner.pubkey())}
    url = f"{engine.url}/api/orders/execute"
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(url, json=body)
        assert unsigned.status_code == 401
        raw, headers = signed(stranger, body)  # a forged signature: someone else's key
        assert (await http.post(url, content=raw, headers=headers)).status_code == 401
        raw, headers = signed(owner, body)
        tampered = raw.replace(b'"1.5"', b'"150"')  # signed body changed on the way
        assert (await http.post(url, content=tampered, headers=headers)).status_code == 401
        garbage = {**headers, "X-Wallet-Signature": "not-base58-!!"}
        assert (await http.post(url, content=raw, headers=garbage)).status_code == 401
        assert await order_count(engine) == 0
        accepted = await http.post(url, content=raw, headers=headers)
        assert accepted.status_code == 202, accepted.text

        # A waiting order: only its owner, with a signature of cancel:<id>, may cancel it.
        limit = {**body, "orderType": "limit", "limitPrice": "100000"}
        raw, headers = signed(owner, limit)
        order_id = (await http.post(url, content=raw, headers=headers)).json()["orderId"]
        cancel_url = f"{engine.url}/api/orders/{order_id}"
        message = f"cancel:{order_id}".encode()
        by_stranger = {
            "X-Wallet-Address": str(stranger.pubkey()),
            "X-Wallet-Signature": str(stranger.sign_message(message)),
        }
        assert (await http.delete(cancel_url, headers=by_stranger)).status_code == 403
        unsigned_cancel = {"X-Wallet-Address": str(owner.pubkey())}
        assert (await http.delete(cancel_url, headers=unsigned_cancel)).status_code == 401
        wrong_message = {
            **unsigned_cancel,
            "X-Wallet-Signature": str(owner.sign_message(b"cancel:someone-else")),
        }
        assert (await http.delete(cancel_url, headers=wrong_message)).status_code == 401
        by_owner = {**unsigned_cancel, "X-Wallet-Signature": str(owner.sign_message(message))}
        response = await http.delete(cancel_url, headers=by_owner)
        assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # Submit over WebSocket: the signature of the first message, in the query.
    raw, headers = signed(owner, body)
    ws = f"{engine.ws_url()}/api/orders/execute?signature={headers['X-Wallet-Signature']}"
    async with asyncio.timeout(30), websockets.connect(ws) as socket:
        await socket.send(raw.decode())
        first = json.loads(await socket.recv())
        assert first["status"] == "pending"
    async with (
        asyncio.timeout(30),
        websockets.connect(f"{engine.ws_url()}/api/orders/execute") as socket,
    ):
        await socket.send(raw.decode())
        refused = json.loads(await socket.recv())
        assert refused["error"] == "UNAUTHORIZED"


async def test_cancel_by_another_wallet_is_forbidden_without_signatures(engine: Engine) -> None:
    owner, other = str(Keypair().pubkey()), str(Keypair().pubkey())
    async with httpx.AsyncClient() as http:
        order_id = (
            await engine.submit(http, walletAddress=owner, orderType="limit", limitPrice="100000")
        ).json()["orderId"]
        url = f"{engine.url}/api/orders/{order_id}"
        assert (await http.delete(url, headers={"X-Wallet-Address": other})).status_code == 403
        stored = (await http.get(url)).json()
        assert stored["status"] == "waiting"


async def test_submits_are_limited_per_client(engine_factory: EngineFactory) -> None:
    engine: Engine = await engine_factory(SUBMIT_RATE_LIMIT_PER_MINUTE="60")
    async with httpx.AsyncClient() as http:
        answers = [await engine.submit(http) for _ in range(12)]
        codes = [a.status_code for a in answers]
        assert codes[:6] == [202] * 6  # a burst of a tenth of a minute's allowance
        limited = [a for a in answers if a.status_code == 429]
        assert limited, codes
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["error"] == "RATE_LIMITED"
        # Another client (behind the proxy: a different X-Forwarded-For) is not affected.
        other = await http.post(
            f"{engine.url}/api/orders/execute",
            json={**ORDER, "walletAddress": str(Keypair().pubkey())},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert other.status_code == 202
    assert await order_count(engine) == codes.count(202) + 1


async def test_oversized_websocket_message_closes_with_1009(engine: Engine) -> None:
    async with (
        asyncio.timeout(30),
        websockets.connect(f"{engine.ws_url()}/api/orders/execute", max_size=None) as socket,
    ):
        await socket.send("x" * (70 * 1024))
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.recv()
    assert socket.close_code == 1009
    assert await order_count(engine) == 0
