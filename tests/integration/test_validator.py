"""The local validator through solana-py's AsyncClient (its solders parsers check every shape)
and raw JSON where solana-py has no method: cluster methods, transfers with exact fees and
meta, account views, simulation, preflight errors, and the duplicate trap of LiteSVM."""

from __future__ import annotations

import base64
import math

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.rpc.responses import GetTransactionResp
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from tests.helpers.validator import (
    USDC,
    ChainFactory,
    ChainProcess,
    RpcFailure,
    chains,
    funded_wallets,
    transfer_tx,
)
from validator.spl import TOKEN_PROGRAM_ID, associated_token_address

__all__ = ["chains"]


@pytest.fixture
async def chain(chains: ChainFactory) -> ChainProcess:
    return await chains.start()


async def test_cluster_methods(chain: ChainProcess) -> None:
    async with AsyncClient(chain.rpc_url) as client:
        assert await client.is_connected()
        assert (await client.get_version()).value.solana_core
        genesis = (await client.get_genesis_hash()).value
        slot = (await client.get_slot()).value
        assert (await client.get_block_height()).value >= slot
        epoch = (await client.get_epoch_info()).value
        assert epoch.absolute_slot >= slot and epoch.slots_in_epoch > 0
        assert (await client.get_epoch_schedule()).value.slots_per_epoch == 432_000
        latest = (await client.get_latest_blockhash()).value
        assert latest.last_valid_block_height >= slot + 150
        rent = (await client.get_minimum_balance_for_rent_exemption(165)).value
        assert rent == 2_039_280
        assert (await client.get_transaction_count()).value == 0
        assert (await client.get_identity()).value
        fees = (await client.get_recent_prioritization_fees()).value
        assert all(f.prioritization_fee == 0 for f in fees)
    rpc = chain.rpc
    assert (await rpc.call("getGenesisHash")) == str(genesis)
    valid = await rpc.call("isBlockhashValid", str(latest.blockhash))
    assert valid["value"] is True and valid["context"]["slot"] >= slot
    unknown = await rpc.call("isBlockhashValid", str(Keypair().pubkey()))
    assert unknown["value"] is False


async def test_json_rpc_errors_and_batches(chain: ChainProcess) -> None:
    rpc = chain.rpc
    assert (await rpc.raw([]))["error"]["code"] == -32600
    missing = await rpc.raw({"jsonrpc": "2.0", "id": 1, "method": "noSuchMethod"})
    assert missing["error"] == {"code": -32601, "message": "Method not found"}
    response = await rpc.http.post(rpc.url, content=b"{not json")
    assert response.json()["error"]["code"] == -32700
    with pytest.raises(RpcFailure) as bad:
        await rpc.call("getBalance", "not-a-pubkey")
    assert bad.value.code == -32602
    replies = await rpc.raw(
        [
            {"jsonrpc": "2.0", "id": 7, "method": "getSlot"},
            {"jsonrpc": "2.0", "id": 8, "method": "nope"},
            {"jsonrpc": "2.0", "method": "getSlot"},  # a notification: no answer
        ]
    )
    assert [r["id"] for r in replies] == [7, 8]
    assert isinstance(replies[0]["result"], int) and replies[1]["error"]["code"] == -32601
    with pytest.raises(RpcFailure) as later:
        await rpc.call("getSlot", {"minContextSlot": 10**9})
    assert later.value.code == -32016


