"""The trading desk (GET /) driven in a real browser: headless Chromium (Debian's package, not
Playwright's download) under Playwright, against real API and worker processes.

Flows: a market order placed from the ticket reaches `confirmed` on its timeline; a refused
order shows each error next to its field; a waiting limit order is cancelled from its timeline
(skipped until the engine accepts limit orders); on an engine with REQUIRE_SIGNATURES the desk's
own keypair (WebCrypto Ed25519, kept in IndexedDB) signs submits and cancels, and without
Ed25519 the desk still trades where signatures are not required; the engine panel follows the
engine, and charts a DLMM pool's liquidity per bin; the routing step's quote table fits its card
on a 1280-pixel screen and on a phone; the balances card shows what the chain holds for the
wallet, after funding it from the desk's faucet control (which names each refusal: a wrong
token, a bad amount, an engine without a faucet) and, by itself, after the desk's orders move
them on the chain; a read the chain cannot answer is said in the card;
a wallet funded without the faucet's approval fails its order NOT_APPROVED, then approves the
engine from the desk with a transaction its browser key signs (read back from the chain), and
trades; the desk's transaction bytes (js/solana_tx.js, run in Chromium) are solders' bytes.
The screenshots land in test-artifacts/; with
UPDATE_README_PICTURE=1 the first screen also replaces docs/desk.png, the README's picture (a
test run leaves the tree clean otherwise).

Skipped, saying so, only when no Chromium is installed (`apt-get install chromium`; .ci/run
installs it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import struct
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Route, async_playwright, expect
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from functions.desk import STATIC_DIR
from shared.auth import cancel_message, signature_is_valid
from shared.tokens import token_by_symbol
from shared.venues.spl import (
    TOKEN_PROGRAM_ID,
    associated_token_address,
    create_associated_token_account_idempotent,
    rent_exempt_lamports,
)
from shared.wallets import STARTER, U64_MAX, WALLET_LAMPORTS
from tests.helpers.engine import Engine, EngineFactory, new_wallet, wait_terminal

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
README_PICTURE = ROOT / "docs" / "desk.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1440, "height": 900}
SMALL_LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STREAM_TIMEOUT_MS = 30_000
CONTROL = "desk-tests-control"  # the engines' SIM_CONTROL_TOKEN where they have a faucet
ON_CHAIN = {"CHAIN_SLOT_MS": "40"}
# A browser whose WebCrypto has no Ed25519 (as older ones): generating such a key is refused.
NO_ED25519 = """(() => {
  const generateKey = SubtleCrypto.prototype.generateKey;
  SubtleCrypto.prototype.generateKey = function (algorithm, ...rest) {
    if ((algorithm?.name ?? algorithm) === "Ed25519") {
      return Promise.reject(new DOMException("Unrecognized algorithm name", "NotSupportedError"));
    }
    return generateKey.call(this, algorithm, ...rest);
  };
})();"""


def find_chromium() -> str | None:
    candidates = [
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (looked for $CHROMIUM_PATH, /usr/bin/chromium, chromium, "
            "google-chrome): install it with `apt-get install chromium` to run the desk tests"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def is_submit(request: Any) -> bool:
    return request.method == "POST" and request.url.endswith("/api/orders/execute")


def is_cancel(request: Any) -> bool:
    return request.method == "DELETE" and "/api/orders/" in request.url


def is_airdrop(request: Any) -> bool:
    return request.method == "POST" and request.url.endswith("/api/sim/airdrop")


def is_balances_read(request: Any) -> bool:
    return request.method == "GET" and request.url.endswith("/balances")


def grouped(amount: str) -> str:
    """An amount as the desk prints it: "100225.405559" -> "100,225.405559"."""
    whole, point, fraction = amount.partition(".")
    return f"{int(whole):,}{point}{fraction}"


class Desk:
    """A page on the engine's desk, with the uncaught script errors it raised."""

    def __init__(self, page: Page, engine: Engine) -> None:
        self.page = page
        self.engine = engine
        self.errors: list[str] = []
        self.sockets: list[str] = []  # URLs of the WebSockets the page opened
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("websocket", lambda socket: self.sockets.append(socket.url))

    async def open(self) -> Desk:
        await self.page.goto(f"{self.engine.url}/")
        await expect(self.page.locator("body")).to_have_attribute("data-ready", "true")
        return self

    async def wallet(self) -> str:
        return await self.page.locator("#wallet").input_value()

    async def place(self, amount: str, token_in: str = "SOL", token_out: str = "USDC") -> None:
        await self.page.get_by_label("Token you pay").select_option(token_in)
        await self.page.get_by_label("You receive").select_option(token_out)
        await self.page.get_by_label("You pay", exact=True).fill(amount)
        await self.page.locator("#submit").click()

    def card(self, index: int = 0) -> Any:
        return self.page.locator(".order-card").nth(index)

    async def place_order(self, amount: str) -> tuple[str, Request]:
        """Place from the ticket as it stands; the order's id and the submit request."""
        async with self.page.expect_response(lambda r: is_submit(r.request)) as answer:
            await self.page.get_by_label("You pay", exact=True).fill(amount)
            await self.page.locator("#submit").click()
        response = await answer.value
        assert response.status == 202, await response.text()
        return (await response.json())["orderId"], response.request

    def card_of(self, order_id: str) -> Any:
        return self.page.locator(f".order-card[data-order-id='{order_id}']")

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.engine.url, timeout=10) as client:
            return await client.request(method, path, **kwargs)


@pytest.fixture
async def open_desk(browser: Browser) -> AsyncIterator[Any]:
    """`await open_desk(engine, viewport=LAPTOP)`: a fresh browser context on the engine's desk
    (`init_script`: run in the page before the desk's own scripts)."""
    contexts, desks = [], []

    async def opener(
        engine: Engine,
        viewport: dict[str, int] = LAPTOP,
        init_script: str | None = None,
        **options: Any,
    ) -> Desk:
        context = await browser.new_context(viewport=viewport, locale="en-US", **options)
        contexts.append(context)
        if init_script:
            await context.add_init_script(init_script)
        desk = Desk(await context.new_page(), engine)
        desks.append(desk)
        return await desk.open()

    yield opener
    for context in contexts:
        await context.close()
    errors = [error for desk in desks for error in desk.errors]
    assert not errors, f"the page raised: {errors}"


