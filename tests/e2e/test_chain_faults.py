"""The chain under faults: the validator SIGKILLed and restarted while orders are in flight; sends
silently dropped (DEX_FAILURE_RATE); congestion, slots that hold a few swaps filled by other
users outbidding the cheap orders until those expire.

Every run ends with `check_every_invariant`: every order ends (confirmed, or failed with a
code), none settles twice, each confirmed order's transaction moved exactly its amountIn and
amountOut and each wallet holds exactly its starter balance plus its confirmed orders' changes,
every mint's accounts add up to its supply and every supply grew by exactly the faucet's
starter balances (the faucet being every mint's only authority), no pool went negative, and
the executor's SOL went exactly to the fees of the transactions that landed."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey

from shared.chain.rpc import SolanaRpc, token_balance_changes
from shared.tokens import all_tokens, find_token
from shared.wallets import starter_amounts
from tests.helpers.chain import (
    Conservation,
    Flood,
    check_conservation,
    check_pools,
    faucet_key,
)
from tests.helpers.engine import (
    Engine,
    EngineFactory,
    follow_reconnecting,
    new_wallet,
    wait_workers,
)

pytestmark = pytest.mark.faults

RESEND_MS = 2_000  # shared/chain/landing.Landings resends an unlanded transaction this often
BLOCKHASH_SLOTS = 150  # lastValidBlockHeight = the slot of the transaction's blockhash + 150
LANDED = ("settled", "slippage", "failed")  # what the chain's ledger says of a landed one

# --- run orders, then check every invariant ------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The chain before a run: the executor's SOL, every supply, the faucet."""

    executor: str
    lamports: int
    conservation: Conservation
    faucet: Pubkey


@dataclass
class Figures:
    """What a run's check saw."""

    orders: int = 0
    confirmed: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by code
    retried: Counter[str] = field(default_factory=Counter)  # routing again, by previousError
    dead: int = 0  # transactions that expired unlanded
    resent: int = 0  # confirmed orders whose transaction landed only after a resend
    landed: int = 0  # transactions that landed (and paid their fee)
    fees: int = 0  # lamports
    pools: int = 0
    conservation: str = ""
    check_s: float = 0.0  # how long the check took

    def summary(self) -> str:
        return (
            f"{self.orders} orders, {self.confirmed} confirmed, failed {dict(self.failed)},"
            f" retried {dict(self.retried)}, {self.dead} transactions expired unlanded,"
            f" {self.resent} landed only on a resend, {self.landed} landed paying"
            f" {self.fees} lamports = the executor's SOL spent; {self.pools} pools positive;"
            f" conservation: {self.conservation} (checked in {self.check_s:.1f} s)"
        )


async def executor_lamports(engine: Engine, rpc: SolanaRpc) -> tuple[str, int]:
    async with httpx.AsyncClient() as client:
        executor = (await client.get(f"{engine.url}/api/chain")).json()["executor"]
    balance = await rpc.call("getBalance", [executor])
    return executor, int(balance["value"])


async def baseline(engine: Engine) -> Baseline:
    await wait_workers(engine, len(engine.workers))
    rpc = SolanaRpc(engine.settings.solana_rpc_url)
    try:
        executor, lamports = await executor_lamports(engine, rpc)
    finally:
        await rpc.close()
    faucet = faucet_key(engine.log_dir)
    conservation = await check_conservation(engine.settings.solana_rpc_url, mint_authority=faucet)
    return Baseline(executor, lamports, conservation, faucet)


