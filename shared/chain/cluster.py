"""The Solana cluster as an engine process reaches it: one RPC client, the URLs clients are
told, the executor key, and which cluster it is (by its genesis hash, asked once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shared.chain.keys import ExecutorKey, executor_key
from shared.chain.rpc import SolanaRpc
from shared.config import Settings

# The public clusters' genesis hashes; any other chain is a local one.
PUBLIC_CLUSTERS = {
    "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d": "mainnet-beta",
    "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG": "devnet",
    "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY": "testnet",
}


def executor_key_path(settings: Settings) -> Path:
    """Where the executor keypair is kept when EXECUTOR_SECRET is unset."""
    return Path(settings.data_dir) / "engine" / "executor.json"


@dataclass
class Cluster:
    rpc: SolanaRpc
    rpc_url: str
    ws_url: str
    executor: ExecutorKey
    _genesis: str | None = field(default=None, init=False)

    @classmethod
    def open(cls, settings: Settings) -> Cluster:
        """In the process's event loop (the RPC client's session lives there). InvalidKeypair
        for a malformed EXECUTOR_SECRET or keypair file."""
        key = executor_key(secret=settings.executor_secret, path=executor_key_path(settings))
        return cls(
            SolanaRpc(settings.solana_rpc_url),
            settings.solana_rpc_url,
            settings.solana_ws_url,
            key,
        )

    async def genesis_hash(self) -> str:
        """The chain's identity: a new local ledger is another chain."""
        if self._genesis is None:
            self._genesis = str(await self.rpc.call("getGenesisHash"))
        return self._genesis

    async def name(self) -> str:
        return PUBLIC_CLUSTERS.get(await self.genesis_hash(), "localnet")

    async def close(self) -> None:
        await self.rpc.close()
