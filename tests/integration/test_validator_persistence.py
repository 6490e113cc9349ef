"""The ledger survives SIGKILL: every signature a client saw confirmed, every balance (exactly
the landed transfers and their fees), duplicate detection, and the blockhash window."""

from __future__ import annotations

import base64

import pytest
from solders.transaction import VersionedTransaction

from tests.helpers.validator import (
    ChainFactory,
    RpcFailure,
    chains,
    funded_wallets,
    transfer_tx,
)

__all__ = ["chains"]

INITIAL_USDC = 1_000_000_000
INITIAL_LAMPORTS = 10**9


async def test_sigkill_keeps_everything_confirmed(chains: ChainFactory) -> None:
    chain = await chains.start(CHAIN_SLOT_MS="50")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=INITIAL_USDC)
    genesis = await rpc.call("getGenesisHash")
    faucet = (await rpc.call("getIdentity"))["identity"]
    blockhash = await rpc.blockhash()
    signed_before_kill = transfer_tx(alice, bob.pubkey(), 777, blockhash)  # sent after restart
    sent_txs = [
        transfer_tx(alice, bob.pubkey(), 1_000 + i, blockhash, price=10 * i) for i in range(40)
    ]
    confirmed = [await rpc.send(tx) for tx in sent_txs]
    await rpc.wait_landed(confirmed)
    sent = sum(1_000 + i for i in range(40))
    # A burst left in flight at the kill: some may have landed, the rest is lost.
    burst = [transfer_tx(bob, alice.pubkey(), 50 + i, blockhash) for i in range(30)]
    await rpc.batch(
        [
            ("sendTransaction", [_b64(tx), {"encoding": "base64", "skipPreflight": True}])
            for tx in burst
        ]
    )
    chain.kill()

    again = await chains.start(data_dir=chain.data_dir, CHAIN_SLOT_MS="50")
    rpc = again.rpc
    assert await rpc.call("getGenesisHash") == genesis
    assert (await rpc.call("getIdentity"))["identity"] == faucet
    plain = await rpc.call("getSignatureStatuses", confirmed)  # the status cache, restored
    assert all(s is not None and s["err"] is None for s in plain["value"])
    got = await rpc.call(
        "getTransaction", confirmed[-1], {"encoding": "base64", "maxSupportedTransactionVersion": 0}
    )
    assert got is not None and got["meta"]["err"] is None
    # Balances are exactly what the ledger says landed, fees included.
    burst_status = await rpc.statuses([str(tx.signatures[0]) for tx in burst])
    back = sum(50 + i for i, status in enumerate(burst_status) if status is not None)
    assert await rpc.token_amount(bob.pubkey()) == INITIAL_USDC + sent - back
    assert await rpc.token_amount(alice.pubkey()) == INITIAL_USDC - sent + back
    fees = 0
    for sig in confirmed:
        meta = await rpc.call("getTransaction", sig, {"maxSupportedTransactionVersion": 0})
        fees += meta["meta"]["fee"]
    assert await rpc.lamports(alice.pubkey()) == INITIAL_LAMPORTS - fees
    bob_fees = 0
    for tx, status in zip(burst, burst_status, strict=True):
        if status is not None:
            got = await rpc.call(
                "getTransaction", str(tx.signatures[0]), {"maxSupportedTransactionVersion": 0}
            )
            bob_fees += got["meta"]["fee"]
    assert await rpc.lamports(bob.pubkey()) == INITIAL_LAMPORTS - bob_fees
    # A landed transaction resent after the restart is still a duplicate.
    with pytest.raises(RpcFailure) as duplicate:
        await rpc.send(sent_txs[0])
    assert duplicate.value.data["err"] == "AlreadyProcessed"
    # A blockhash fetched before the kill is still in the window.
    sig = await rpc.send(signed_before_kill)
    [status] = await rpc.wait_landed([sig])
    assert status["err"] is None
    # Whatever of the burst was lost lands when resent (same bytes).
    lost = [tx for tx, st in zip(burst, burst_status, strict=True) if st is None]
    resent = [await rpc.send(tx, skipPreflight=True) for tx in lost]
    await rpc.wait_landed(resent)


def _b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()
