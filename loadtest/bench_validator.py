"""The local validator alone: SPL `transfer_checked` v0 transactions landed per second.

Starts its own validator (`python -m validator`) on free ports in a temporary DATA_DIR, funds
wallets through `localnet_fundWallet`, then for `--seconds` sends transfers between them in
JSON-RPC batches (`--batch`, default 50) over a few keep-alive connections with a lean aiohttp
client, while one poller confirms them with batched getSignatureStatuses. Reports landed/s,
p50/p90 send-to-confirmed latency, and CPU ms per transaction of the validator (landed) and
of this client (sent). All traffic stays on 127.0.0.1; the validator is stopped at the end.

    python3 dev.py run python -m loadtest.bench_validator [--seconds 10] [--wallets 256]
    python3 dev.py run python -m loadtest.bench_validator --swaps   # Raydium CPMM swaps
    python3 dev.py run python -m loadtest.bench_validator --restore 100000   # restart time
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey

from infra.local_chain import GENESIS_HOOK
from shared.dex.market_seed import seed_pools
from shared.venues.genesis import genesis_addresses
from shared.venues.raydium_cpmm import CpmmAddresses, swap_base_input
from shared.venues.spl import NATIVE_MINT
from validator.spl import TOKEN_PROGRAM_ID, associated_token_address, transfer_checked

REPO = Path(__file__).resolve().parents[1]
USDC = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
AMOUNT_MARK = 0x0102030405060708  # found and replaced in each wallet's message template
TICKS = os.sysconf("SC_CLK_TCK")
SEED = 42  # the seeded market of --swaps
ID_SPACING = 10_000_000  # each sender's transfer amounts start at its own multiple of this


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Validator:
    data_dir: Path
    port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> None:
        log = (self.data_dir / "validator.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "validator"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "DATA_DIR": str(self.data_dir),
                "CHAIN_PORT": str(self.port),
                "CHAIN_WS_PORT": str(self.ws_port),
                **env,
            },
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def log(self) -> str:
        return (self.data_dir / "validator.log").read_text(errors="replace")


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as response:
        reply = await response.json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


async def wait_healthy(session: aiohttp.ClientSession, validator: Validator) -> float:
    started = time.monotonic()
    while True:
        assert validator.proc is not None and validator.proc.poll() is None, validator.log()
        try:
            if await rpc(session, validator.url, "getHealth") == "ok":
                return time.monotonic() - started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)


def swap_instructions(keypair: Keypair, sell_sol: bool) -> list[Instruction]:
    """A Raydium CPMM swap on the seeded SOL/USDC pool (`swap_base_input`, exact in, no minimum),
    the amount to be patched in per send."""
    pool = genesis_addresses(seed_pools(SEED)["raydium-SOL-USDC"])
    assert isinstance(pool, CpmmAddresses)
    owner = keypair.pubkey()
    mint_in, mint_out = (NATIVE_MINT, USDC) if sell_sol else (USDC, NATIVE_MINT)
    return [
        set_compute_unit_limit(40_000),
        set_compute_unit_price(1_000),
        swap_base_input(
            pool,
            owner,
            mint_in,
            associated_token_address(owner, mint_in),
            associated_token_address(owner, mint_out),
            AMOUNT_MARK,
            0,
        ),
    ]


class Wallet:
    """A funded keypair and its transfer (or swap) message, compiled once and patched per
    send."""

    def __init__(
        self, keypair: Keypair, dest: Pubkey, swap: list[Instruction] | None = None
    ) -> None:
        self.keypair = keypair
        ixs = swap or [
            set_compute_unit_limit(1_400),
            set_compute_unit_price(1_000),
            transfer_checked(
                associated_token_address(keypair.pubkey(), USDC),
                USDC,
                associated_token_address(dest, USDC),
                keypair.pubkey(),
                AMOUNT_MARK,
                6,
            ),
        ]
        mark_hash = Hash(bytes(range(32)))
        message = MessageV0.try_compile(keypair.pubkey(), ixs, [], mark_hash)
        self.template = bytearray(to_bytes_versioned(message))  # what the signature covers
        self.hash_at = self.template.index(bytes(mark_hash))
        self.amount_at = self.template.index(struct.pack("<Q", AMOUNT_MARK))

    def transfer(self, blockhash: bytes, amount: int) -> tuple[str, str]:
        """(signature, base64 transaction)."""
        message = self.template
        message[self.hash_at : self.hash_at + 32] = blockhash
        message[self.amount_at : self.amount_at + 8] = struct.pack("<Q", amount)
        signed = bytes(message)
        sig = self.keypair.sign_message(signed)
        return str(sig), base64.b64encode(b"\x01" + bytes(sig) + signed).decode()


@dataclass
class Run:
    sent_at: dict[str, float] = field(default_factory=dict)
    landed_at: dict[str, float] = field(default_factory=dict)
    failed: int = 0
    landed_failed: int = 0  # landed with an error (a swap the pool refused)
    blockhash: bytes = b""
    stop: bool = False
    drain_until: float = float("inf")


async def latest_blockhash(session: aiohttp.ClientSession, url: str) -> bytes:
    result = await rpc(session, url, "getLatestBlockhash")
    return bytes(Hash.from_string(result["value"]["blockhash"]))  # type: ignore[index]


async def keep_blockhash(session: aiohttp.ClientSession, url: str, run: Run) -> None:
    while not run.stop:
        await asyncio.sleep(1.0)
        run.blockhash = await latest_blockhash(session, url)


async def sender(
    session: aiohttp.ClientSession,
    url: str,
    wallets: list[Wallet],
    run: Run,
    args: argparse.Namespace,
    first_id: int,
) -> None:
    """Batches of transfers, one request at a time on its own connection; with `--rate`,
    paced so that all senders together send that many per second."""
    counter = first_id  # unique per transaction: it is the amount, so no two are alike
    options = (
        '{"encoding":"base64"}'
        if args.preflight
        else ('{"encoding":"base64","skipPreflight":true}')
    )
    interval = args.batch * args.connections / args.rate if args.rate else 0.0
    next_at = time.monotonic() + interval * (first_id // ID_SPACING) / args.connections
    while not run.stop:
        if len(run.sent_at) - len(run.landed_at) > args.max_inflight:
            await asyncio.sleep(0.01)
            continue
        if interval:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
        parts, sigs = [], []
        for _ in range(args.batch):
            counter += 1
            wallet = wallets[counter % len(wallets)]
            sig, encoded = wallet.transfer(run.blockhash, counter)
            sigs.append(sig)
            parts.append(
                f'{{"jsonrpc":"2.0","id":{counter},"method":"sendTransaction",'
                f'"params":["{encoded}",{options}]}}'
            )
        now = time.monotonic()
        for sig in sigs:
            run.sent_at[sig] = now
        body = ("[" + ",".join(parts) + "]").encode()
        headers = {"content-type": "application/json"}
        async with session.post(url, data=body, headers=headers) as response:
            replies = json.loads(await response.read())
        run.failed += sum(1 for r in replies if "error" in r)


async def poller(session: aiohttp.ClientSession, url: str, run: Run) -> None:
    while not run.stop or len(run.landed_at) < len(run.sent_at) - run.failed:
        pending = [s for s in run.sent_at if s not in run.landed_at]
        for start in range(0, len(pending), 256 * 20):
            chunk = pending[start : start + 256 * 20]
            body = [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "getSignatureStatuses",
                    "params": [chunk[i * 256 : (i + 1) * 256]],
                }
                for i in range((len(chunk) + 255) // 256)
            ]
            async with session.post(url, json=body) as response:
                replies = sorted(await response.json(), key=lambda r: r["id"])
            now = time.monotonic()
            for reply in replies:
                part = chunk[reply["id"] * 256 : (reply["id"] + 1) * 256]
                for sig, status in zip(part, reply["result"]["value"], strict=True):
                    if status is not None:
                        run.landed_at[sig] = now
                        run.landed_failed += status.get("err") is not None
        if run.stop and time.monotonic() > run.drain_until:
            return
        await asyncio.sleep(0.1)


async def fund(
    session: aiohttp.ClientSession, url: str, count: int, *, swaps: bool = False
) -> list[Wallet]:
    keypairs = [Keypair() for _ in range(count)]
    amounts = {"USDC": 10**12, "SOL": 10**12} if swaps else {"USDC": 10**12}
    sigs: list[str] = []
    for start in range(0, count, 50):
        body = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "localnet_fundWallet",
                "params": [str(k.pubkey()), amounts, {"lamports": 10**10}],
            }
            for i, k in enumerate(keypairs[start : start + 50])
        ]
        async with session.post(url, json=body) as response:
            for reply in await response.json():
                sigs.extend(reply["result"]["signatures"])
    deadline = time.monotonic() + 60
    while True:
        statuses = []
        for start in range(0, len(sigs), 256):
            result = await rpc(session, url, "getSignatureStatuses", sigs[start : start + 256])
            statuses.extend(result["value"])  # type: ignore[index]
        if all(s is not None for s in statuses):
            break
        assert time.monotonic() < deadline, "funding did not land"
        await asyncio.sleep(0.1)
    return [
        Wallet(
            k,
            keypairs[(i + 1) % count].pubkey(),
            swap_instructions(k, sell_sol=i % 2 == 0) if swaps else None,
        )
        for i, k in enumerate(keypairs)
    ]


async def throughput(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-validator-"))
    validator = Validator(data_dir)
    if args.swaps:  # the venues' programs and the seeded market
        validator.start(
            CHAIN_GENESIS_HOOK=GENESIS_HOOK, SIM_SEED=str(SEED), LOG_LEVEL=args.log_level
        )
    else:
        validator.start(CHAIN_PROGRAMS_DIR=str(data_dir / "none"), LOG_LEVEL=args.log_level)
    connector = aiohttp.TCPConnector(limit=args.connections + 2)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_healthy(session, validator)
            wallets = await fund(session, validator.url, args.wallets, swaps=args.swaps)
            run = Run(blockhash=await latest_blockhash(session, validator.url))
            blockhash_task = asyncio.create_task(keep_blockhash(session, validator.url, run))
            assert validator.proc is not None
            cpu_v, cpu_c, started = cpu_seconds(validator.proc.pid), own_cpu(), time.monotonic()
            senders = [
                asyncio.create_task(
                    sender(session, validator.url, wallets, run, args, i * ID_SPACING)
                )
                for i in range(args.connections)
            ]
            poll = asyncio.create_task(poller(session, validator.url, run))
            await asyncio.sleep(args.seconds)
            run.stop = True
            await asyncio.gather(*senders)
            elapsed = time.monotonic() - started
            cpu_v = cpu_seconds(validator.proc.pid) - cpu_v
            cpu_c = own_cpu() - cpu_c
            in_window = sum(1 for t in run.landed_at.values() if t <= started + elapsed)
            run.drain_until = time.monotonic() + 10
            await poll
            blockhash_task.cancel()
    finally:
        validator.stop()
    latencies = sorted((run.landed_at[s] - run.sent_at[s]) * 1000 for s in run.landed_at)
    sent = len(run.sent_at)
    print(
        f"validator bench ({'Raydium CPMM swaps' if args.swaps else 'SPL transfers'}): "
        f"{args.seconds:.0f} s, rate {args.rate or 'unlimited'}, "
        f"{args.wallets} wallets, batches of "
        f"{args.batch} over {args.connections} connections, preflight "
        f"{'on' if args.preflight else 'off'}, {os.cpu_count()} cores"
    )
    print(
        f"  sent {sent} ({sent / elapsed:,.0f}/s), rejected {run.failed}, landed in window "
        f"{in_window} ({in_window / elapsed:,.0f}/s), landed in all {len(run.landed_at)}"
        f" ({run.landed_failed} of them failed)"
    )
    if latencies:
        p50 = statistics.median(latencies)
        p90 = latencies[int(len(latencies) * 0.9)]
        print(
            f"  send-to-confirmed latency p50 {p50:,.0f} ms, p90 {p90:,.0f} ms "
            "(status polled every 100 ms)"
        )
    print(
        f"  validator CPU {cpu_v * 1000 / max(in_window, 1):.3f} ms per landed tx "
        f"({cpu_v / elapsed * 100:.0f}% of a core); client CPU "
        f"{cpu_c * 1000 / max(sent, 1):.3f} ms per sent tx ({cpu_c / elapsed * 100:.0f}%)"
    )
    slot_split(validator.log())
    if args.keep:
        print(f"  DATA_DIR kept: {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


def slot_split(log: str) -> None:
    """With --log-level DEBUG: the slot step's share, from the validator's per-slot lines."""
    execute = commit = landed = 0.0
    for line in log.splitlines():
        if "execute_ms=" not in line:
            continue
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        execute += float(fields["execute_ms"])
        commit += float(fields["commit_ms"])
        landed += int(fields["landed"])
    if landed:
        print(
            f"  of which slot execution {execute / landed:.3f} ms and ledger commit "
            f"{commit / landed:.3f} ms per landed tx (the rest: HTTP, JSON, ingest with "
            "signature checks, status polls)"
        )


async def restore(args: argparse.Namespace) -> None:
    """Time a restart on a ledger holding `--restore` token accounts."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    validator = Validator(data_dir)
    try:
        async with aiohttp.ClientSession() as session:
            validator.start(LOG_LEVEL="INFO")
            await wait_healthy(session, validator)
            validator.stop()
            ledger = sqlite3.connect(data_dir / "chain" / "ledger.sqlite3")
            rows = []
            for i in range(args.restore):
                owner = Keypair().pubkey() if i % 1000 == 0 else Pubkey(os.urandom(32))
                data = (
                    bytes(USDC)
                    + bytes(owner)
                    + struct.pack("<Q", i)
                    + bytes(36)
                    + b"\x01"
                    + bytes(12)
                    + bytes(8)
                    + bytes(36)
                )
                rows.append((os.urandom(32), 2_039_280, bytes(TOKEN_PROGRAM_ID), 0, 0, data))
            with ledger:
                ledger.executemany("INSERT INTO accounts VALUES (?,?,?,?,?,?)", rows)
            ledger.close()
            validator.start(LOG_LEVEL="INFO")
            seconds = await wait_healthy(session, validator)
            validator.stop()
    finally:
        validator.stop()
    restored = [line for line in validator.log().splitlines() if "ledger restored" in line]
    print(
        f"restore of {args.restore:,} token accounts: healthy after {seconds:.2f} s "
        f"(process start included); {restored[-1].split(']', 1)[-1].strip()}"
    )
    shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--wallets", type=int, default=256)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--max-inflight", type=int, default=8_000)
    parser.add_argument("--preflight", action="store_true", help="simulate every send")
    parser.add_argument("--rate", type=float, default=0, help="tx/s to send (0: all it takes)")
    parser.add_argument("--restore", type=int, default=0, help="time a restart instead")
    parser.add_argument("--log-level", default="WARNING", help="the validator's LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIR (and its log)")
    parser.add_argument(
        "--swaps",
        action="store_true",
        help="Raydium CPMM swaps on the seeded SOL/USDC pool instead of SPL transfers",
    )
    args = parser.parse_args()
    import uvloop

    uvloop.run(restore(args) if args.restore else throughput(args))


if __name__ == "__main__":
    main()
