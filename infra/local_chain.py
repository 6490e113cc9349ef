"""The embedded local validator for `order-engine up`, the tests and the benchmarks, when
SOLANA_RPC_URL / SOLANA_WS_URL are unset: `python -m validator` (the same process as
`order-engine chain`) as a child process, as the embedded PostgreSQL and Redis are.

It needs nothing beyond the engine's own dependencies (solders' LiteSVM and the committed
program binaries). It listens on 127.0.0.1 only, on a free port picked at every start
(JSON-RPC) and the next one (PubSub), so that it never meets a `solana-test-validator` on
8899; its ledger lives in DATA_DIR/chain/ and survives restarts. A fresh ledger starts with the
engine's seeded market (`shared.chain.genesis:seeded_market`, seeded from SIM_SEED).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.children import PORT_ATTEMPTS, child_kwargs, free_port, spawn_until_ready, stop_all

GENESIS_HOOK = "shared.chain.genesis:seeded_market"
_HEALTH = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).encode()


@dataclass
class LocalChain:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: Mapping[str, str] | None = None  # what it was started with, for a restart

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port + 1}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "chain.log"

    def urls(self) -> dict[str, str]:
        """The engine's settings that point at this chain."""
        return {"SOLANA_RPC_URL": self.rpc_url, "SOLANA_WS_URL": self.ws_url}

    def stop(self) -> None:
        """SIGTERM: the validator writes its last slot and exits."""
        stop_all([(self.proc, signal.SIGTERM)])

    def kill(self) -> None:
        """SIGKILL, as a crash: what it had not yet written is lost (fault tests)."""
        stop_all([(self.proc, signal.SIGKILL)])

    def restart(self) -> None:
        """Start it again with the same settings, ports and ledger (after stop() or kill())."""
        self.proc = start_local_chain(self.data_dir, self.env, port=self.port).proc


def start_local_chain(
    data_dir: Path, env: Mapping[str, str] | None = None, *, port: int | None = None
) -> LocalChain:
    """Start the validator with its state in `data_dir`/chain/ and wait until it is healthy.
    Its settings come from `env` (default: this process's environment: CHAIN_SLOT_MS,
    DEX_FAILURE_RATE, SIM_SEED, ...); its address and DATA_DIR are always set here, on free
    ports unless `port` (JSON-RPC; PubSub on the next) is given."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "chain.log"
    base = {
        "CHAIN_GENESIS_HOOK": GENESIS_HOOK,
        **(os.environ if env is None else env),
        "DATA_DIR": str(data_dir),
        "CHAIN_HOST": "127.0.0.1",
    }

    def spawn(port: int) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "validator"],
                cwd=Path(__file__).resolve().parents[1],
                stdout=log,
                stderr=subprocess.STDOUT,
                **child_kwargs(
                    {**base, "CHAIN_PORT": str(port), "CHAIN_WS_PORT": str(port + 1)},
                    None,
                    signal.SIGTERM,
                ),
            )

    if port is not None:  # a restart keeps its URLs: one try
        proc, port = spawn_until_ready("validator", spawn, _healthy, log_path, port)
        return LocalChain(proc, port, data_dir, env)
    for attempt in range(PORT_ATTEMPTS):  # the probed pair can be taken before the bind
        try:
            proc, port = spawn_until_ready("validator", spawn, _healthy, log_path, _free_pair())
        except RuntimeError:
            if attempt == PORT_ATTEMPTS - 1:
                raise
        else:
            return LocalChain(proc, port, data_dir, env)
    raise AssertionError("unreachable")


def _free_pair() -> int:
    """A free port whose successor is free too (JSON-RPC and PubSub)."""
    for _ in range(20):
        port = free_port()
        if port < 65535 and _bindable(port + 1):
            return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _healthy(proc: subprocess.Popen[bytes], port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}", _HEALTH, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as reply:
            return bool(json.loads(reply.read()).get("result") == "ok")
    except (urllib.error.URLError, OSError, ValueError):
        return False
