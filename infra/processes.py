"""Engine processes on one machine: API servers and workers as child processes, and the local
validator they use when no SOLANA_RPC_URL/SOLANA_WS_URL is given.

Used by `order-engine up`, the tests and the benchmarks, so that all three run the engine the
same way a container does (`python -m infra.cli api|worker`), each with its own environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.children import free_port
from infra.local_chain import LocalChain, start_local_chain
from shared.config import load_settings

STOP_GRACE_S = 20.0


class EngineProcesses:
    """APIs and workers sharing one environment; logs to `log_dir` (or inherited stdout)."""

    def __init__(self, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.apis: list[tuple[subprocess.Popen[bytes], str]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.chain: LocalChain | None = None

    def start_chain(self, data_dir: Path) -> dict[str, str]:
        """Unless the environment names a chain (SOLANA_RPC_URL), start the local validator
        with its ledger in `data_dir`/chain and point every process started from now on at
        it; stopped by `stop()`, after the engine. The chain's URLs, as the settings read them."""
        if not self.env.get("SOLANA_RPC_URL", "").strip():
            self.chain = start_local_chain(data_dir, self.env)
            self.env.update(self.chain.urls())
        settings = load_settings(self.env)
        return {"SOLANA_RPC_URL": settings.solana_rpc_url, "SOLANA_WS_URL": settings.solana_ws_url}

    def _spawn(self, command: str, name: str, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", command],
            env={**self.env, **extra_env},
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )

    def log_text(self, name: str) -> str:
        if self.log_dir is None or not (path := self.log_dir / f"{name}.log").exists():
            return ""
        return path.read_text(errors="replace")

    def add_api(self, port: int | None = None, host: str = "127.0.0.1") -> str:
        port = port or free_port()
        index = len(self.apis)
        proc = self._spawn("api", f"api{index}", {"PORT": str(port), "HOST": host})
        url = f"http://127.0.0.1:{port}"
        self.apis.append((proc, url))
        return url

    def add_worker(self, **extra_env: str) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker", f"worker{len(self.workers)}", extra_env)
        self.workers.append(proc)
        return proc

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Block until every API answers /health with 200; raise with its log otherwise."""
        deadline = time.monotonic() + timeout_s
        for index, (proc, url) in enumerate(self.apis):
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_tail = self.log_text(f"api{index}")[-3000:]
                    raise RuntimeError(f"API {index} did not become healthy:\n{log_tail}")
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.1)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [proc for proc, _ in self.apis] + self.workers

    def any_exited(self) -> bool:
        """Whether an API, a worker or the local validator has exited."""
        chain = [self.chain.proc] if self.chain is not None else []
        return any(proc.poll() is not None for proc in self.processes + chain)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM everyone, wait up to `grace_s`, then SIGKILL what is left."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.chain is not None:
            self.chain.stop()
            self.chain = None