async def test_transfer_meta_fees_and_account_views(chain: ChainProcess) -> None:
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=5_000_000)
    price, limit = 12_345, 20_000
    tx = transfer_tx(
        alice, bob.pubkey(), 1_250_000, await rpc.blockhash(), price=price, limit=limit
    )
    lamports_before = await rpc.lamports(alice.pubkey())
    async with AsyncClient(chain.rpc_url) as client:
        quoted = (await client.get_fee_for_message(tx.message)).value
        assert quoted == 5_000 + math.ceil(price * limit / 1_000_000)
        sig = (await client.send_raw_transaction(bytes(tx))).value
        [status] = await rpc.wait_landed([str(sig)])
        assert status["confirmationStatus"] == "finalized" and status["err"] is None
        statuses = (await client.get_signature_statuses([sig])).value
        assert statuses[0] is not None and statuses[0].err is None
        expected_fee = 5_000 + math.ceil(price * limit / 1_000_000)
        got = (await client.get_transaction(sig, max_supported_transaction_version=0)).value
        assert got is not None and got.slot == status["slot"]
        meta = got.transaction.meta
        assert meta is not None and meta.fee == expected_fee and meta.err is None
        assert meta.pre_balances[0] - meta.post_balances[0] == expected_fee
        assert meta.compute_units_consumed and meta.compute_units_consumed > 0
        assert any("TokenkegQ" in line for line in meta.log_messages or [])
        pre = {b.account_index: int(b.ui_token_amount.amount) for b in meta.pre_token_balances}
        post = {b.account_index: int(b.ui_token_amount.amount) for b in meta.post_token_balances}
        assert sorted(post[i] - pre[i] for i in pre) == [-1_250_000, 1_250_000]
        assert {str(b.mint) for b in meta.post_token_balances} == {str(USDC)}
        parsed_tx = await client.get_transaction(
            sig, "jsonParsed", max_supported_transaction_version=0
        )
        assert parsed_tx.value is not None
        message = parsed_tx.value.transaction.transaction.message  # type: ignore[union-attr]
        assert message.account_keys[0].pubkey == alice.pubkey()
        assert message.account_keys[0].signer and message.account_keys[0].writable
        assert parsed_tx.value.transaction.meta.fee == expected_fee
        b64 = await client.get_transaction(sig, "base64", max_supported_transaction_version=0)
        assert b64.value is not None and b64.value.transaction.meta.fee == expected_fee
        assert await rpc.lamports(alice.pubkey()) == lamports_before - expected_fee
        assert await rpc.token_amount(bob.pubkey()) == 6_250_000

        bob_ata = associated_token_address(bob.pubkey(), USDC)
        balance = (await client.get_token_account_balance(bob_ata)).value
        assert balance.amount == "6250000" and balance.ui_amount_string == "6.25"
        by_mint = await client.get_token_accounts_by_owner(
            bob.pubkey(), TokenAccountOpts(mint=USDC)
        )
        assert [a.pubkey for a in by_mint.value] == [bob_ata]
        by_program = await client.get_token_accounts_by_owner_json_parsed(
            bob.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM_ID)
        )
        info = by_program.value[0].account.data.parsed["info"]
        assert info["tokenAmount"]["amount"] == "6250000" and info["owner"] == str(bob.pubkey())
        account = (await client.get_account_info(bob_ata)).value
        assert (
            account is not None and account.owner == TOKEN_PROGRAM_ID and len(account.data) == 165
        )
        parsed = (await client.get_account_info_json_parsed(USDC)).value
        assert parsed is not None and parsed.data.parsed["info"]["decimals"] == 6
        many = (await client.get_multiple_accounts([bob_ata, Keypair().pubkey()])).value
        assert many[0] is not None and many[1] is None
        many_parsed = (await client.get_multiple_accounts_json_parsed([bob_ata])).value
        assert many_parsed[0].data.parsed["type"] == "account"
        mine = await client.get_program_accounts(
            TOKEN_PROGRAM_ID,
            encoding="base64",
            filters=[165, MemcmpOpts(offset=32, bytes=str(bob.pubkey()))],
        )
        assert [a.pubkey for a in mine.value] == [bob_ata]
        supply = (await client.get_token_supply(USDC)).value
        assert int(supply.amount) == 10_000_000
        assert (await client.get_balance(bob.pubkey())).value >= 10**9
        fees = (await client.get_recent_prioritization_fees([bob_ata])).value
        assert price in {f.prioritization_fee for f in fees}
    with_context = await rpc.call(
        "getProgramAccounts",
        str(TOKEN_PROGRAM_ID),
        {
            "encoding": "base64",
            "withContext": True,
            "filters": [{"dataSize": 165}, {"memcmp": {"offset": 32, "bytes": str(bob.pubkey())}}],
        },
    )
    assert with_context["context"]["slot"] > 0 and len(with_context["value"]) == 1
    raw = await rpc.call(
        "getTransaction", str(sig), {"encoding": "json", "maxSupportedTransactionVersion": 0}
    )
    assert raw["version"] == 0 and raw["meta"]["status"] == {"Ok": None}
    assert raw["transaction"]["signatures"] == [str(sig)]
    with pytest.raises(RpcFailure) as unsupported:
        await rpc.call("getTransaction", str(sig))
    assert unsupported.value.code == -32015


