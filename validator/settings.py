"""The validator's settings, from the environment (and `.env`), validated once at start.

    CHAIN_HOST                 127.0.0.1   address of both listeners
    CHAIN_PORT                 8899        JSON-RPC over HTTP
    CHAIN_WS_PORT              PORT + 1    PubSub over WebSocket (as solana-test-validator)
    CHAIN_SLOT_MS              400         slot length
    CHAIN_SLOT_COMPUTE_UNITS   48000000    per-slot budget, counted on requested CU limits
    CHAIN_MAX_PENDING          100000      accepted-not-landed cap; beyond it a send is dropped
    CHAIN_PROGRAMS_DIR         validator/programs   `*.so` loaded at their program ids
    CHAIN_SEED                 (random)    seed of the drop/latency draws, for reproducible runs
    CHAIN_GENESIS_HOOK         (none)      "module:function" adding accounts to genesis
    DATA_DIR                   .data       the ledger lives in DATA_DIR/chain/
    DEX_FAILURE_RATE           0           probability that an accepted send silently never lands
    DEX_EXECUTION_LATENCY_MS   0           "N" or "A-B": wait before an accepted send may land
    LOG_LEVEL / LOG_FORMAT     INFO / console

A bad value stops the process with a message naming the variable; nothing is read at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from shared.config import (
    LogLevel,
    Milliseconds,
    Prepare,
    SettingsError,
    latency_range,
    process_env,
    read_settings,
    upper,
)

PACKAGE_DIR = Path(__file__).resolve().parent


class ChainSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65534)] = 8899
    ws_port: Annotated[int, Meta(ge=1, le=65535)] = 8900
    slot_ms: Annotated[int, Meta(ge=1, le=60_000)] = 400
    slot_compute_units: Annotated[int, Meta(ge=1)] = 48_000_000
    max_pending: Annotated[int, Meta(ge=1)] = 100_000
    programs_dir: str = str(PACKAGE_DIR / "programs")
    seed: Annotated[int, Meta(ge=0)] | None = None
    genesis_hook: str = ""
    data_dir: str = ".data"
    failure_rate: Annotated[float, Meta(ge=0, le=1)] = 0.0
    execution_latency_ms: tuple[Milliseconds, Milliseconds] = (0, 0)
    log_level: LogLevel = "INFO"
    log_format: Literal["console", "json"] = "console"

    @property
    def chain_dir(self) -> Path:
        """Where the ledger, the faucet keypair and nothing else of the engine's live."""
        return Path(self.data_dir) / "chain"


_VARIABLES = {
    "CHAIN_HOST": "host",
    "CHAIN_PORT": "port",
    "CHAIN_WS_PORT": "ws_port",
    "CHAIN_SLOT_MS": "slot_ms",
    "CHAIN_SLOT_COMPUTE_UNITS": "slot_compute_units",
    "CHAIN_MAX_PENDING": "max_pending",
    "CHAIN_PROGRAMS_DIR": "programs_dir",
    "CHAIN_SEED": "seed",
    "CHAIN_GENESIS_HOOK": "genesis_hook",
    "DATA_DIR": "data_dir",
    "DEX_FAILURE_RATE": "failure_rate",
    "DEX_EXECUTION_LATENCY_MS": "execution_latency_ms",
    "LOG_LEVEL": "log_level",
    "LOG_FORMAT": "log_format",
}
_PREPARE: dict[str, Prepare] = {"DEX_EXECUTION_LATENCY_MS": latency_range, "LOG_LEVEL": upper}


def load_chain_settings(env: Mapping[str, str] | None = None) -> ChainSettings:
    """Read settings from `env` (default: `.env` overlaid by the process environment).
    PubSub listens on CHAIN_PORT + 1 unless CHAIN_WS_PORT says otherwise."""
    env = dict(process_env() if env is None else env)
    if not env.get("CHAIN_WS_PORT", "").strip():
        port = env.get("CHAIN_PORT", "").strip()
        env["CHAIN_WS_PORT"] = str(int(port) + 1) if port.isdigit() else ""
    settings = read_settings(ChainSettings, env, _VARIABLES, _PREPARE)
    if settings.ws_port == settings.port:
        raise SettingsError("CHAIN_WS_PORT must differ from CHAIN_PORT")
    return settings
