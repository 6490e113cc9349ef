"""PubSub through solana-py's SolanaWsClient (solders parses every notification) and raw
WebSocket frames: signatureSubscribe (once, then gone), accountSubscribe, slotSubscribe."""

from __future__ import annotations

import asyncio
import json

import websockets
from solana.rpc.websocket_api import SolanaWsClient
from solders.rpc.responses import (
    AccountNotificationJsonParsed,
    SignatureNotification,
    SlotNotification,
)

from tests.helpers.validator import (
    USDC,
    ChainFactory,
    chains,
    funded_wallets,
    transfer_tx,
)
from validator.spl import associated_token_address

__all__ = ["chains"]


async def test_subscriptions_through_solana_py(chains: ChainFactory) -> None:
    chain = await chains.start()
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=1_000_000)
    bob_ata = associated_token_address(bob.pubkey(), USDC)
    async with SolanaWsClient(chain.ws_url) as ws:
        slots = await ws.slot_subscribe()
        first = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(first, SlotNotification) and first.result.slot > 0
        await ws.unsubscribe(slots)
        account = await ws.account_subscribe(pubkey=bob_ata, encoding="jsonParsed")
        tx = transfer_tx(alice, bob.pubkey(), 250_000, await rpc.blockhash())
        await ws.signature_subscribe(signature=tx.signatures[0])
        sig = await rpc.send(tx)
        seen: dict[type, object] = {}
        while len(seen) < 2:
            note = await asyncio.wait_for(ws.recv(), 10)
            if not isinstance(note, SlotNotification):  # a slot already in flight
                seen[type(note)] = note
        signature_note = seen[SignatureNotification]
        assert isinstance(signature_note, SignatureNotification)
        assert signature_note.result.value.err is None
        [status] = await rpc.statuses([sig])
        assert signature_note.result.context.slot == status["slot"]
        account_note = seen[AccountNotificationJsonParsed]
        assert isinstance(account_note, AccountNotificationJsonParsed)
        assert account_note.result.context.slot == status["slot"]
        parsed = account_note.result.value.data.parsed
        assert parsed["info"]["tokenAmount"]["amount"] == "1250000"
        await ws.unsubscribe(account)


async def test_signature_subscription_ends_after_one_notification(chains: ChainFactory) -> None:
    chain = await chains.start()
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=1_000_000)
    tx = transfer_tx(alice, bob.pubkey(), 1, await rpc.blockhash())
    async with websockets.connect(chain.ws_url) as ws:
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "signatureSubscribe",
                    "params": [str(tx.signatures[0]), {"commitment": "confirmed"}],
                }
            )
        )
        sub_id = json.loads(await ws.recv())["result"]
        await rpc.send(tx)
        note = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert note["method"] == "signatureNotification"
        assert note["params"]["subscription"] == sub_id
        assert note["params"]["result"]["value"] == {"err": None}
        assert isinstance(note["params"]["result"]["context"]["slot"], int)
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 2, "method": "signatureUnsubscribe", "params": [sub_id]}
            )
        )
        reply = json.loads(await ws.recv())
        assert reply["error"]["code"] == -32602  # gone: it notified once and ended
        # Subscribing to a signature that already landed notifies at once.
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "signatureSubscribe",
                    "params": [str(tx.signatures[0])],
                }
            )
        )
        again = json.loads(await ws.recv())
        late = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert late["params"]["subscription"] == again["result"]
        assert late["params"]["result"]["value"] == {"err": None}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "slotSubscribe"}))
        slot_sub = json.loads(await ws.recv())["result"]
        slot_note = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert slot_note["method"] == "slotNotification"
        assert set(slot_note["params"]["result"]) == {"parent", "root", "slot"}
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 5, "method": "slotUnsubscribe", "params": [slot_sub]}
            )
        )
        while "result" not in (reply := json.loads(await asyncio.wait_for(ws.recv(), 10))):
            pass  # slot notifications sent before the unsubscribe was read
        assert reply == {"jsonrpc": "2.0", "result": True, "id": 5}
