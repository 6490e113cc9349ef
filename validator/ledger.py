"""The ledger: one SQLite file (WAL, synchronous=FULL) under DATA_DIR/chain/.

Written once per slot, in one transaction: the accounts the slot wrote
(whole accounts; deleted when their lamports reach 0), its landed transactions (raw bytes and
meta, for getTransaction), the block (slot, blockhash, time) and the head. The node publishes
a slot's statuses only after `write_slot` returns, so whatever a client saw confirmed survives
a SIGKILL; a slot executed but not committed is simply produced again after a restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey

from validator.meta import RawMeta, decode_meta, encode_meta
from validator.runtime import SlotResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS head (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS accounts (
    pubkey BLOB PRIMARY KEY, lamports INTEGER, owner BLOB, executable INTEGER,
    rent_epoch INTEGER, data BLOB);
CREATE TABLE IF NOT EXISTS blocks (
    slot INTEGER PRIMARY KEY, blockhash BLOB, block_time INTEGER, tx_count INTEGER);
CREATE TABLE IF NOT EXISTS txs (
    sig TEXT PRIMARY KEY, slot INTEGER, idx INTEGER, err TEXT, raw BLOB, meta BLOB);
CREATE INDEX IF NOT EXISTS txs_by_slot ON txs (slot);
"""
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _i64(value: int) -> int:
    """u64 → SQLite's signed 64-bit integer (rent_epoch is often u64::MAX)."""
    return value - 2**64 if value >= 2**63 else value


def _u64(value: int) -> int:
    return value + 2**64 if value < 0 else value


def _account_row(key: Pubkey, account: Account) -> tuple[Any, ...]:
    return (
        bytes(key),
        _i64(account.lamports),
        bytes(account.owner),
        int(account.executable),
        _i64(account.rent_epoch),
        account.data,
    )


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Ledger:
    """`writer` commits slots and `reader` answers queries, both on the event loop;
    `checkpointer` (its own connection, for a thread) moves the WAL into the database file,
    which the writer never does itself (wal_autocheckpoint=0) so commits stay short."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "ledger.sqlite3"
        self.writer = connect(self.path)
        self.writer.executescript(SCHEMA)
        self.writer.execute("PRAGMA wal_autocheckpoint=0")
        self.reader = connect(self.path)
        self.checkpointer = connect(self.path)

    def checkpoint(self) -> None:
        self.checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.checkpoint()
        for conn in (self.reader, self.checkpointer, self.writer):
            conn.close()

    # -- writes -------------------------------------------------------------------------------

    def write_genesis(
        self, accounts: Iterable[tuple[Pubkey, Account]], genesis_hash: Hash, block_time: int
    ) -> None:
        conn = self.writer
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR REPLACE INTO accounts VALUES (?,?,?,?,?,?)",
            (_account_row(k, a) for k, a in accounts),
        )
        conn.execute("INSERT INTO blocks VALUES (0, ?, ?, 0)", (bytes(genesis_hash), block_time))
        conn.executemany(
            "INSERT OR REPLACE INTO head VALUES (?, ?)",
            [("genesis_hash", bytes(genesis_hash)), ("slot", 0), ("transaction_count", 0)],
        )
        conn.execute("COMMIT")

    def write_slot(self, result: SlotResult, transaction_count: int) -> None:
        conn = self.writer
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR REPLACE INTO accounts VALUES (?,?,?,?,?,?)",
            (_account_row(k, a) for k, a in result.accounts if a is not None),
        )
        conn.executemany(
            "DELETE FROM accounts WHERE pubkey = ?",
            ((bytes(k),) for k, a in result.accounts if a is None),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO txs VALUES (?,?,?,?,?,?)",
            (
                (
                    t.sig,
                    t.slot,
                    t.index,
                    None if t.err is None else _encode(t.err).decode(),
                    t.raw,
                    encode_meta(t.meta),
                )
                for t in result.landed
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO blocks VALUES (?,?,?,?)",
            (result.slot, bytes(result.blockhash), result.block_time, len(result.landed)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO head VALUES (?, ?)",
            [("slot", result.slot), ("transaction_count", transaction_count)],
        )
        conn.execute("COMMIT")

    # -- restore (at start) -------------------------------------------------------------------

    def head(self) -> dict[str, Any]:
        return dict(self.reader.execute("SELECT key, value FROM head"))

    def accounts(self) -> Iterator[tuple[Pubkey, Account]]:
        rows = self.reader.execute(
            "SELECT pubkey, lamports, owner, executable, rent_epoch, data FROM accounts"
        )
        for key, lamports, owner, executable, rent_epoch, data in rows:
            yield (
                Pubkey(key),
                Account(_u64(lamports), data, Pubkey(owner), bool(executable), _u64(rent_epoch)),
            )

    def blocks_since(self, slot: int) -> list[tuple[int, Hash, int]]:
        rows = self.reader.execute(
            "SELECT slot, blockhash, block_time FROM blocks WHERE slot >= ? ORDER BY slot", (slot,)
        )
        return [(s, Hash(h), t) for s, h, t in rows]

    def statuses_since(self, slot: int) -> Iterator[tuple[int, list[tuple[str, Any]]]]:
        """Landed signatures per slot from `slot` on, oldest first (for the status cache)."""
        rows = self.reader.execute(
            "SELECT slot, sig, err FROM txs WHERE slot >= ? ORDER BY slot, idx", (slot,)
        )
        current, batch = None, []
        for row_slot, sig, err in rows:
            if row_slot != current and current is not None:
                yield current, batch
                batch = []
            current = row_slot
            batch.append((sig, None if err is None else _decode(err)))
        if current is not None:
            yield current, batch

    # -- queries (event loop) -----------------------------------------------------------------

    def transaction(self, sig: str) -> tuple[int, int | None, bytes, RawMeta] | None:
        """(slot, block time, raw transaction, meta) of a landed signature."""
        row = self.reader.execute(
            "SELECT t.slot, b.block_time, t.raw, t.meta FROM txs t "
            "LEFT JOIN blocks b ON b.slot = t.slot WHERE t.sig = ?",
            (sig,),
        ).fetchone()
        if row is None:
            return None
        return row[0], row[1], row[2], decode_meta(row[3])

    def statuses(self, sigs: list[str]) -> dict[str, tuple[int, Any]]:
        marks = ",".join("?" * len(sigs))
        rows = self.reader.execute(f"SELECT sig, slot, err FROM txs WHERE sig IN ({marks})", sigs)
        return {sig: (slot, None if err is None else _decode(err)) for sig, slot, err in rows}