async def test_desk_is_served_at_root_and_the_api_still_wins(engine: Engine) -> None:
    async with httpx.AsyncClient(base_url=engine.url, timeout=10) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Trading desk" in page.text
        script = await client.get("/js/main.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert (await client.get("/api/tokens")).json()[0]["symbol"]
        assert (await client.get("/health")).json()["status"] == "ok"
        schema = await client.get("/schema/openapi.json")
        assert schema.status_code == 200
        static = [path for path in schema.json()["paths"] if path == "/" or "file_path" in path]
        assert static == []  # the desk stays out of the API's document
        missing = await client.get("/api/no-such-thing")
        assert missing.status_code == 404
        assert missing.json()["error"] == "NOT_FOUND"
        assert (await client.get("/no-such-file.js")).status_code == 404


async def test_market_order_from_the_ticket_reaches_confirmed(
    engine: Engine, open_desk: Any
) -> None:
    desk: Desk = await open_desk(engine)
    page = desk.page

    await page.get_by_label("You pay", exact=True).fill("1.5")
    quote = await desk.api(
        "GET", "/api/quote", params={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
    )
    if quote.status_code == 200:  # the preview shows the engine's quote as you type
        await expect(page.locator("#quote")).to_be_visible()
        await expect(page.locator("#quote .q-out")).to_contain_text("USDC")
    else:  # no quote endpoint: the preview stays out of the way
        await expect(page.locator("#quote")).to_be_hidden()

    await desk.place("1.5")
    card = desk.card()
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    statuses = await card.locator(".step").evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses == ["pending", "routing", "building", "submitted", "confirmed"]
    await expect(card.locator(".step")).to_have_count(5)
    await expect(card.locator("[data-status=routing] .venue").first).not_to_be_empty()

    order_id = await card.get_attribute("data-order-id")
    order = (await desk.api("GET", f"/api/orders/{order_id}")).json()
    assert order["status"] == "confirmed"
    assert order["walletAddress"] == await desk.wallet()
    confirmed = card.locator("[data-status=confirmed] .step-body")
    await expect(confirmed).to_contain_text(f"Received {order['amountOut']} USDC")
    signature = card.locator("[data-status=submitted] code")
    await expect(signature).to_have_attribute("title", order["txSignature"])
    times = card.locator(".step time")
    assert await times.count() == 5

    # The wallet's history lists it (refreshed when the timeline ended).
    row = page.locator(f"#history-body tr[data-order-id='{order_id}']")
    await expect(row).to_contain_text("confirmed")
    await expect(row).to_contain_text("1.5 SOL")

    # A pasted order id gets its own timeline, replayed from the start.
    await page.get_by_role("button", name="Dismiss order").first.click()
    await expect(page.locator(".order-card")).to_have_count(0)
    await page.get_by_label("Follow an order").fill(order_id or "")
    await page.get_by_role("button", name="Follow", exact=True).click()
    await expect(desk.card()).to_have_attribute("data-status", "confirmed")
    await expect(desk.card().locator(".step")).to_have_count(5)


async def test_timeline_resumes_after_the_socket_drops(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    engine: Engine = await engine_factory(DEX_EXECUTION_LATENCY_MS="2500")
    desk: Desk = await open_desk(engine)
    await desk.place("1.5")
    card = desk.card()
    await expect(card).to_have_attribute("data-status", "submitted", timeout=STREAM_TIMEOUT_MS)
    # The connection drops while the transaction is in flight (a close that is not 1000).
    await desk.page.evaluate("[...desk.timelines.cards.values()][0].socket.close(4000)")
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    seqs = await card.locator(".step").evaluate_all("els => els.map(e => Number(e.dataset.seq))")
    assert seqs == [1, 2, 3, 4, 5]  # nothing missed, nothing twice
    order_id = await card.get_attribute("data-order-id")
    assert [url.split("?", 1)[1] for url in desk.sockets] == [
        f"orderId={order_id}&afterSeq=0",
        f"orderId={order_id}&afterSeq=4",  # resumed after the last step it had
    ]


async def test_refused_order_shows_each_error_next_to_its_field(
    engine: Engine, open_desk: Any
) -> None:
    desk: Desk = await open_desk(engine)
    page = desk.page

    # SOL has 9 decimals; paying SOL for SOL is refused too.
    await desk.place("1.0000000001", token_in="SOL", token_out="SOL")
    amount_error = page.locator("#amountIn-error")
    await expect(amount_error).to_be_visible()
    await expect(amount_error).to_contain_text("decimals")
    await expect(page.get_by_label("You pay", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#tokenOut-error")).to_contain_text("differ")
    await expect(page.get_by_label("You receive")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#slippageBps-error")).to_be_hidden()
    # The first offending field has the focus; nothing was accepted.
    assert await page.evaluate("document.activeElement.id") == "amountIn"
    await expect(page.locator(".order-card")).to_have_count(0)

    # A slippage out of range is named by the engine and shown under the slippage field.
    await page.get_by_label("Slippage tolerance").fill("9000")
    await desk.place("1.5", token_out="USDC")
    await expect(page.locator("#slippageBps-error")).to_be_visible()
    await expect(page.locator("#amountIn-error")).to_be_hidden()
    await expect(page.locator(".order-card")).to_have_count(0)

    # Fixed, it goes through and the errors are gone.
    await page.get_by_label("Slippage tolerance").fill("100")
    await desk.place("1.5")
    await expect(desk.card()).to_have_attribute(
        "data-status", "confirmed", timeout=STREAM_TIMEOUT_MS
    )
    await expect(page.locator("#ticket-form .field-error:visible")).to_have_count(0)


async def test_waiting_limit_order_is_cancelled_from_its_timeline(
    engine: Engine, open_desk: Any
) -> None:
    probe = {
        "orderType": "limit",
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "0.1",
        "limitPrice": "1000000",
        "expiresInSeconds": 600,
        "walletAddress": new_wallet(),
    }
    async with httpx.AsyncClient(base_url=engine.url, timeout=10) as client:
        answer = await client.post("/api/orders/execute", json=probe)
    if answer.status_code != 202:
        pytest.skip("limit orders not built yet (issue 4)")

    desk: Desk = await open_desk(engine)
    page = desk.page
    await page.get_by_role("radio", name="Limit").check()
    await expect(page.get_by_label("Limit price")).to_be_visible()
    await expect(page.get_by_label("Max price impact")).to_be_hidden()
    # A price no pool will reach: the order waits for its trigger.
    await page.get_by_label("Limit price").fill("1000000")
    await page.get_by_label("Expires in").fill("600")
    await desk.place("0.25")
    card = desk.card()
    await expect(card).to_have_attribute("data-status", "waiting", timeout=STREAM_TIMEOUT_MS)
    cancel = card.get_by_role("button", name="Cancel order")
    await expect(cancel).to_be_visible()
    await cancel.click()
    await expect(card).to_have_attribute("data-status", "cancelled", timeout=STREAM_TIMEOUT_MS)
    await expect(cancel).to_be_hidden()
    order_id = await card.get_attribute("data-order-id")
    assert (await desk.api("GET", f"/api/orders/{order_id}")).json()["status"] == "cancelled"


async def test_desk_signs_submits_and_cancels_when_the_engine_requires_it(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    engine: Engine = await engine_factory(REQUIRE_SIGNATURES="true")
    async with httpx.AsyncClient(timeout=10) as client:  # this engine does refuse unsigned orders
        assert (await engine.submit(client, walletAddress=new_wallet())).status_code == 401
    desk: Desk = await open_desk(engine)
    page = desk.page
    wallet = await desk.wallet()
    await expect(page.locator(".wallet")).to_have_attribute("data-signing", "true")
    await expect(page.locator("#wallet-note")).to_be_hidden()

    # A market order: the body sent is the body signed, by the key of the address shown.
    order_id, request = await desk.place_order("1.5")
    signature = (await request.all_headers())["x-wallet-signature"]
    assert signature_is_valid(wallet, request.post_data_buffer or b"", signature)
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    assert (await desk.api("GET", f"/api/orders/{order_id}")).json()["walletAddress"] == wallet

    # A limit order far above the market waits; its timeline cancels it, signing cancel:<id>.
    await page.get_by_role("radio", name="Limit").check()
    await page.get_by_label("Limit price").fill("100000")
    order_id, _ = await desk.place_order("0.25")
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "waiting", timeout=STREAM_TIMEOUT_MS)
    async with page.expect_request(is_cancel) as cancelled:
        await card.get_by_role("button", name="Cancel order").click()
    headers = await (await cancelled.value).all_headers()
    assert headers["x-wallet-address"] == wallet
    assert signature_is_valid(wallet, cancel_message(order_id), headers["x-wallet-signature"])
    await expect(card).to_have_attribute("data-status", "cancelled", timeout=STREAM_TIMEOUT_MS)
    await expect(card.locator(".card-msg")).to_have_text("Cancelled.")
    assert (await desk.api("GET", f"/api/orders/{order_id}")).json()["status"] == "cancelled"

    # The keypair survives a reload (the timelines too, newest on top); "New wallet" makes
    # another keypair, which signs as well.
    await page.reload()
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert await desk.wallet() == wallet
    await expect(desk.card()).to_have_attribute("data-order-id", order_id)
    await page.get_by_role("button", name="New wallet").click()
    await expect(page.locator("#wallet")).not_to_have_value(wallet)
    renewed = await desk.wallet()
    await page.get_by_role("radio", name="Market").check()
    order_id, _ = await desk.place_order("0.5")
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    assert (await desk.api("GET", f"/api/orders/{order_id}")).json()["walletAddress"] == renewed

    # A typed address whose key this browser lacks is watched: its orders go unsigned (refused).
    await page.locator("#wallet").fill(new_wallet())
    await page.locator("#wallet").press("Enter")
    await expect(page.locator(".wallet")).to_have_attribute("data-signing", "false")
    await expect(page.locator("#wallet-note")).to_contain_text("no key for this wallet")
    await desk.place("0.5")
    await expect(page.locator("#ticket-error")).to_contain_text("requires a wallet signature")
    await page.get_by_role("button", name="Use this browser's wallet").click()
    await expect(page.locator("#wallet")).to_have_value(renewed)
    await expect(page.locator("#wallet-note")).to_be_hidden()


async def test_desk_without_ed25519_still_trades_where_signatures_are_optional(
    engine: Engine, open_desk: Any
) -> None:
    desk: Desk = await open_desk(engine, init_script=NO_ED25519)
    page = desk.page
    await expect(page.locator(".wallet")).to_have_attribute("data-signing", "false")
    await expect(page.locator("#wallet-note")).to_contain_text("no Ed25519")
    order_id, request = await desk.place_order("1.5")
    assert "x-wallet-signature" not in await request.all_headers()
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    order = (await desk.api("GET", f"/api/orders/{order_id}")).json()
    assert order["walletAddress"] == await desk.wallet()
    # "New wallet" still makes a fresh (bare) address.
    before = await desk.wallet()
    await page.get_by_role("button", name="New wallet").click()
    await expect(page.locator("#wallet")).not_to_have_value(before)


async def test_engine_panel_follows_the_engine(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    # Slow transactions, so orders are seen in flight by the panel's 1.5 s refresh.
    engine: Engine = await engine_factory(DEX_EXECUTION_LATENCY_MS="3000")
    desk: Desk = await open_desk(engine)
    page = desk.page
    await expect(page.locator("#m-workers")).to_have_text("1")
    await expect(page.locator("#m-confirmed")).to_have_text("0")
    await expect(page.locator("#m-p50")).to_have_text("—")
    await expect(page.locator("#health")).to_have_attribute("data-state", "ok")

    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(4):
            assert (await engine.submit(client, walletAddress=new_wallet())).status_code == 202

    figure = "Number(document.getElementById('{}').textContent)"
    await page.wait_for_function(f"{figure.format('m-inflight')} > 0", timeout=15_000)
    await page.wait_for_function(
        f"{figure.format('m-confirmed')} >= 4", timeout=STREAM_TIMEOUT_MS, polling=200
    )
    await page.wait_for_function(f"{figure.format('m-throughput')} > 0", timeout=15_000)
    await expect(page.locator("#m-p50")).to_contain_text("s")
    await expect(page.locator("#m-latency-sub")).to_have_text("4 in 5 min")
    # Every chart has drawn a line; latency draws p50 and p99.
    for chart in ("c-depth", "c-inflight", "c-throughput"):
        await expect(page.locator(f"#{chart} path.line")).to_have_count(1)
    await expect(page.locator("#c-latency path.line")).to_have_count(2)
    # The pools list follows GET /api/pools where the engine has it, and stays hidden otherwise.
    pools = await desk.api("GET", "/api/pools")
    if pools.status_code == 200 and pools.json():
        await expect(page.locator("#pools-body tr[data-pool-id]")).to_have_count(len(pools.json()))
    else:
        await expect(page.locator("#pools")).to_be_hidden()


async def test_dlmm_pool_shows_its_liquidity_per_bin(engine: Engine, open_desk: Any) -> None:
    """Under the pool prices, a DLMM pool's liquidity per bin (GET /api/pools/{poolId}): one bar
    per bin, the active one marked, tokenB-only bins below it and tokenA-only ones above told
    apart; the pool is picked from the DLMM pools, and the chart follows a trade on it."""
    desk: Desk = await open_desk(engine)
    page = desk.page
    pools = (await desk.api("GET", "/api/pools")).json()
    dlmm = [pool["poolId"] for pool in pools if pool["type"] == "dlmm"]
    cpmm = next(pool["poolId"] for pool in pools if pool["type"] == "cpmm")
    assert "bins" not in (await desk.api("GET", f"/api/pools/{cpmm}")).json()
    chart = page.locator("#bins-chart")
    picker = page.get_by_label("DLMM pool")

    async def shows(pool_id: str, within_ms: float = 5_000) -> dict[str, Any]:
        """The chart draws `pool_id` as the API has it now (within `within_ms`); its detail."""
        pool = (await desk.api("GET", f"/api/pools/{pool_id}")).json()
        await expect(chart).to_have_attribute("data-pool-id", pool_id)
        await expect(chart).to_have_attribute(
            "data-active-id", str(pool["activeId"]), timeout=within_ms
        )
        await expect(chart.locator("rect.bin")).to_have_count(len(pool["bins"]))
        active = chart.locator("rect.bin.active")
        await expect(active).to_have_count(1)
        await expect(active).to_have_attribute("data-bin-id", str(pool["activeId"]))
        bars = await chart.locator("rect.bin").evaluate_all(
            "bars => bars.map(bar => [Number(bar.dataset.binId), bar.classList[1]])"
        )
        assert [bin_id for bin_id, _ in bars] == [b["binId"] for b in pool["bins"]]
        for bin_id, side in bars:  # below the active bin only tokenB, above only tokenA
            expected = "below" if bin_id < pool["activeId"] else "above"
            assert side == ("active" if bin_id == pool["activeId"] else expected)
        for b in pool["bins"]:
            if b["binId"] < pool["activeId"]:
                assert Decimal(b["amountA"]) == 0
            if b["binId"] > pool["activeId"]:
                assert Decimal(b["amountB"]) == 0
        return pool

    # The DLMM pools are the choice (no CPMM pool); the ticket's pair, SOL/USDC, comes first.
    await expect(picker.locator("option")).to_have_count(len(dlmm))
    assert await picker.locator("option").evaluate_all("els => els.map(e => e.value)") == dlmm
    await expect(picker).to_have_value("meteora-SOL-USDC")
    before = await shows("meteora-SOL-USDC")
    await picker.select_option("meteora-JUP-SOL")
    await shows("meteora-JUP-SOL")
    await picker.select_option("meteora-SOL-USDC")
    await shows("meteora-SOL-USDC")

    # A large buy of SOL, cheaper on meteora, moves its price up some bins: the chart follows
    # with the next refresh of the pools.
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await engine.submit(
            client, tokenIn="USDC", tokenOut="SOL", amountIn="30000", walletAddress=new_wallet()
        )
    assert answer.status_code == 202, answer.text
    events = await wait_terminal(engine, answer.json()["orderId"])
    assert events[-1]["status"] == "confirmed", events[-1]
    after = await shows("meteora-SOL-USDC", within_ms=STREAM_TIMEOUT_MS)
    assert after["activeId"] > before["activeId"]


# Whatever in `inner` sticks out of `box`'s rectangle, or scrolls sideways on the way out to it:
# the elements whose box is not inside box's, and those (box included) with scrollWidth >
# clientWidth. Elements not rendered (display: none, a 0x0 box) are left out.
OUTSIDE = """(box, selector) => {
  const outer = box.getBoundingClientRect();
  const name = (el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
    + (el.textContent.trim() ? ` "${el.textContent.trim().slice(0, 30)}"` : "");
  const problems = [];
  for (const el of box.querySelectorAll(selector)) {
    for (const part of [el, ...el.querySelectorAll("th, td")]) {
      const r = part.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < outer.left - 0.5 || r.right > outer.right + 0.5) {
        problems.push(`${name(part)} spans x ${r.left.toFixed(1)}..${r.right.toFixed(1)}, `
          + `outside the card's ${outer.left.toFixed(1)}..${outer.right.toFixed(1)}`);
      }
    }
    for (let up = el; up && up !== box.parentElement; up = up.parentElement) {
      if (up.scrollWidth > up.clientWidth) {
        problems.push(`${name(up)} scrolls sideways: scrollWidth ${up.scrollWidth} > `
          + `clientWidth ${up.clientWidth}`);
      }
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("viewport", [SMALL_LAPTOP, PHONE], ids=["1280x800", "390x844"])
async def test_routing_table_fits_its_card(
    engine: Engine, open_desk: Any, viewport: dict[str, int]
) -> None:
    """The routing step's quotes (venue, out, fee, price / impact) stay inside the live orders
    card, on a 1280-pixel screen and on a phone: SOL -> BONK, the longest amounts out
    (millions of BONK, to 5 decimals), from both venues."""
    desk: Desk = await open_desk(engine, viewport=viewport, reduced_motion="reduce")
    await desk.page.get_by_label("You receive").select_option("BONK")
    order_id, _ = await desk.place_order("2")
    card = desk.card_of(order_id)
    table = card.locator(".step[data-status=routing] table")
    await expect(table).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    await expect(table.locator("tbody tr")).to_have_count(2)  # one quote per venue
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    for cell in await table.locator("tbody td").all():
        await expect(cell).to_be_visible()
        await expect(cell).not_to_be_empty()
    problems = await card.evaluate(OUTSIDE, ".step[data-status=routing] table")
    assert problems == [], "\n".join(problems)
    overflow = await desk.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


async def shows_the_chain(desk: Desk, wallet: str) -> dict[str, Any]:
    """The balances card shows `wallet` as GET /api/wallets/{wallet}/balances has it now: a row
    per token with a non-zero amount (exact, grouped as the desk groups), the empty accounts
    named under the table, the native SOL apart as "SOL for rent"; the API's answer."""
    page = desk.page
    answer = await desk.api("GET", f"/api/wallets/{wallet}/balances")
    assert answer.status_code == 200, answer.text
    view = answer.json()
    await expect(page.locator(".balances")).to_have_attribute("data-slot", re.compile(r"^\d+$"))
    await expect(page.locator(".balances")).to_have_attribute("data-wallet", wallet)
    held = [b for b in view["balances"] if Decimal(b["amount"]) != 0]
    empty = sorted(b["symbol"] for b in view["balances"] if Decimal(b["amount"]) == 0)
    rows = page.locator("#balances-body tr")
    await expect(rows).to_have_count(len(held))
    shown = await rows.evaluate_all(
        """rows => rows.map(row => [row.dataset.symbol, row.dataset.amount,
                                     row.querySelector("td").textContent])"""
    )
    expected = [(b["symbol"], b["amount"], grouped(b["amount"])) for b in held]
    assert sorted(map(tuple, shown)) == sorted(expected)
    if held:
        await expect(page.locator(".balances-table")).to_be_visible()
        await expect(page.locator("#balances-empty")).to_be_hidden()
    else:
        await expect(page.locator("#balances-empty")).to_be_visible()
    if empty:
        zero = await page.locator("#balances-zero").text_content() or ""
        assert sorted(zero.removeprefix("At zero: ").split(", ")) == empty
    else:
        await expect(page.locator("#balances-zero")).to_be_hidden()
    rent = page.locator("#balances-rent")
    await expect(rent).to_have_attribute("data-lamports", str(view["lamports"]))
    sol = Decimal(view["lamports"]).scaleb(-9)
    await expect(rent).to_have_text(f"{grouped(f'{sol.normalize():f}')} SOL")
    await expect(page.locator("#balances-error")).to_be_hidden()
    return dict(view)


async def fits(desk: Desk, selector: str) -> None:
    """Nothing in `selector` sticks out of its box or scrolls sideways (but the text kept for
    screen readers, a 1-pixel box by design); nor does the page."""
    problems = await desk.page.locator(selector).evaluate(OUTSIDE, "*:not(.sr-only)")
    assert problems == [], "\n".join(problems)
    overflow = await desk.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


async def test_the_fund_control_funds_the_wallet_and_the_card_shows_the_chain(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    """Refused with a wrong token, then with a bad amount (each said by its field), then funded
    from the keyboard: the card shows the faucet's answer, which is the chain's; the token was
    sent to the faucet only. A phone watching the same wallet shows the same."""
    engine: Engine = await engine_factory(SIM_CONTROL_TOKEN=CONTROL)
    desk: Desk = await open_desk(engine, viewport=SMALL_LAPTOP, reduced_motion="reduce")
    page = desk.page
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    wallet = await desk.wallet()

    # A fresh wallet: nothing on the chain yet.
    await shows_the_chain(desk, wallet)
    await expect(page.locator("#balances-empty")).to_have_text("No tokens in this wallet yet.")
    sol, usdc = page.get_by_label("SOL", exact=True), page.get_by_label("USDC", exact=True)
    await expect(sol).to_have_value("10")
    await expect(usdc).to_have_value("1000")
    token = page.get_by_label("Control token")
    fund = page.get_by_role("button", name="Fund wallet")

    # A wrong token is refused, and said so next to the token.
    await token.fill("not-the-token")
    async with page.expect_response(lambda r: is_airdrop(r.request)) as refused:
        await fund.click()
    assert (await refused.value).status == 401
    await expect(page.locator("#control-token-error")).to_contain_text("refused this token")
    await expect(token).to_have_attribute("aria-invalid", "true")

    # A bad amount: the engine's message for amounts.USDC, under the USDC field.
    await token.fill(CONTROL)
    await usdc.fill("-3")
    async with page.expect_response(lambda r: is_airdrop(r.request)) as bad:
        await fund.click()
    assert (await bad.value).status == 400
    [detail] = (await (await bad.value).json())["details"]
    assert detail["field"] == "amounts.USDC"
    await expect(page.locator("#fund-USDC-error")).to_have_text(detail["message"])
    await expect(usdc).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#fund-SOL-error")).to_be_hidden()
    await expect(page.locator("#control-token-error")).to_be_hidden()
    assert (await desk.api("GET", f"/api/wallets/{wallet}/balances")).json()["balances"] == []

    # Fixed, and sent from the keyboard: the card shows the faucet's answer.
    await usdc.fill("1000")
    async with page.expect_response(lambda r: is_airdrop(r.request)) as funded:
        await usdc.press("Enter")
    answer = await funded.value
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    await expect(page.locator("#fund-status")).to_contain_text("Funded")
    await expect(page.locator("#fund-error")).to_be_hidden()
    await expect(page.locator("#balances-body tr[data-symbol=USDC] td")).to_have_text("1,000")
    await expect(page.locator("#balances-body tr[data-symbol=SOL] td")).to_have_text("10")
    view = await shows_the_chain(desk, wallet)
    assert view["balances"] == body["balances"]["balances"]
    assert {b["symbol"]: b["amount"] for b in view["balances"] if b["amount"] != "0"} == {
        "SOL": "10",
        "USDC": "1000",
    }
    assert view["lamports"] > 0  # the faucet pays the accounts' rent
    await expect(page.locator("#balances-status")).to_contain_text(
        f"slot {body['balances']['slot']}"
    )
    await fits(desk, ".balances")

    # The token went to the faucet, and nowhere else.
    sent = [(r.url, (await r.all_headers()).get("authorization")) for r in requests]
    assert [auth for _, auth in sent if auth] == [
        "Bearer not-the-token",
        f"Bearer {CONTROL}",
        f"Bearer {CONTROL}",
    ]
    assert all(url.endswith("/api/sim/airdrop") for url, auth in sent if auth)

    # On a phone, watching the funded wallet (typed in): the same balances, and the card fits.
    phone: Desk = await open_desk(engine, viewport=PHONE, reduced_motion="reduce")
    assert await phone.wallet() != wallet
    await phone.page.locator("#wallet").fill(wallet)
    await phone.page.locator("#wallet").press("Enter")
    await expect(phone.page.locator(".balances")).to_have_attribute("data-wallet", wallet)
    await shows_the_chain(phone, wallet)
    await fits(phone, ".balances")


async def test_the_balances_card_follows_the_desks_orders_on_the_chain(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    """Orders as real transactions: the first one gives the wallet its starter balance; each
    moves its SOL down by the order's amount. The card follows each order's end by itself
    (nothing polls it: the only reads are the first one and one per order that ended)."""
    engine: Engine = await engine_factory(**ON_CHAIN)
    desk: Desk = await open_desk(engine)
    page = desk.page
    wallet = await desk.wallet()
    await shows_the_chain(desk, wallet)
    await expect(page.locator("#balances-empty")).to_be_visible()
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if is_balances_read(r) else None)
    sol_row = page.locator("#balances-body tr[data-symbol=SOL]")

    sol = Decimal(STARTER["SOL"])  # given with the first order
    for amount_in in ("1.5", "0.5"):
        order_id, _ = await desk.place_order(amount_in)
        card = desk.card_of(order_id)
        await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
        sol -= Decimal(amount_in)
        sol_after = f"{sol.normalize():f}"
        await expect(sol_row).to_have_attribute("data-amount", sol_after)
        await expect(sol_row.locator("td")).to_have_text(grouped(sol_after))
        view = await shows_the_chain(desk, wallet)
        order = (await desk.api("GET", f"/api/orders/{order_id}")).json()
        usdc = next(b["amount"] for b in view["balances"] if b["symbol"] == "USDC")
        await expect(page.locator("#balances-body tr[data-symbol=USDC] td")).to_have_text(
            grouped(usdc)
        )
        assert Decimal(order["amountOut"]) > 0
    # The second order's change is told in the live region: SOL down by its amount.
    await expect(page.locator("#balances-status")).to_contain_text("SOL \N{MINUS SIGN}0.5")
    await expect(page.locator("#balances-status")).to_contain_text(
        f"USDC +{grouped(order['amountOut'])}"
    )
    assert len(reads) == 2, reads  # one read per order that ended, no more
    # The confirmed step says the same change, in words, not as JSON.
    await expect(card).to_contain_text("SOL \N{MINUS SIGN}0.5")
    await expect(card).to_contain_text(f"USDC +{grouped(order['amountOut'])}")
    await expect(card).not_to_contain_text('"mint"')

    # Refresh reads again; nothing moved.
    async with page.expect_request(is_balances_read):
        await page.get_by_role("button", name="Refresh balances").click()
    await expect(page.locator("#balances-status")).to_contain_text("Unchanged at slot")
    await shows_the_chain(desk, wallet)


async def test_the_fund_control_explains_an_engine_without_a_faucet(
    engine: Engine, open_desk: Any
) -> None:
    """On a phone, an engine started without SIM_CONTROL_TOKEN: the fund control says why
    there is no faucet; then, the chain's RPC stopped, a failed read is said in the card."""
    desk: Desk = await open_desk(engine, viewport=PHONE)
    page = desk.page
    await page.get_by_label("Control token").fill("whatever")
    async with page.expect_response(lambda r: is_airdrop(r.request)) as answer:
        await page.get_by_role("button", name="Fund wallet").click()
    assert (await answer.value).status == 404
    error = page.locator("#fund-error")
    await expect(error).to_contain_text("No faucet on this engine")
    await expect(error).to_contain_text("started without SIM_CONTROL_TOKEN")
    await expect(page.locator("#fund-status")).to_be_empty()
    # Nothing was funded: the card still shows the empty wallet.
    await shows_the_chain(desk, await desk.wallet())
    await expect(page.locator("#balances-empty")).to_be_visible()
    await fits(desk, ".balances")

    # The chain's RPC gone: the card says so in place, over the last balances it read, dimmed.
    chain = engine.processes.chain
    assert chain is not None
    await asyncio.to_thread(chain.stop)
    async with page.expect_response(lambda r: is_balances_read(r.request)) as failed:
        await page.get_by_role("button", name="Refresh balances").click()
    answer = await failed.value
    assert answer.status == 503, await answer.text()
    error = page.locator("#balances-error")
    await expect(error).to_contain_text(f"503: {(await answer.json())['message']}")
    await expect(page.locator(".balances")).to_have_attribute("data-stale", "true")
    await expect(page.locator("#balances-rent")).to_have_text("0 SOL")
    await expect(page.locator("#balances-status")).to_contain_text("Showing the balances read")
    await fits(desk, ".balances")


async def test_desk_screenshots_laptop_and_phone(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    """A lived-in desk for the README, and the phone layout: no sideways scrolling, every
    control labelled, the skip link first in the tab order."""
    engine: Engine = await engine_factory(
        DEX_EXECUTION_LATENCY_MS="300-1500", SIM_CONTROL_TOKEN=CONTROL
    )
    desk: Desk = await open_desk(engine, reduced_motion="reduce")  # no flash mid-animation
    page = desk.page
    # The wallet funded from the desk, so that the balances card has something to show.
    await page.get_by_label("Control token").fill(CONTROL)
    await page.get_by_role("button", name="Fund wallet").click()
    await expect(page.locator("#balances-body tr[data-symbol=USDC] td")).to_have_text("1,000")

    # Traffic from other wallets, a burst per refresh of the panel, so its charts have a shape.
    async def next_refresh() -> None:
        seen = await page.locator(".engine").get_attribute("data-samples") or "0"
        await page.wait_for_function(
            f"Number(document.querySelector('.engine').dataset.samples) > {seen}"
        )

    bursts = (1, 3, 2, 5, 2, 4)
    async with httpx.AsyncClient(timeout=10) as client:
        for burst in bursts:
            for _ in range(burst):
                assert (await engine.submit(client, walletAddress=new_wallet())).status_code == 202
            await next_refresh()
    # From what the fund gave it (SOL and USDC): the wallet holds no JUP to sell.
    for amount, token_in, token_out in (
        ("250", "USDC", "BONK"),
        ("0.5", "SOL", "JUP"),
        ("1.5", "SOL", "USDC"),
    ):
        await desk.place(amount, token_in, token_out)
        await expect(page.locator(".order-card")).not_to_have_count(0)
    for index in range(3):
        await expect(desk.card(index)).to_have_attribute(
            "data-status", "confirmed", timeout=STREAM_TIMEOUT_MS
        )
    await expect(page.locator("#history-body tr")).to_have_count(3)
    await page.wait_for_function(
        f"Number(document.getElementById('m-confirmed').textContent) >= {sum(bursts) + 3}",
        timeout=STREAM_TIMEOUT_MS,
    )
    await page.get_by_label("You pay", exact=True).fill("2")  # the quote preview, if any
    quote = await desk.api(
        "GET", "/api/quote", params={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"}
    )
    if quote.status_code == 200:
        await expect(page.locator("#quote .q-out")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # the fund button's click scrolled down to it
    await page.screenshot(path=ARTIFACTS / "desk.png")  # the first screen: the README's picture
    await page.screenshot(path=ARTIFACTS / "desk-full.png", full_page=True)
    assert (ARTIFACTS / "desk.png").stat().st_size < 300_000
    if os.environ.get("UPDATE_README_PICTURE") == "1":
        shutil.copyfile(ARTIFACTS / "desk.png", README_PICTURE)

    # Accessibility basics: every visible control has a name, the skip link comes first.
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')]
            .filter(el => el.offsetParent !== null && el.type !== 'radio')
            .filter(el => !(el.labels?.length || el.getAttribute('aria-label')
                            || el.getAttribute('aria-labelledby') || el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []

    phone: Desk = await open_desk(engine, viewport=PHONE)
    # Keyboard: the first Tab reaches the skip link, which leads into the order ticket.
    await phone.page.keyboard.press("Tab")
    assert await phone.page.evaluate("document.activeElement.className") == "skip"
    await phone.page.keyboard.press("Enter")
    await phone.page.keyboard.press("Tab")
    assert await phone.page.evaluate("document.activeElement.name") == "orderType"
    await expect(phone.card()).to_have_count(0)  # a fresh browser follows nothing yet
    await phone.place("0.5")
    await expect(phone.card()).to_have_attribute(
        "data-status", "confirmed", timeout=STREAM_TIMEOUT_MS
    )
    await expect(phone.page.locator("#history-body tr").first).to_contain_text("confirmed")
    overflow = await phone.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the phone layout scrolls sideways by {overflow}px"
    await phone.page.screenshot(path=ARTIFACTS / "desk-phone.png", full_page=True)


def approve_checked(
    account: Pubkey, mint: Pubkey, delegate: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> Instruction:
    """SPL Token `ApproveChecked` (13) as the token program lays it out: the account, the mint,
    the delegate, the owner (signing); data [13, amount as a little-endian u64, decimals]."""
    metas = [
        AccountMeta(account, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(delegate, False, False),
        AccountMeta(owner, True, False),
    ]
    return Instruction(TOKEN_PROGRAM_ID, struct.pack("<BQB", 13, amount, decimals), metas)


async def serve_desk_files(route: Route) -> None:
    """http://localhost/js/... from the desk's files, any other path a blank page: a secure
    context (localhost) for WebCrypto, and no engine behind it."""
    path = urlsplit(route.request.url).path
    file = STATIC_DIR / path.lstrip("/")
    if path.startswith("/js/") and file.is_file():
        await route.fulfill(path=file, content_type="text/javascript")
    else:
        await route.fulfill(
            body="<!doctype html><title>solana_tx.js</title>", content_type="text/html"
        )


# In the page: the desk's Approve for `mints` (create each associated token account, approve
# the executor on it for the whole u64), paid and signed by the desk's own wallet (wallet.js);
# a message of other instructions; the curve check of `points`; compact-u16s.
BUILD_IN_PAGE = """async ({ mints, executor, blockhash, mixed, points }) => {
  const tx = await import("/js/solana_tx.js");
  const { openWallet } = await import("/js/wallet.js");
  const wallet = await openWallet();
  const owner = wallet.address;
  const atas = await Promise.all(mints.map((m) => tx.associatedTokenAddress(owner, m.mint)));
  const instructions = mints.flatMap((m, i) => [
    tx.createAssociatedTokenAccountIdempotent(owner, atas[i], owner, m.mint),
    tx.approveChecked(atas[i], m.mint, executor, owner, tx.U64_MAX, m.decimals),
  ]);
  const message = tx.compileMessage({ payer: owner, instructions, recentBlockhash: blockhash });
  const signature = await wallet.signRaw(owner, message.bytes);
  const other = tx.compileMessage({
    payer: mixed.payer,
    recentBlockhash: blockhash,
    instructions: mixed.instructions.map((ix) => ({ ...ix, data: Uint8Array.from(ix.data) })),
  });
  const hex = (text) => Uint8Array.from(text.match(/../g).map((b) => parseInt(b, 16)));
  return {
    owner,
    atas,
    signers: message.signers,
    message: [...message.bytes],
    wire: tx.toBase64(tx.serializeTransaction(message.bytes, [signature])),
    mixed: [...other.bytes],
    onCurve: points.map((p) => tx.isOnCurve(hex(p))),
    shortvec: [0, 1, 127, 128, 255, 16383, 16384, 65535].map((n) => [...tx.compactU16(n)]),
  };
}"""


def as_js(ix: Instruction) -> dict[str, Any]:
    return {
        "programId": str(ix.program_id),
        "keys": [
            {"pubkey": str(m.pubkey), "isSigner": m.is_signer, "isWritable": m.is_writable}
            for m in ix.accounts
        ],
        "data": list(ix.data),
    }


async def test_the_desks_transactions_are_solanas_bytes(browser: Browser) -> None:
    """js/solana_tx.js in Chromium, against solders: the associated token accounts it derives
    (SHA-256 and the curve check) are the chain's; its legacy message is solders'
    Message.new_with_blockhash byte for byte, for the desk's Approve and for instructions that
    take every ordering rule (a signer read-only, a key read-only in one instruction and
    writable in another, the payer again as a plain account, a program as an account, 200
    bytes of data: a two-byte length); its transaction parses in solders, and the signature the
    desk's WebCrypto key made verifies over exactly those bytes."""
    mints = [token_by_symbol(symbol) for symbol in ("SOL", "USDC", "BONK")]
    executor, blockhash = Keypair().pubkey(), Hash.new_unique()
    payer, program_a, program_b, x, y, reader, writer = (Keypair().pubkey() for _ in range(7))
    mixed = [
        Instruction(
            program_a,
            bytes(range(200)),
            [
                AccountMeta(x, False, True),
                AccountMeta(reader, True, False),
                AccountMeta(y, False, False),
                AccountMeta(payer, False, False),
            ],
        ),
        Instruction(
            program_b,
            b"",
            [
                AccountMeta(y, False, True),
                AccountMeta(writer, True, True),
                AccountMeta(program_a, False, False),
            ],
        ),
    ]
    # Random strings (about half are points) and edge cases: y = 0, y = 1, y = p (not reduced),
    # the sign bit set with x = 0.
    points = [os.urandom(32) for _ in range(48)] + [
        bytes(32),
        b"\x01" + bytes(31),
        bytes.fromhex("ed" + "ff" * 30 + "7f"),
        b"\x01" + bytes(30) + b"\x80",
    ]
    context = await browser.new_context()
    try:
        await context.route("http://localhost/**", serve_desk_files)
        page = await context.new_page()
        await page.goto("http://localhost/")
        built = await page.evaluate(
            BUILD_IN_PAGE,
            {
                "mints": [{"mint": t.mint, "decimals": t.decimals} for t in mints],
                "executor": str(executor),
                "blockhash": str(blockhash),
                "mixed": {"payer": str(payer), "instructions": [as_js(ix) for ix in mixed]},
                "points": [p.hex() for p in points],
            },
        )
    finally:
        await context.close()

    owner = Pubkey.from_string(built["owner"])
    accounts = [associated_token_address(owner, Pubkey.from_string(t.mint)) for t in mints]
    assert built["atas"] == [str(account) for account in accounts]
    assert built["onCurve"] == [Pubkey(p).is_on_curve() for p in points]
    assert set(built["onCurve"]) == {True, False}
    instructions = []
    for token, account in zip(mints, accounts, strict=True):
        mint = Pubkey.from_string(token.mint)
        instructions += [
            create_associated_token_account_idempotent(owner, owner, mint),
            approve_checked(account, mint, executor, owner, U64_MAX, token.decimals),
        ]
    expected = bytes(Message.new_with_blockhash(instructions, owner, blockhash))
    assert bytes(built["message"]) == expected
    assert bytes(built["mixed"]) == bytes(Message.new_with_blockhash(mixed, payer, blockhash))

    wire = base64.b64decode(built["wire"])
    assert len(wire) <= 1232  # one packet
    transaction = Transaction.from_bytes(wire)
    assert bytes(transaction.message) == expected
    assert built["signers"] == [str(owner)]  # the wallet alone signs, and pays
    [signature] = transaction.signatures
    assert signature.verify(owner, expected)
    assert not signature.verify(owner, expected[:-1] + bytes([expected[-1] ^ 1]))
    assert built["shortvec"] == [
        [0x00],
        [0x01],
        [0x7F],
        [0x80, 0x01],
        [0xFF, 0x01],
        [0xFF, 0x7F],
        [0x80, 0x80, 0x01],
        [0xFF, 0xFF, 0x03],
    ]


def is_rpc_send(request: Request, rpc_url: str) -> bool:
    return (
        request.method == "POST"
        and request.url.rstrip("/") == rpc_url.rstrip("/")
        and "sendTransaction" in (request.post_data or "")
    )


async def token_accounts(rpc_url: str, owner: Pubkey) -> dict[str, dict[str, Any]]:
    """The owner's token accounts as the chain has them (getTokenAccountsByOwner, jsonParsed),
    by mint: {address, owner, delegate, delegatedAmount (base units, or None), amount}."""
    solana = AsyncClient(rpc_url)
    try:
        reply = await solana.get_token_accounts_by_owner_json_parsed(
            owner, TokenAccountOpts(program_id=TOKEN_PROGRAM_ID)
        )
    finally:
        await solana.close()
    out = {}
    for keyed in reply.value:
        info = keyed.account.data.parsed["info"]  # type: ignore[union-attr]
        delegated = info.get("delegatedAmount")
        out[info["mint"]] = {
            "address": str(keyed.pubkey),
            "owner": info["owner"],
            "delegate": info.get("delegate"),
            "delegatedAmount": int(delegated["amount"]) if delegated else None,
            "amount": int(info["tokenAmount"]["amount"]),
        }
    return out


async def test_a_wallet_approves_the_engine_from_the_desk(
    engine_factory: EngineFactory, open_desk: Any
) -> None:
    """The wallet's own Approve: refused while the wallet has no SOL for its fee; funded from
    the desk without the faucet's approval, its order fails NOT_APPROVED and nothing is sent;
    a token launched since has no account of the wallet yet. "Approve the engine" sends one
    transaction, paid and signed by the wallet alone, that creates that account and approves
    the executor on every registry token's account for the whole u64, as the chain reads it
    back; the wallet's SOL goes down by its fee and the new account's rent, exactly; then an
    order confirms, spent through that approval."""
    engine: Engine = await engine_factory(SIM_CONTROL_TOKEN=CONTROL)
    desk: Desk = await open_desk(engine)
    page = desk.page
    wallet = await desk.wallet()
    owner = Pubkey.from_string(wallet)
    chain = (await desk.api("GET", "/api/chain")).json()
    executor, rpc_url = chain["executor"], chain["rpcUrl"]
    approve = page.get_by_role("button", name="Approve the engine")
    error, state = page.locator("#approve-error"), page.locator("#approve-state")
    await expect(approve).to_be_visible()  # this browser holds the wallet's key

    # No SOL to pay a fee with: said so, and nothing sent.
    sends: list[Request] = []
    page.on("request", lambda r: sends.append(r) if is_rpc_send(r, rpc_url) else None)
    await approve.click()
    await expect(error).to_contain_text("holds 0 SOL")
    await expect(error).to_contain_text("Fund the wallet first")
    assert sends == []

    # Funded from the desk, the faucet's approval unticked: no account approves the executor.
    await page.get_by_label("Control token").fill(CONTROL)
    await page.get_by_label("Approve the engine too").uncheck()
    async with page.expect_response(lambda r: is_airdrop(r.request)) as funded:
        await page.get_by_role("button", name="Fund wallet").click()
    answer = await funded.value
    assert answer.status == 200, await answer.text()
    assert json.loads(answer.request.post_data or "{}")["approve"] is False
    registry = (await desk.api("GET", "/api/tokens")).json()
    symbols = ", ".join(t["symbol"] for t in registry)
    await expect(state).to_have_text(f"Not approved: {symbols}.")
    await expect(page.locator("#balances-body tr[data-symbol=USDC] .tag")).to_have_text(
        "not approved"
    )
    before = await token_accounts(rpc_url, owner)
    assert {t["mint"] for t in registry} == set(before)
    assert all(a["delegate"] is None and a["owner"] == wallet for a in before.values())
    view = (await desk.api("GET", f"/api/wallets/{wallet}/balances")).json()
    assert view["lamports"] == WALLET_LAMPORTS  # its rent, and SOL for its own fees

    order_id, _ = await desk.place_order("1.5")
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "failed", timeout=STREAM_TIMEOUT_MS)
    await expect(card).to_contain_text("NOT_APPROVED")
    order = (await desk.api("GET", f"/api/orders/{order_id}")).json()
    assert order["events"][-1]["data"]["error"]["code"] == "NOT_APPROVED"
    assert order["txSignature"] is None  # refused by the simulation: nothing was sent

    # A token launched since: the wallet has no account for it.
    launched = await desk.api(
        "POST",
        "/api/sim/launch",
        json={
            "symbol": "DESKCOIN",
            "decimals": 6,
            "venue": "raydium",
            "quoteToken": "SOL",
            "tokenAmount": "1000000",
            "quoteAmount": "50",
        },
        headers={"Authorization": f"Bearer {CONTROL}"},
    )
    assert launched.status_code == 201, launched.text
    new_mint = launched.json()["mint"]
    assert new_mint not in before

    await approve.click()
    landed = page.locator("#approve-status .landed")
    await expect(landed).to_have_count(1, timeout=STREAM_TIMEOUT_MS)
    await expect(error).to_be_hidden()
    signature = await landed.get_attribute("data-signature") or ""
    assert len(sends) == 1  # one transaction, sent once
    await expect(landed).to_contain_text("accounts created: DESKCOIN")

    # Read back from the chain: landed, paid and signed by the wallet alone.
    solana = AsyncClient(rpc_url)
    try:
        read = await solana.get_transaction(
            Signature.from_string(signature), encoding="base64", max_supported_transaction_version=0
        )
    finally:
        await solana.close()
    assert read.value is not None
    meta = read.value.transaction.meta
    sent = read.value.transaction.transaction
    assert meta is not None and meta.err is None
    assert isinstance(sent, VersionedTransaction)
    keys = [str(key) for key in sent.message.account_keys]
    assert keys[0] == wallet  # the fee payer
    assert sent.message.header.num_required_signatures == 1  # and the only signer
    assert [str(s) for s in sent.signatures] == [signature]
    assert sent.signatures[0].verify(owner, bytes(sent.message))
    rent = rent_exempt_lamports(165)
    assert meta.pre_balances[0] - meta.post_balances[0] == meta.fee + rent
    await expect(landed).to_have_attribute("data-fee", str(meta.fee))
    await expect(landed).to_have_attribute("data-slot", str(read.value.slot))
    print(f"approve transaction {signature}: slot {read.value.slot}, fee {meta.fee} lamports")

    after = await token_accounts(rpc_url, owner)
    assert set(after) == {t["mint"] for t in registry} | {new_mint}
    for mint, account in after.items():
        assert account["address"] == str(associated_token_address(owner, Pubkey.from_string(mint)))
        assert (account["owner"], account["delegate"]) == (wallet, executor)
        assert account["delegatedAmount"] == U64_MAX
    await expect(state).to_have_text("The engine is approved on every token account.")
    await expect(page.locator("#balances-body .tag")).to_have_count(0)
    view = (await desk.api("GET", f"/api/wallets/{wallet}/balances")).json()
    assert view["lamports"] == WALLET_LAMPORTS - meta.fee - rent

    # Now the order goes through, spent through the wallet's approval.
    order_id, _ = await desk.place_order("1.5")
    card = desk.card_of(order_id)
    await expect(card).to_have_attribute("data-status", "confirmed", timeout=STREAM_TIMEOUT_MS)
    sol = token_by_symbol("SOL")
    spent = (await token_accounts(rpc_url, owner))[sol.mint]
    assert spent["delegatedAmount"] == U64_MAX - sol.to_base_units(Decimal("1.5"))
    assert spent["amount"] == sol.to_base_units(Decimal("10") - Decimal("1.5"))
    await fits(desk, ".balances")
