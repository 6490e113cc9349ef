"""The engine's executor keypair: fee payer of every swap and the SPL Token delegate that
wallets approve on their token accounts. The engine never holds a wallet's key.

Two sources, both what Solana's tools produce:
  - a keypair file as `solana-keygen new -o PATH` writes it: a JSON array of the 64 bytes
    (32-byte seed then 32-byte public key), mode 0600 (`load_or_create_executor_key`);
  - a secret in a setting (EXECUTOR_SECRET): that JSON array, or the base58 of the 64 bytes
    (what wallets export), read by `keypair_from_secret`.
Either way the public half must match the seed (a mismatched file fails loudly, not later as
a bad signature).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import base58
from solders.keypair import Keypair
from solders.pubkey import Pubkey

KEYPAIR_LEN = 64
KEYPAIR_FILE_MODE = 0o600


class InvalidKeypair(ValueError):
    """The text is not a 64-byte Solana keypair (JSON array or base58)."""


@dataclass(frozen=True, slots=True)
class ExecutorKey:
    """The executor keypair and where it came from (`path` None for a secret setting)."""

    keypair: Keypair
    path: Path | None = None

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()


def _from_bytes(raw: bytes) -> Keypair:
    if len(raw) != KEYPAIR_LEN:
        raise InvalidKeypair(f"a keypair is {KEYPAIR_LEN} bytes, got {len(raw)}")
    try:
        return Keypair.from_bytes(raw)  # checks that the public half matches the seed
    except ValueError as e:
        raise InvalidKeypair(f"the public key does not match the secret: {e}") from None


def keypair_from_secret(text: str) -> Keypair:
    """A keypair from a JSON array of 64 integers in [0, 255] (solana-keygen's file) or the
    base58 of the 64 bytes. Raises InvalidKeypair, without echoing the secret."""
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise InvalidKeypair("not a JSON array of bytes") from None
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values
        ):
            raise InvalidKeypair("not a JSON array of integers in [0, 255]")
        return _from_bytes(bytes(values))
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise InvalidKeypair("neither a JSON byte array nor base58") from None
    return _from_bytes(raw)


def keypair_file_text(keypair: Keypair) -> str:
    """The file solana-keygen writes: the 64 bytes as a JSON array (no spaces)."""
    return json.dumps(list(bytes(keypair)), separators=(",", ":"))


def read_keypair_file(path: Path) -> Keypair:
    """The keypair in a solana-keygen file. InvalidKeypair names the file, never the bytes."""
    try:
        return keypair_from_secret(path.read_text())
    except InvalidKeypair as e:
        raise InvalidKeypair(f"{path}: {e}") from None


def write_keypair_file(path: Path, keypair: Keypair) -> None:
    """Write `keypair` to a new file at `path` with mode 0600; FileExistsError if there is one
    (a key is never overwritten). Atomic: written to a temporary file in the same directory,
    then hard-linked into place, so a concurrent reader sees no file or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, KEYPAIR_FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(keypair_file_text(keypair))
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)  # fails if the path exists: never overwrite a key
    finally:
        os.unlink(temporary)


def load_or_create_keypair(path: Path) -> Keypair:
    """The keypair at `path`, created (fresh, mode 0600) when no file is there. Two processes
    racing to create it end up with the same key: the loser of the link reads the winner's.
    The executor's key and the local validator's faucet key are both kept this way."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            write_keypair_file(path, Keypair())
    return read_keypair_file(path)


def load_or_create_executor_key(path: Path) -> ExecutorKey:
    """The executor keypair kept in the file at `path` (see load_or_create_keypair)."""
    return ExecutorKey(load_or_create_keypair(path), path)


def executor_key(*, secret: str | None, path: Path) -> ExecutorKey:
    """The executor key a deployment configures: the EXECUTOR_SECRET setting when it is set
    (and then no file is read or written), else the keypair file at `path`, created on the
    first start. InvalidKeypair for a malformed secret or file: start-up stops on it."""
    if secret:
        return ExecutorKey(keypair_from_secret(secret))
    return load_or_create_executor_key(path)