def swap(n: int, **extra: Any) -> dict[str, Any]:
    """Every other order sells SOL for USDC, the rest buy it back."""
    if n % 2 == 0:
        return {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", **extra}
    return {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "200", **extra}


async def run_orders(
    engine: Engine,
    client: httpx.AsyncClient,
    orders: Sequence[tuple[str, dict[str, Any]]],
    *,
    during: Callable[[list[str]], Awaitable[None]] | None = None,
    timeout_s: float = 120,
) -> list[str]:
    """Submit each (wallet, body), follow every order's stream, run `during` (the fault) once
    they are submitted, and return the order ids once every stream has ended."""
    order_ids = []
    for wallet, body in orders:
        reply = await engine.submit(client, walletAddress=wallet, **body)
        assert reply.status_code == 202, reply.text
        order_ids.append(str(reply.json()["orderId"]))
    followers = [
        asyncio.create_task(follow_reconnecting(engine.ws_url(), o, timeout_s=timeout_s))
        for o in order_ids
    ]
    try:
        if during is not None:
            await during(order_ids)
        results = await asyncio.gather(*followers)
    finally:
        for task in followers:
            task.cancel()
    for order_id, (events, code) in zip(order_ids, results, strict=True):
        assert code == 1000 and events, (order_id, code, events[-1:])
        assert events[-1]["status"] in ("confirmed", "failed"), (order_id, events[-1])
    return order_ids


def base_units(symbol: str, amount: str) -> tuple[str, int]:
    token = find_token(symbol)
    assert token is not None
    return token.mint, token.to_base_units(Decimal(amount))


async def check_every_invariant(
    engine: Engine,
    client: httpx.AsyncClient,
    base: Baseline,
    wallets: Sequence[str],
    order_ids: Sequence[str],
) -> Figures:
    """Every invariant of a run whose orders (all of `wallets`' orders since `base`) have
    ended; the assertions name what broke. Returns what was seen."""
    began = time.monotonic()
    rpc_url = engine.settings.solana_rpc_url
    rpc = SolanaRpc(rpc_url)
    figures = Figures(orders=len(order_ids))
    deltas: dict[str, Counter[str]] = defaultdict(Counter)  # wallet -> mint -> base units
    try:
        for order_id in order_ids:
            order = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
            ledger = await client.get(f"{engine.url}/api/chain/transactions?orderId={order_id}")
            assert ledger.status_code == 200, ledger.text
            transactions = ledger.json()["transactions"]
            events = order["events"]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), order_id
            assert order["walletAddress"] in wallets, order
            for event in events:
                previous = (
                    event["data"].get("previousError") if event["status"] == "routing" else None
                )
                if previous:
                    figures.retried[previous["code"]] += 1
            # Every order ended: confirmed, or failed with a code and a reason.
            assert order["status"] in ("confirmed", "failed"), (order_id, order["status"])
            if order["status"] == "failed":
                error = events[-1]["data"]["error"]
                assert re.fullmatch(r"[A-Z][A-Z_]+", error["code"]) and error["message"], error
                figures.failed[error["code"]] += 1
            # Each signature once, none still able to land, at most one settled: exactly one
            # for a confirmed order, its own signature.
            signatures = [t["signature"] for t in transactions]
            assert len(signatures) == len(set(signatures)), transactions
            assert all(t["status"] != "pending" for t in transactions), transactions
            settled = [t for t in transactions if t["status"] == "settled"]
            assert len(settled) == (order["status"] == "confirmed"), (order_id, transactions)
            figures.dead += sum(t["status"] == "dead" for t in transactions)
            for t in transactions:
                if t["status"] in LANDED:
                    info = await rpc.transaction(t["signature"])
                    assert info is not None, t
                    figures.landed += 1
                    figures.fees += info.fee
            if not settled:
                continue
            figures.confirmed += 1
            assert settled[0]["signature"] == order["txSignature"], (order, settled)
            info = await rpc.transaction(settled[0]["signature"])
            assert info is not None
            mint_in, amount_in = base_units(order["tokenIn"], order["amountIn"])
            mint_out, amount_out = base_units(order["tokenOut"], order["amountOut"])
            assert int(settled[0]["amountOut"]) == amount_out, (settled, order)
            # The wallet's changes in the transaction are the order's, to the base unit.
            changes = {
                mint: delta
                for (owner, mint), delta in token_balance_changes(info).items()
                if owner == order["walletAddress"]
            }
            assert changes == {mint_in: -amount_in, mint_out: amount_out}, (order, changes)
            confirmed = events[-1]["data"]
            assert (confirmed["feeLamports"], confirmed["slot"]) == (info.fee, info.slot)
            if confirmed["executionTimeMs"] >= RESEND_MS:
                figures.resent += 1
            deltas[order["walletAddress"]].update({mint_in: -amount_in, mint_out: amount_out})

        # Each wallet holds its starter balance and its confirmed orders' changes: nothing
        # settled that no order accounts for.
        starter = {token.mint: units for token, units in starter_amounts().items()}
        for wallet in wallets:
            held: Counter[str] = Counter()
            for account in await rpc.token_accounts_by_owner(Pubkey.from_string(wallet)):
                held[str(account.mint)] += account.amount
            expected = {
                t.mint: starter.get(t.mint, 0) + deltas[wallet][t.mint] for t in all_tokens()
            }
            assert set(held) <= set(expected), held
            assert {m: held[m] for m in expected} == expected, (wallet, held, expected)

        # The executor's SOL went to the fees of what landed, and nowhere else (every wallet's
        # accounts were created by the faucet: no rent was paid for a new one).
        _, lamports = await executor_lamports(engine, rpc)
        assert base.lamports - lamports == figures.fees, (base.lamports, lamports, figures)
    finally:
        await rpc.close()
    # Supplies grew by the faucet's starter balances only; no pool went negative.
    minted = {mint: units * len(wallets) for mint, units in starter.items()}
    conservation = await check_conservation(
        rpc_url, since=base.conservation, minted=minted, mint_authority=base.faucet
    )
    figures.conservation = conservation.summary()
    figures.pools = await check_pools(rpc_url, engine.settings.solana_ws_url)
    figures.check_s = time.monotonic() - began
    return figures


