"""The slot clock: priority order under a compute budget, blockhash expiry, dropped sends
(DEX_FAILURE_RATE) and execution latency. Fast slot clocks; every wait polls against a
deadline."""

from __future__ import annotations

import base64
import time

import pytest
from solders.hash import Hash
from solders.transaction import VersionedTransaction

from tests.helpers.validator import (
    ChainFactory,
    RpcFailure,
    chains,
    funded_wallets,
    transfer_tx,
)

__all__ = ["chains"]


async def test_high_priority_lands_before_cheap_under_congestion(chains: ChainFactory) -> None:
    # 3 transactions of 10,000 requested CU fit a slot.
    chain = await chains.start(CHAIN_SLOT_COMPUTE_UNITS="30000", CHAIN_SLOT_MS="60")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)
    blockhash = await rpc.blockhash()
    cheap = [transfer_tx(alice, bob.pubkey(), 1 + i, blockhash, price=0) for i in range(12)]
    high = [transfer_tx(alice, bob.pubkey(), 100 + i, blockhash, price=50_000) for i in range(5)]
    # One batch, cheap ones first: they arrive earlier at the same moment.
    results = await rpc.batch(
        [("sendTransaction", [_b64(tx), {"encoding": "base64"}]) for tx in cheap + high]
    )
    cheap_sigs, high_sigs = results[:12], results[12:]
    statuses = await rpc.wait_landed(cheap_sigs + high_sigs)
    cheap_slots = [s["slot"] for s in statuses[:12]]
    high_slots = [s["slot"] for s in statuses[12:]]
    assert max(high_slots) <= min(cheap_slots), (high_slots, cheap_slots)
    assert max(cheap_slots) - min(high_slots) >= 5  # 17 transactions at 3 a slot
    fees = await rpc.call("getRecentPrioritizationFees", [])
    assert {f["prioritizationFee"] for f in fees} >= {0, 50_000}


async def test_cheap_transactions_expire_when_the_budget_is_too_small(
    chains: ChainFactory,
) -> None:
    chain = await chains.start(CHAIN_SLOT_COMPUTE_UNITS="10000", CHAIN_SLOT_MS="20")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)
    latest = await rpc.call("getLatestBlockhash")
    blockhash = latest["value"]["blockhash"]
    txs = [transfer_tx(alice, bob.pubkey(), 1 + i, Hash.from_string(blockhash)) for i in range(175)]
    sigs = await rpc.batch(
        [
            ("sendTransaction", [_b64(tx), {"encoding": "base64", "skipPreflight": True}])
            for tx in txs
        ]
    )
    await rpc.wait_slot(latest["value"]["lastValidBlockHeight"] + 2)
    statuses = await rpc.statuses(sigs)
    landed = [s for s in statuses if s is not None]
    assert 100 <= len(landed) <= 150  # one a slot while the blockhash lived
    assert len(landed) < len(txs)  # the rest expired: never landed, no status
    assert (await rpc.call("isBlockhashValid", blockhash))["value"] is False
    moved = sum(1 + i for i, s in enumerate(statuses) if s is not None)
    assert await rpc.token_amount(bob.pubkey()) == 1_000_000_000 + moved


async def test_stale_blockhash(chains: ChainFactory) -> None:
    chain = await chains.start(CHAIN_SLOT_MS="20")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)
    latest = (await rpc.call("getLatestBlockhash"))["value"]
    old = Hash.from_string(latest["blockhash"])
    assert (await rpc.call("isBlockhashValid", latest["blockhash"]))["value"] is True
    await rpc.wait_slot(latest["lastValidBlockHeight"] + 1)
    assert (await rpc.call("isBlockhashValid", latest["blockhash"]))["value"] is False
    tx = transfer_tx(alice, bob.pubkey(), 5, old)
    with pytest.raises(RpcFailure) as stale:
        await rpc.send(tx)
    assert stale.value.code == -32002 and stale.value.data["err"] == "BlockhashNotFound"
    assert stale.value.message == "Transaction simulation failed: Blockhash not found"
    sig = await rpc.send(tx, skipPreflight=True)
    assert sig == str(tx.signatures[0])  # answered, then dropped as a leader drops it
    await rpc.wait_slot(await rpc.call("getSlot") + 10)
    assert (await rpc.statuses([sig])) == [None]
    assert await rpc.token_amount(bob.pubkey()) == 1_000_000_000


async def test_failure_rate_one_drops_every_send(chains: ChainFactory) -> None:
    chain = await chains.start(CHAIN_SLOT_MS="20", DEX_FAILURE_RATE="1")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)  # the faucet's own transactions still land
    latest = (await rpc.call("getLatestBlockhash"))["value"]
    blockhash = Hash.from_string(latest["blockhash"])
    sigs = [await rpc.send(transfer_tx(alice, bob.pubkey(), 1 + i, blockhash)) for i in range(20)]
    await rpc.wait_slot(latest["lastValidBlockHeight"] + 1)  # their blockhash has expired
    assert await rpc.statuses(sigs) == [None] * 20
    assert await rpc.token_amount(bob.pubkey()) == 1_000_000_000
    assert await rpc.token_amount(alice.pubkey()) == 1_000_000_000


async def test_execution_latency_delays_landing(chains: ChainFactory) -> None:
    chain = await chains.start(CHAIN_SLOT_MS="20", DEX_EXECUTION_LATENCY_MS="400-500")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)
    tx = transfer_tx(alice, bob.pubkey(), 9, await rpc.blockhash())
    sent_at = time.monotonic()
    sig = await rpc.send(tx)
    await rpc.wait_landed([sig])
    assert time.monotonic() - sent_at >= 0.4


def _b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()