async def test_legacy_transaction_and_airdrop(chain: ChainProcess) -> None:
    rpc, payer, receiver = chain.rpc, Keypair(), Keypair()
    async with AsyncClient(chain.rpc_url) as client:
        airdrop = (await client.request_airdrop(payer.pubkey(), 2 * 10**9)).value
        await rpc.wait_landed([str(airdrop)])
        assert (await client.get_balance(payer.pubkey())).value == 2 * 10**9
        ix = transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=receiver.pubkey(), lamports=10**9)
        )
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        tx = Transaction([payer], Message([ix], payer.pubkey()), blockhash)
        sig = (await client.send_raw_transaction(bytes(tx))).value
        await rpc.wait_landed([str(sig)])
        body = {"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": [str(sig), "json"]}
        got = GetTransactionResp.from_json((await rpc.http.post(rpc.url, json=body)).text)
        assert got.value is not None and got.value.transaction.meta.fee == 5_000
        assert (await client.get_balance(receiver.pubkey())).value == 10**9
        assert (await client.get_balance(payer.pubkey())).value == 10**9 - 5_000


async def test_simulation(chain: ChainProcess) -> None:
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=1_000_000)
    tx = transfer_tx(alice, bob.pubkey(), 10, await rpc.blockhash())
    async with AsyncClient(chain.rpc_url) as client:
        sim = (await client.simulate_transaction(tx, sig_verify=True)).value
        assert sim.err is None and sim.units_consumed and sim.units_consumed > 0
        assert sim.logs and "success" in sim.logs[-1]
        stale = transfer_tx(alice, bob.pubkey(), 10, Hash.new_unique())
        replaced = (await client.simulate_transaction(stale, replace_recent_blockhash=True)).value
        assert replaced.err is None and replaced.replacement_blockhash is not None
        unreplaced = (await client.simulate_transaction(stale)).value
        assert str(unreplaced.err) == "TransactionErrorFieldless.BlockhashNotFound"
        forged = transfer_tx(alice, bob.pubkey(), 10, await rpc.blockhash())
        forged.signatures = [Signature.default()]  # type: ignore[misc]
        with pytest.raises(RPCException):
            await client.simulate_transaction(forged, sig_verify=True)
        with_accounts = await client.simulate_transaction(
            tx, accounts_addresses=[associated_token_address(bob.pubkey(), USDC)]
        )
        assert with_accounts.value.accounts is not None
    assert await rpc.token_amount(bob.pubkey()) == 1_000_000  # simulations change nothing


async def test_insufficient_funds_moves_nothing(chain: ChainProcess) -> None:
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=1_000_000)
    too_much = transfer_tx(alice, bob.pubkey(), 1_000_001, await rpc.blockhash(), price=1_000)
    with pytest.raises(RpcFailure) as preflight:
        await rpc.send(too_much)
    assert preflight.value.code == -32002
    assert preflight.value.data["err"] == {"InstructionError": [2, {"Custom": 1}]}
    assert preflight.value.message.endswith("custom program error: 0x1")
    assert any("insufficient funds" in line.lower() for line in preflight.value.data["logs"])
    lamports = await rpc.lamports(alice.pubkey())
    sig = await rpc.send(too_much, skipPreflight=True)  # lands, failed, fee charged
    [status] = await rpc.wait_landed([sig])
    assert status["err"] == {"InstructionError": [2, {"Custom": 1}]}
    assert status["status"] == {"Err": status["err"]}
    fee = 5_000 + math.ceil(1_000 * 10_000 / 1_000_000)
    assert await rpc.lamports(alice.pubkey()) == lamports - fee
    assert await rpc.token_amount(alice.pubkey()) == 1_000_000
    assert await rpc.token_amount(bob.pubkey()) == 1_000_000