async def order_views(
    engine: Engine, client: httpx.AsyncClient, order_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    return {o: (await client.get(f"{engine.url}/api/orders/{o}")).json() for o in order_ids}


def expired_once(order: dict[str, Any]) -> bool:
    """Whether one of the order's attempts has expired unlanded (the next one says so)."""
    return any(
        (e["data"].get("previousError") or {}).get("code") == "TX_EXPIRED"
        for e in order["events"]
        if e["status"] == "routing"
    )


# --- the validator SIGKILLed and restarted under load ---------------------------------------

# Sends land 0.3-1.5 s after they are accepted: the kill finds transactions in flight (the
# validator keeps none of them: the engine's resends of the same bytes land them afterwards).
ON_CHAIN = {
    "CHAIN_SLOT_MS": "20",
    "QUEUE_MAX_ATTEMPTS": "5",
    "DEX_EXECUTION_LATENCY_MS": "300-1500",
}
WALLETS = 4
ORDERS = 24


async def test_validator_sigkill_under_load_loses_nothing_and_settles_nothing_twice(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(workers=2, **ON_CHAIN)
    chain = engine.processes.chain
    assert chain is not None
    base = await baseline(engine)
    wallets = [new_wallet() for _ in range(WALLETS)]
    async with httpx.AsyncClient(timeout=30) as client:
        # Each wallet's first order (its starter balance), before the fault.
        first = await run_orders(engine, client, [(w, swap(0)) for w in wallets])

        async def outage(order_ids: list[str]) -> None:
            # A third of them submitted and not landed: kill the validator, and start it again
            # on the same ledger and ports after a second.
            await wait_for_submitted(engine, client, order_ids, at_least=ORDERS // 3)
            chain.kill()
            await asyncio.sleep(1.0)  # the outage itself, not a synchronisation
            chain.restart()

        orders = [(wallets[n % WALLETS], swap(n)) for n in range(ORDERS)]
        order_ids = await run_orders(engine, client, orders, during=outage)
        figures = await check_every_invariant(engine, client, base, wallets, first + order_ids)
    assert figures.confirmed >= ORDERS // 2, figures  # most get through the outage
    print(f"\nvalidator SIGKILL: {figures.summary()}")


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


# --- dropped transactions under load ---------------------------------------------------------

# Half the sends never land. A blockhash lives 150 slots of 20 ms (3 s; more when a loaded
# machine stretches the slots): an attempt's transaction is sent, and resent 2 s later; when
# every send is dropped (a quarter of the attempts; an eighth with three sends) it expires and
# the order is routed again, up to six attempts. The validator's draws are seeded: the runs
# here saw the same 9 expiries and 11 landings on a resend each time.
DROPPING = {
    "CHAIN_SLOT_MS": "20",
    "DEX_FAILURE_RATE": "0.5",
    "CHAIN_SEED": "11",
    "QUEUE_MAX_ATTEMPTS": "6",
}
DROP_WALLETS = 3
DROP_ORDERS = 30


async def test_dropped_sends_are_resent_or_routed_again_and_settle_once(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(workers=2, **DROPPING)
    base = await baseline(engine)
    wallets = [new_wallet() for _ in range(DROP_WALLETS)]
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        orders = [(wallets[n % DROP_WALLETS], swap(n)) for n in range(DROP_ORDERS)]
        order_ids = await run_orders(engine, client, orders)
        ran_s = time.monotonic() - started
        figures = await check_every_invariant(engine, client, base, wallets, order_ids)
    # The fault was there: without a drop, a send lands in the next slot, well within 2 s,
    # and no transaction expires. Some landed only on a resend, some attempts expired.
    assert figures.resent >= 1, figures
    assert figures.retried["TX_EXPIRED"] >= 1, figures
    # Each expired transaction made its order route again, or fail after its last attempt.
    assert figures.dead == figures.retried["TX_EXPIRED"] + figures.failed["TX_EXPIRED"], figures
    assert set(figures.failed) <= {"TX_EXPIRED"}, figures
    assert figures.confirmed >= DROP_ORDERS - 2, figures
    print(f"\ndropped sends (orders ran {ran_s:.1f} s): {figures.summary()}")


# --- congestion that expires cheap transactions ----------------------------------------------

# A slot's budget, counted on requested compute-unit limits, holds a few swaps (~15k units
# each) or one of the other users' transfers (which request the whole budget). A transaction
# can only expire when 150 slots pass, each filled by others paying more: the engine's own
# orders cannot do that on this machine, so other users keep a slot's worth of transfers at
# FLOOD_FEE waiting ahead of every slot. Orders at HIGH_FEE outbid them and land at once; the
# orders at 0 wait behind them until their blockhash expires. Once each cheap order has
# expired once, the flood stops, and they land on a later attempt.
SLOT_BUDGET = 60_000
CONGESTED = {
    "CHAIN_SLOT_MS": "20",
    "CHAIN_SLOT_COMPUTE_UNITS": str(SLOT_BUDGET),
    "QUEUE_MAX_ATTEMPTS": "8",
}
HIGH_FEE = 1_000_000  # micro-lamports per compute unit
FLOOD_FEE = 10_000
CONGESTED_WALLETS = 3
EACH = 6  # orders at HIGH_FEE, and as many at 0


async def test_congestion_expires_cheap_transactions_and_lands_high_priority_first(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(workers=2, **CONGESTED)
    base = await baseline(engine)
    wallets = [new_wallet() for _ in range(CONGESTED_WALLETS)]
    flood = Flood(engine.settings.solana_rpc_url, cu_price=FLOOD_FEE, cu_limit=SLOT_BUDGET)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        # The starter balances first: the faucet's transactions pay no priority fee, and
        # would wait behind the flood too.
        first = await run_orders(engine, client, [(w, swap(0)) for w in wallets])
        await flood.fund()
        flooding = asyncio.create_task(flood.run())
        try:
            async with asyncio.timeout(10):
                await flood.waiting.wait()  # its first wave is sent
            orders = [
                (wallets[n % CONGESTED_WALLETS], swap(n, priorityFee=HIGH_FEE if n % 2 else 0))
                for n in range(2 * EACH)
            ]
            cheap_ids: list[str] = []

            async def until_each_cheap_order_expired(order_ids: list[str]) -> None:
                cheap_ids.extend(
                    o
                    for o, (_, body) in zip(order_ids, orders, strict=True)
                    if not body["priorityFee"]
                )
                async with asyncio.timeout(40):
                    while True:
                        views = await order_views(engine, client, cheap_ids)
                        if all(expired_once(v) or v["status"] == "failed" for v in views.values()):
                            break
                        await asyncio.sleep(0.2)  # a poll interval against the deadline
                flood.stop()

            order_ids = await run_orders(
                engine, client, orders, during=until_each_cheap_order_expired
            )
            flood_landed = len(await flood.landed_slots())
        finally:
            flood.stop()
            await flooding
            await flood.close()
        ran_s = time.monotonic() - started
        views = await order_views(engine, client, order_ids)
        figures = await check_every_invariant(engine, client, base, wallets, first + order_ids)

    # How many slots each order waited: from its first transaction's blockhash to the slot
    # its last one landed in.
    waited: dict[str, int] = {}
    for order_id, view in views.items():
        building = next(e for e in view["events"] if e["status"] == "building")
        issued = building["data"]["lastValidBlockHeight"] - BLOCKHASH_SLOTS
        assert view["status"] == "confirmed", view
        waited[order_id] = view["events"][-1]["data"]["slot"] - issued
    limits = sorted(
        {
            e["data"]["computeUnitLimit"]
            for view in views.values()
            for e in view["events"]
            if e["status"] == "building"
        }
    )
    high = [waited[o] for o in order_ids if o not in cheap_ids]
    cheap = [waited[o] for o in cheap_ids]
    # The orders paying more were never kept waiting; every cheap one expired once at least.
    assert not any(expired_once(views[o]) for o in order_ids if o not in cheap_ids), views
    assert all(expired_once(views[o]) for o in cheap_ids)
    assert max(high) < BLOCKHASH_SLOTS <= min(cheap), (high, cheap)
    assert sum(high) / len(high) < sum(cheap) / len(cheap)
    assert figures.dead >= len(cheap_ids), figures
    assert figures.dead == figures.retried["TX_EXPIRED"] + figures.failed["TX_EXPIRED"], figures
    print(
        f"\ncongestion (orders ran {ran_s:.1f} s; the flood sent {len(flood.sent)} transfers,"
        f" {flood_landed} landed): slots waited at {HIGH_FEE} µlamports/CU {sorted(high)},"
        f" at 0 {sorted(cheap)}; swaps' compute-unit limits {limits}, {SLOT_BUDGET} a slot;"
        f" {figures.summary()}"
    )
