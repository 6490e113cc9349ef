"""The local faucet: `localnet_fundWallet` balances (SPL mints and wrapped SOL), the recorded
delegate, and a delegate-signed `transfer_checked` that then moves the owner's tokens."""

from __future__ import annotations

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from tests.helpers.validator import (
    USDC,
    WSOL,
    ChainFactory,
    RpcFailure,
    chains,
    transfer_tx,
)
from validator.spl import associated_token_address

__all__ = ["chains"]
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


async def test_fund_wallet_and_delegate(chains: ChainFactory) -> None:
    chain = await chains.start()
    rpc = chain.rpc
    owner, delegate, receiver = Keypair(), Keypair(), Keypair()
    supply_before = int((await rpc.call("getTokenSupply", str(USDC)))["value"]["amount"])
    result = await rpc.call(
        "localnet_fundWallet",
        str(owner.pubkey()),
        {"USDC": 5_000_000, "SOL": 2 * 10**9, BONK: 12_345},
        {"lamports": 10**8, "delegate": str(delegate.pubkey()), "delegatedAmount": 1_000_000},
    )
    statuses = await rpc.wait_landed(result["signatures"])
    assert all(s["err"] is None for s in statuses)
    usdc_ata = associated_token_address(owner.pubkey(), USDC)
    assert result["tokenAccounts"][str(USDC)] == str(usdc_ata)
    assert await rpc.lamports(owner.pubkey()) == 10**8
    assert await rpc.token_amount(owner.pubkey()) == 5_000_000
    assert await rpc.token_amount(owner.pubkey(), WSOL) == 2 * 10**9
    supply = int((await rpc.call("getTokenSupply", str(USDC)))["value"]["amount"])
    assert supply == supply_before + 5_000_000
    async with AsyncClient(chain.rpc_url) as client:
        wsol = (
            await client.get_account_info_json_parsed(
                associated_token_address(owner.pubkey(), WSOL)
            )
        ).value
        assert wsol is not None and wsol.data.parsed["info"]["isNative"] is True
        assert wsol.lamports == 2 * 10**9 + 2_039_280  # the amount plus its rent reserve
        usdc = (await client.get_account_info_json_parsed(usdc_ata)).value
        info = usdc.data.parsed["info"]
        assert info["delegate"] == str(delegate.pubkey())
        assert info["delegatedAmount"]["amount"] == "1000000"
        bonk = await client.get_token_accounts_by_owner_json_parsed(
            owner.pubkey(), TokenAccountOpts(mint=Pubkey.from_string(BONK))
        )
        assert (
            bonk.value[0].account.data.parsed["info"]["tokenAmount"]["uiAmountString"] == "0.12345"
        )

    # The delegate (with SOL for its fee) moves the owner's tokens to a receiver.
    await rpc.fund(delegate.pubkey(), {}, lamports=10**9)
    await rpc.fund(receiver.pubkey(), {"USDC": 0})
    blockhash = await rpc.blockhash()
    tx = transfer_tx(delegate, receiver.pubkey(), 400_000, blockhash, source_owner=owner.pubkey())
    [status] = await rpc.wait_landed([await rpc.send(tx)])
    assert status["err"] is None
    assert await rpc.token_amount(owner.pubkey()) == 4_600_000
    assert await rpc.token_amount(receiver.pubkey()) == 400_000
    left = await rpc.call("getAccountInfo", str(usdc_ata), {"encoding": "jsonParsed"})
    assert left["value"]["data"]["parsed"]["info"]["delegatedAmount"]["amount"] == "600000"
    over = transfer_tx(delegate, receiver.pubkey(), 600_001, blockhash, source_owner=owner.pubkey())
    with pytest.raises(RpcFailure) as refused:
        await rpc.send(over)
    assert refused.value.data["err"] == {"InstructionError": [2, {"Custom": 1}]}

    # Funding again tops up (the token accounts exist already).
    await rpc.fund(owner.pubkey(), {"USDC": 1})
    assert await rpc.token_amount(owner.pubkey()) == 4_600_001


async def test_fund_wallet_rejects_unknown_mints(chains: ChainFactory) -> None:
    chain = await chains.start()
    with pytest.raises(RpcFailure) as unknown:
        await chain.rpc.call(
            "localnet_fundWallet", str(Keypair().pubkey()), {str(Keypair().pubkey()): 1}
        )
    assert unknown.value.code == -32602
