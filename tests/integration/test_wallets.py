"""The chain as the API shows it: GET /api/chain, a wallet's balances, and the local faucet
(POST /api/sim/airdrop), against the engine's own local validator, checked with solana-py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey
from solders.signature import Signature

from shared.tokens import all_tokens, token_by_symbol
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.venues.spl import associated_token_address
from shared.wallets import WALLET_LAMPORTS
from tests.helpers.engine import Engine, ModuleEngine, new_wallet

CONTROL = "wallet-tests-control"
AUTH = {"Authorization": f"Bearer {CONTROL}"}
U64_MAX = 2**64 - 1


@pytest.fixture(scope="module")
async def engine(
    servers: tuple[str, str], template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Engine]:
    log_dir: Path = tmp_path_factory.mktemp("wallets")
    async with ModuleEngine(servers, template_database, log_dir, SIM_CONTROL_TOKEN=CONTROL) as e:
        yield e


async def funding_rows(engine: Engine, wallet: str) -> list[str]:
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT source FROM wallet_fundings WHERE wallet_address = $1", wallet
        )
    finally:
        await conn.close()
    return [row["source"] for row in rows]


async def test_the_chain_is_named_so_that_any_solana_tool_can_check_it(engine: Engine) -> None:
    async with httpx.AsyncClient(base_url=engine.url) as client:
        info = (await client.get("/api/chain")).json()
    assert info["rpcUrl"] == engine.settings.solana_rpc_url
    assert info["wsUrl"] == engine.settings.solana_ws_url
    assert info["cluster"] == "localnet"
    assert info["programs"] == {
        "raydium": str(raydium_cpmm.PROGRAM_ID),
        "meteora": str(meteora_dlmm.PROGRAM_ID),
    }
    solana = AsyncClient(info["rpcUrl"])
    try:
        for program in info["programs"].values():
            account = (await solana.get_account_info(Pubkey.from_string(program))).value
            assert account is not None and account.executable
        Pubkey.from_string(info["executor"])  # a public key
    finally:
        await solana.close()


async def test_the_faucet_funds_a_wallet_and_approves_the_executor(engine: Engine) -> None:
    wallet = new_wallet()
    async with httpx.AsyncClient(base_url=engine.url) as client:
        executor = (await client.get("/api/chain")).json()["executor"]
        before = (await client.get(f"/api/wallets/{wallet}/balances")).json()
        assert (before["balances"], before["lamports"]) == ([], 0)
        reply = await client.post(
            "/api/sim/airdrop",
            json={"walletAddress": wallet, "amounts": {"SOL": "5", "USDC": "100.25"}},
            headers=AUTH,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        after = (await client.get(f"/api/wallets/{wallet}/balances")).json()
    assert body["balances"]["balances"] == after["balances"]
    assert after["lamports"] == WALLET_LAMPORTS  # its rent, and SOL to pay its own fees
    owner = Pubkey.from_string(wallet)
    usdc = token_by_symbol("USDC")
    # Every registry token gets its account (at zero unless asked for), so that the wallet
    # can sell whatever it buys; the executor may spend all of it (the faucet's approval).
    expected = {t.symbol: "0" for t in all_tokens()} | {"SOL": "5", "USDC": "100.25"}
    assert {b["symbol"]: b["amount"] for b in after["balances"]} == expected
    for balance in after["balances"]:
        token = token_by_symbol(balance["symbol"])
        assert balance["account"] == str(
            associated_token_address(owner, Pubkey.from_string(token.mint))
        )
        assert balance["approvedForExecutor"] == token.format(U64_MAX)
    solana = AsyncClient(engine.settings.solana_rpc_url)
    try:
        for signature in body["signatures"]:
            landed = (
                await solana.get_transaction(
                    Signature.from_string(signature), max_supported_transaction_version=0
                )
            ).value
            assert landed is not None and landed.transaction.meta.err is None  # type: ignore[union-attr]
        usdc_account = associated_token_address(owner, Pubkey.from_string(usdc.mint))
        balance = (await solana.get_token_account_balance(usdc_account)).value
        assert balance.amount == "100250000"
        parsed = (await solana.get_account_info_json_parsed(usdc_account)).value
        assert parsed is not None
        info = parsed.data.parsed["info"]  # type: ignore[union-attr]
        assert info["delegate"] == executor and info["owner"] == wallet
    finally:
        await solana.close()
    assert await funding_rows(engine, wallet) == ["faucet"]


async def test_the_faucet_funds_without_the_approval_when_told(engine: Engine) -> None:
    """`"approve": false`: the same accounts and amounts, no delegate on any of them (the
    wallet signs its own Approve); a later funding with the approval records it."""
    wallet = new_wallet()
    owner = Pubkey.from_string(wallet)
    async with httpx.AsyncClient(base_url=engine.url) as client:
        reply = await client.post(
            "/api/sim/airdrop",
            json={"walletAddress": wallet, "amounts": {"USDC": "7"}, "approve": False},
            headers=AUTH,
        )
        assert reply.status_code == 200, reply.text
        unapproved = reply.json()["balances"]
        solana = AsyncClient(engine.settings.solana_rpc_url)
        try:
            for token in all_tokens():
                account = associated_token_address(owner, Pubkey.from_string(token.mint))
                parsed = (await solana.get_account_info_json_parsed(account)).value
                assert parsed is not None, token.symbol
                info = parsed.data.parsed["info"]  # type: ignore[union-attr]
                assert info["owner"] == wallet and "delegate" not in info, info
        finally:
            await solana.close()
        approved = await client.post(
            "/api/sim/airdrop",
            json={"walletAddress": wallet, "amounts": {"USDC": "1"}},
            headers=AUTH,
        )
        assert approved.status_code == 200, approved.text
    assert {b["symbol"]: b["approvedForExecutor"] for b in unapproved["balances"]} == {
        t.symbol: "0" for t in all_tokens()
    }
    assert next(b for b in unapproved["balances"] if b["symbol"] == "USDC")["amount"] == "7"
    assert unapproved["lamports"] == WALLET_LAMPORTS
    assert {b["approvedForExecutor"] for b in approved.json()["balances"]["balances"]} == {
        t.format(U64_MAX) for t in all_tokens()
    }
    assert await funding_rows(engine, wallet) == ["faucet"]


async def test_bad_airdrops_name_every_field_and_move_nothing(engine: Engine) -> None:
    wallet = new_wallet()
    async with httpx.AsyncClient(base_url=engine.url) as client:
        bad = await client.post(
            "/api/sim/airdrop",
            json={
                "walletAddress": wallet,
                "amounts": {"NOPE": "1", "USDC": "-3", "SOL": "0.0000000001", "JUP": "x"},
            },
            headers=AUTH,
        )
        not_a_wallet = await client.post(
            "/api/sim/airdrop",
            json={"walletAddress": "0" * 40, "amounts": {"SOL": "1"}},
            headers=AUTH,
        )
        not_a_flag = await client.post(
            "/api/sim/airdrop",
            json={"walletAddress": wallet, "amounts": {"SOL": "1"}, "approve": "no"},
            headers=AUTH,
        )
        unauthorized = await client.post(
            "/api/sim/airdrop", json={"walletAddress": wallet, "amounts": {"SOL": "1"}}
        )
        balances = (await client.get(f"/api/wallets/{wallet}/balances")).json()
        bad_wallet = await client.get("/api/wallets/not-a-key/balances")
    assert bad.status_code == 400, bad.text
    assert {d["field"] for d in bad.json()["details"]} == {
        "amounts.NOPE",
        "amounts.USDC",
        "amounts.SOL",
        "amounts.JUP",
    }
    assert not_a_wallet.status_code == 400
    assert [d["field"] for d in not_a_wallet.json()["details"]] == ["walletAddress"]
    assert not_a_flag.status_code == 400
    assert [d["field"] for d in not_a_flag.json()["details"]] == ["approve"]
    assert unauthorized.status_code == 401
    assert (balances["balances"], balances["lamports"]) == ([], 0)
    assert bad_wallet.status_code == 400
    assert [d["field"] for d in bad_wallet.json()["details"]] == ["walletAddress"]
    assert await funding_rows(engine, wallet) == []


async def test_without_the_control_token_there_is_no_faucet(shared_engine: Engine) -> None:
    async with httpx.AsyncClient(base_url=shared_engine.url) as client:
        reply = await client.post(
            "/api/sim/airdrop", json={"walletAddress": new_wallet(), "amounts": {"SOL": "1"}}
        )
    assert reply.status_code == 404