async def test_resend_after_100_others_is_already_processed(chains: ChainFactory) -> None:
    # 100 ms slots: the first transaction's blockhash must outlive 100 sends on a busy machine
    # (150 slots), so that its resend is refused as processed, not as expired.
    chain = await chains.start(CHAIN_SLOT_MS="100")
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2, usdc=10_000_000)
    blockhash = await rpc.blockhash()
    first = transfer_tx(alice, bob.pubkey(), 1_000, blockhash)
    first_sig = await rpc.send(first)
    assert await rpc.send(first) == first_sig  # pending: accepted again, queued once
    await rpc.wait_landed([first_sig])
    others = [
        await rpc.send(transfer_tx(bob, alice.pubkey(), 1 + i, blockhash)) for i in range(100)
    ]
    await rpc.wait_landed(others)
    with pytest.raises(RpcFailure) as again:
        await rpc.send(first)
    assert again.value.code == -32002 and again.value.data["err"] == "AlreadyProcessed"
    assert again.value.message == (
        "Transaction simulation failed: This transaction has already been processed"
    )
    assert await rpc.send(first, skipPreflight=True) == first_sig  # answered, not executed
    await rpc.wait_slot(await rpc.call("getSlot") + 3)
    moved_back = sum(1 + i for i in range(100))
    assert await rpc.token_amount(bob.pubkey()) == 10_000_000 + 1_000 - moved_back
    assert await rpc.token_amount(alice.pubkey()) == 10_000_000 - 1_000 + moved_back


async def test_bad_signature_and_bad_bytes(chain: ChainProcess) -> None:
    rpc = chain.rpc
    alice, bob = await funded_wallets(rpc, 2)
    tx = transfer_tx(alice, bob.pubkey(), 1, await rpc.blockhash())
    raw = bytearray(bytes(tx))
    raw[5] ^= 0xFF  # inside the signature
    with pytest.raises(RpcFailure) as forged:
        await rpc.call(
            "sendTransaction", base64.b64encode(bytes(raw)).decode(), {"encoding": "base64"}
        )
    assert forged.value.code == -32003
    with pytest.raises(RpcFailure) as garbage:
        await rpc.call(
            "sendTransaction", base64.b64encode(b"\x01\x02").decode(), {"encoding": "base64"}
        )
    assert garbage.value.code == -32602
    sig = await rpc.call("sendTransaction", _b58(bytes(tx)))  # base58, the default encoding
    assert sig == str(tx.signatures[0])
    await rpc.wait_landed([sig])


def _b58(raw: bytes) -> str:
    import base58

    return base58.b58encode(raw).decode()


async def test_equal_airdrops_are_two_transfers_and_cors(chain: ChainProcess) -> None:
    rpc, wallet = chain.rpc, Keypair()
    first = await rpc.call("requestAirdrop", str(wallet.pubkey()), 10**9)
    second = await rpc.call("requestAirdrop", str(wallet.pubkey()), 10**9)
    assert first != second
    await rpc.wait_landed([first, second])
    assert await rpc.lamports(wallet.pubkey()) == 2 * 10**9
    preflight = await rpc.http.options(rpc.url, headers={"origin": "http://localhost:3000"})
    assert preflight.headers["access-control-allow-origin"] == "*"
    response = await rpc.http.post(rpc.url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert (await rpc.http.get(f"{rpc.url}/health")).text == "ok"
