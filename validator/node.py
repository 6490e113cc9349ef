"""The validator process: restore (or genesis), then the slot clock, the RPC and the PubSub.

One event loop runs everything that touches LiteSVM: RPC methods and slot execution. Slot
execution blocks the loop while it runs, which is the backpressure (ingest cannot outrun
execution). Each slot is committed to the ledger right after it executed, and published
(statuses, blockhash, notifications) only once committed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog
from solders.hash import Hash
from websockets.asyncio.server import serve

import validator.launch  # registers localnet_launchToken
import validator.rpc_tx  # noqa: F401  (registers the transaction and account methods)
from validator.faucet import Faucet
from validator.genesis import build_genesis, faucet_keypair, genesis_hook, load_programs
from validator.ledger import Ledger
from validator.pubsub import PubSub
from validator.rpc import Node
from validator.runtime import Chain
from validator.server import http_server
from validator.settings import ChainSettings
from validator.status_cache import KEEP_SLOTS

log = structlog.get_logger("validator")
CHECKPOINT_EVERY_S = 1.0


def open_node(settings: ChainSettings) -> Node:
    """The chain as the ledger left it, or a new genesis on an empty DATA_DIR."""
    chain = Chain(settings)
    ledger = Ledger(settings.chain_dir)
    keypair = faucet_keypair(settings.chain_dir)
    started = time.perf_counter()
    head = ledger.head()
    if "slot" in head:
        accounts = 0
        for key, account in ledger.accounts():
            chain.load_account(key, account)
            accounts += 1
        slot = int(head["slot"])
        blocks = ledger.blocks_since(slot - 150)
        chain.start_at(slot, blocks[-1][1], [(s, h) for s, h, _ in blocks])
        chain.block_time = blocks[-1][2]
        for status_slot, outcomes in ledger.statuses_since(slot - KEEP_SLOTS + 1):
            chain.statuses.add_slot(status_slot, outcomes)
        chain.genesis_hash = Hash(head["genesis_hash"])
        chain.transaction_count = int(head["transaction_count"])
        log.info(
            "ledger restored",
            slot=slot,
            accounts=accounts,
            statuses=len(chain.statuses),
            seconds=round(time.perf_counter() - started, 3),
        )
    else:
        hook = genesis_hook(settings.genesis_hook)
        rent = chain.svm.minimum_balance_for_rent_exemption
        extra = hook(faucet=keypair.pubkey(), rent=rent) if hook else ()
        genesis = build_genesis(keypair.pubkey(), rent, extra)
        genesis_hash = Hash(os.urandom(32))  # a fresh ledger is a cluster of its own
        ledger.write_genesis(genesis, genesis_hash, chain.block_time)
        for key, account in genesis:
            chain.load_account(key, account)
        chain.genesis_hash = genesis_hash
        chain.start_at(0, genesis_hash, [])
        log.info("genesis written", accounts=len(genesis), faucet=str(keypair.pubkey()))
    for name in load_programs(chain.svm, Path(settings.programs_dir)):
        log.info("program loaded", file=name)
    return Node(chain, ledger, Faucet(chain, keypair))


class Validator:
    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings
        self.node = open_node(settings)
        self.pubsub = PubSub(self.node)
        self._stop = asyncio.Event()
        self._db = ThreadPoolExecutor(1, thread_name_prefix="checkpoint")

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        s = self.settings
        http = http_server(self.node, s.host, s.port)
        async with serve(self.pubsub.handler, s.host, s.ws_port, max_size=1 << 20):
            http_task = asyncio.create_task(http.serve())
            slots = asyncio.create_task(self._slot_clock())
            checkpoints = asyncio.create_task(self._checkpoints())
            log.info(
                "validator ready",
                rpc=f"http://{s.host}:{s.port}",
                pubsub=f"ws://{s.host}:{s.ws_port}",
                slot=self.node.chain.slot,
            )
            stop = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait(
                {http_task, slots, stop}, return_when=asyncio.FIRST_COMPLETED
            )
            self._stop.set()
            await slots  # the slot in progress is committed before we go
            await checkpoints
            http.should_exit = True
            await http_task
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        self._db.shutdown(wait=True)
        self.node.ledger.close()
        log.info("validator stopped", slot=self.node.chain.slot)

    async def _slot_clock(self) -> None:
        """Every CHAIN_SLOT_MS: execute a slot, commit it, then publish it.

        The commit runs here, on the loop, not in a DB thread: executemany hands the GIL over
        once per row, and under load (the loop busy with ingest) each hand-off waited, so a
        threaded commit took 5-10 times longer than this one (measured with
        loadtest/bench_validator.py). Only WAL checkpoints, one long GIL-free SQLite call,
        go to a thread (`_checkpoints`).
        """
        chain, ledger = self.node.chain, self.node.ledger
        period = self.settings.slot_ms / 1000
        next_at = time.monotonic()
        report_at, landed = next_at + 10, 0
        while not self._stop.is_set():
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    return
                except TimeoutError:
                    pass
            else:
                next_at = time.monotonic()  # overran: no catching up with a burst of slots
                await asyncio.sleep(0)
            began = time.perf_counter()
            result = chain.produce_slot()
            executed = time.perf_counter()
            ledger.write_slot(result, chain.transaction_count + len(result.landed))
            chain.publish(result)  # only now: whatever a client sees confirmed is on disk
            self.pubsub.on_slot(result)
            landed += len(result.landed)
            log.debug(
                "slot",
                slot=result.slot,
                landed=len(result.landed),
                dropped=result.dropped,
                pending=len(chain.pending),
                execute_ms=round((executed - began) * 1000, 1),
                commit_ms=round((time.perf_counter() - executed) * 1000, 1),
            )
            if time.monotonic() >= report_at:
                log.info(
                    "slots",
                    slot=result.slot,
                    landed_per_s=round(landed / 10),
                    pending=len(chain.pending),
                )
                report_at, landed = time.monotonic() + 10, 0

    async def _checkpoints(self) -> None:
        """Move the WAL into the database file every second, off the loop."""
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), CHECKPOINT_EVERY_S)
            except TimeoutError:
                await loop.run_in_executor(self._db, self.node.ledger.checkpoint)
