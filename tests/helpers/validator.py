"""Helpers for the validator tests (no tests here): real validator processes on free ports with
temporary DATA_DIRs, a raw JSON-RPC client, and transaction builders.

Processes are started by the `chains` fixture and killed when the test ends, pass or fail.
Nothing waits by sleeping: callers poll the RPC against a deadline or wait for notifications.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.account import Account
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from validator.spl import associated_token_address, transfer_checked

REPO = Path(__file__).resolve().parents[2]
USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
USDC_DECIMALS = 6
WSOL = Pubkey.from_string("So11111111111111111111111111111111111111112")
FAST = {"CHAIN_SLOT_MS": "40", "LOG_LEVEL": "WARNING"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")


class Rpc:
    """Raw JSON-RPC, for what solana-py lacks and for exact-shape checks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=30)
        self._id = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def raw(self, body: Any) -> Any:
        response = await self.http.post(self.url, json=body)
        response.raise_for_status()
        return response.json()

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        reply = await self.raw(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        )
        if "error" in reply:
            raise RpcFailure(reply["error"])
        return reply["result"]

    async def batch(self, calls: Iterable[tuple[str, list[Any]]]) -> list[Any]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        replies = sorted(await self.raw(body), key=lambda r: r["id"])
        return [r.get("result", r.get("error")) for r in replies]

    async def blockhash(self) -> Hash:
        result = await self.call("getLatestBlockhash")
        return Hash.from_string(result["value"]["blockhash"])

    async def send(self, tx: VersionedTransaction, **config: Any) -> str:
        import base64

        encoded = base64.b64encode(bytes(tx)).decode()
        return await self.call("sendTransaction", encoded, {"encoding": "base64", **config})

    async def statuses(self, sigs: list[str]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(sigs), 256):
            chunk = sigs[start : start + 256]
            result = await self.call(
                "getSignatureStatuses", chunk, {"searchTransactionHistory": True}
            )
            out.extend(result["value"])
        return out

    async def wait_landed(self, sigs: list[str], within: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while True:
            statuses = await self.statuses(sigs)
            if all(s is not None for s in statuses):
                return statuses
            if time.monotonic() > deadline:
                missing = [sig for sig, s in zip(sigs, statuses, strict=True) if s is None]
                raise AssertionError(f"{len(missing)} of {len(sigs)} never landed: {missing[:3]}")
            await asyncio.sleep(0.02)  # a poll interval against the deadline, not a wait

    async def wait_slot(self, slot: int, within: float = 30) -> int:
        deadline = time.monotonic() + within
        while (current := await self.call("getSlot")) < slot:
            assert time.monotonic() < deadline, f"slot {slot} not reached (at {current})"
            await asyncio.sleep(0.02)
        return int(current)

    async def fund(self, owner: Pubkey, amounts: dict[str, int], **options: Any) -> list[str]:
        result = await self.call("localnet_fundWallet", str(owner), amounts, options)
        await self.wait_landed(result["signatures"])
        return list(result["signatures"])

    async def token_amount(self, owner: Pubkey, mint: Pubkey = USDC) -> int:
        address = associated_token_address(owner, mint)
        result = await self.call("getTokenAccountBalance", str(address))
        return int(result["value"]["amount"])

    async def lamports(self, key: Pubkey) -> int:
        return int((await self.call("getBalance", str(key)))["value"])


@dataclass
class ChainProcess:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    ws_port: int
    env: dict[str, str]
    log_path: Path
    rpc: Rpc = field(init=False)

    def __post_init__(self) -> None:
        self.rpc = Rpc(self.rpc_url)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ChainFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[ChainProcess] = []

    async def start(self, data_dir: Path | None = None, **env: str) -> ChainProcess:
        data_dir = data_dir or self.tmp_path / f"chain{len(self.running)}"
        port, ws_port = free_port(), free_port()
        full_env = {
            **os.environ,
            **FAST,
            "DATA_DIR": str(data_dir),
            "CHAIN_PORT": str(port),
            "CHAIN_WS_PORT": str(ws_port),
            "CHAIN_PROGRAMS_DIR": str(self.tmp_path / "no-programs"),
            **env,
        }
        log_path = self.tmp_path / f"validator-{len(self.running)}.log"
        proc = _spawn(full_env, log_path)
        chain = ChainProcess(proc, data_dir, port, ws_port, full_env, log_path)
        self.running.append(chain)
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"validator exited: {chain.log()}"
            try:
                if await chain.rpc.call("getHealth") == "ok":
                    return chain
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"validator not healthy: {chain.log()}"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for chain in self.running:
            chain.kill()
            await chain.rpc.close()


def _spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "validator"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def chains(tmp_path: Path) -> AsyncIterator[ChainFactory]:
    factory = ChainFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


def transfer_tx(
    owner: Keypair,
    dest_owner: Pubkey,
    amount: int,
    blockhash: Hash,
    *,
    mint: Pubkey = USDC,
    decimals: int = USDC_DECIMALS,
    price: int = 0,
    limit: int = 10_000,
    source_owner: Pubkey | None = None,
) -> VersionedTransaction:
    """An SPL `transfer_checked` v0 transaction signed (and paid) by `owner`; `source_owner`
    set means `owner` moves someone else's tokens as their delegate."""
    source = associated_token_address(source_owner or owner.pubkey(), mint)
    dest = associated_token_address(dest_owner, mint)
    ixs = [
        set_compute_unit_limit(limit),
        set_compute_unit_price(price),
        transfer_checked(source, mint, dest, owner.pubkey(), amount, decimals),
    ]
    message = MessageV0.try_compile(owner.pubkey(), ixs, [], blockhash)
    return VersionedTransaction(message, [owner])


async def funded_wallets(rpc: Rpc, count: int, usdc: int = 1_000_000_000) -> list[Keypair]:
    wallets = [Keypair() for _ in range(count)]
    sigs: list[str] = []
    for wallet in wallets:
        result = await rpc.call(
            "localnet_fundWallet", str(wallet.pubkey()), {"USDC": usdc}, {"lamports": 10**9}
        )
        sigs.extend(result["signatures"])
    await rpc.wait_landed(sigs)
    return wallets


HOOKED = Pubkey.from_string("Hook111111111111111111111111111111111111111")


def extra_genesis(faucet: Pubkey, rent: Callable[[int], int]) -> list[tuple[Pubkey, Account]]:
    """A CHAIN_GENESIS_HOOK for the tests: one account owned by the faucet's system program."""
    return [(HOOKED, Account(rent(8), b"pool\x00\x00\x00\x01", faucet, False, 0))]
