"""Programs from CHAIN_PROGRAMS_DIR are loaded at their program ids: the probe's CPMM-shaped
swap (shared/probes/solana-litesvm/amm.c, built here with clang-14) as `raydium_cpmm.so`,
swapping through SPL Token CPIs, with inner instructions in the meta. Skipped where clang-14
or the probe's sources are missing."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from tests.helpers.validator import (
    HOOKED,
    USDC,
    ChainFactory,
    RpcFailure,
    chains,
)
from validator.genesis import PROGRAMS
from validator.spl import TOKEN_PROGRAM_ID, associated_token_address

__all__ = ["chains"]
PROBE = Path("/work/shared/probes/solana-litesvm")
CPMM = PROGRAMS["raydium_cpmm.so"]
USDT = Pubkey.from_string("Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB")
SWAP_BASE_INPUT = bytes([143, 190, 90, 218, 196, 30, 51, 222])


@pytest.fixture(scope="module")
def programs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clang = shutil.which("clang-14")
    if clang is None or not (PROBE / "amm.c").exists():
        pytest.skip("needs clang-14 and the probe's amm.c / sbflink.py")
    out = tmp_path_factory.mktemp("programs")
    obj = out / "amm.o"
    subprocess.run(
        [
            clang,
            "-target",
            "bpfel",
            "-O2",
            "-ffreestanding",
            "-fno-builtin",
            "-c",
            str(PROBE / "amm.c"),
            "-o",
            str(obj),
        ],
        check=True,
    )
    subprocess.run(
        [sys.executable, str(PROBE / "sbflink.py"), str(obj), str(out / "raydium_cpmm.so")],
        check=True,
    )
    return out


def swap_tx(
    user: Keypair, authority: Pubkey, amount_in: int, min_out: int, blockhash: object
) -> VersionedTransaction:
    def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
        return associated_token_address(owner, mint)

    metas = [
        AccountMeta(user.pubkey(), True, True),
        AccountMeta(authority, False, False),
        AccountMeta(ata(user.pubkey(), USDC), False, True),
        AccountMeta(ata(user.pubkey(), USDT), False, True),
        AccountMeta(ata(authority, USDC), False, True),
        AccountMeta(ata(authority, USDT), False, True),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
    ]
    data = SWAP_BASE_INPUT + struct.pack("<QQ", amount_in, min_out)
    ixs = [set_compute_unit_limit(60_000), Instruction(CPMM, data, metas)]
    message = MessageV0.try_compile(user.pubkey(), ixs, [], blockhash)  # type: ignore[arg-type]
    return VersionedTransaction(message, [user])


async def test_program_from_the_programs_dir_swaps(
    chains: ChainFactory, programs_dir: Path
) -> None:
    chain = await chains.start(CHAIN_PROGRAMS_DIR=str(programs_dir))
    rpc = chain.rpc
    program = await rpc.call("getAccountInfo", str(CPMM), {"encoding": "base64"})
    assert program["value"]["executable"] is True
    authority, _ = Pubkey.find_program_address([b"vault_and_lp_mint_auth_seed"], CPMM)
    x, y = 1_000_000 * 10**6, 1_500_000 * 10**6
    await rpc.fund(authority, {"USDC": x, "USDT": y})  # the pool's vaults
    user = Keypair()
    await rpc.fund(user.pubkey(), {"USDC": 10**9, "USDT": 0}, lamports=10**9)
    amount_in = 10**8
    net = amount_in - math.ceil(amount_in * 2500 / 10**6)
    expected = net * y // (x + net)
    blockhash = await rpc.blockhash()
    with pytest.raises(RpcFailure) as slippage:
        await rpc.send(swap_tx(user, authority, amount_in, expected + 1, blockhash))
    assert slippage.value.data["err"] == {"InstructionError": [1, {"Custom": 6005}]}
    sig = await rpc.send(swap_tx(user, authority, amount_in, expected, blockhash))
    [status] = await rpc.wait_landed([sig])
    assert status["err"] is None
    assert await rpc.token_amount(user.pubkey(), USDT) == expected
    assert await rpc.token_amount(user.pubkey(), USDC) == 10**9 - amount_in
    got = await rpc.call("getTransaction", sig, {"maxSupportedTransactionVersion": 0})
    inner = got["meta"]["innerInstructions"]
    assert [group["index"] for group in inner] == [1]  # the two SPL Token transfers (CPIs)
    assert len(inner[0]["instructions"]) == 2
    assert all(ix["stackHeight"] == 2 for ix in inner[0]["instructions"])
    keys = got["transaction"]["message"]["accountKeys"]
    token_index = keys.index(str(TOKEN_PROGRAM_ID))
    assert all(ix["programIdIndex"] == token_index for ix in inner[0]["instructions"])
    parsed = await rpc.call(
        "getTransaction", sig, {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}
    )
    parsed_inner = parsed["meta"]["innerInstructions"][0]["instructions"]
    assert {ix["programId"] for ix in parsed_inner} == {str(TOKEN_PROGRAM_ID)}
    vault_in = str(associated_token_address(authority, USDC))
    assert vault_in in parsed_inner[0]["accounts"] + parsed_inner[1]["accounts"]


async def test_genesis_hook_adds_accounts(chains: ChainFactory) -> None:
    hook = "tests.helpers.validator:extra_genesis"
    chain = await chains.start(CHAIN_GENESIS_HOOK=hook)
    faucet = (await chain.rpc.call("getIdentity"))["identity"]
    account = await chain.rpc.call("getAccountInfo", str(HOOKED), {"encoding": "base64"})
    assert account["value"]["owner"] == faucet
    assert account["value"]["data"] == ["cG9vbAAAAAE=", "base64"]
    restarted = chain.terminate()
    assert restarted == 0  # SIGTERM: a clean stop
    again = await chains.start(data_dir=chain.data_dir)  # no hook: the ledger has the account
    kept = await again.rpc.call("getAccountInfo", str(HOOKED), {"encoding": "base64"})
    assert kept["value"] == account["value"]
