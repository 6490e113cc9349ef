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

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from shared.config import (
    SettingsError,
    _parse_int,
    _parse_range_ms,
    _parse_rate,
    _read_dotenv,
)

PACKAGE_DIR = Path(__file__).resolve().parent


class ChainSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8899
    ws_port: int = 8900
    slot_ms: int = 400
    slot_compute_units: int = 48_000_000
    max_pending: int = 100_000
    programs_dir: str = str(PACKAGE_DIR / "programs")
    seed: int | None = None
    genesis_hook: str = ""
    data_dir: str = ".data"
    failure_rate: float = 0.0
    execution_latency_ms: tuple[int, int] = (0, 0)
    log_level: str = "INFO"
    log_format: str = "console"

    @property
    def chain_dir(self) -> Path:
        """Where the ledger, the faucet keypair and nothing else of the engine's live."""
        return Path(self.data_dir) / "chain"


def load_chain_settings(env: Mapping[str, str] | None = None) -> ChainSettings:
    """Read settings from `env` (default: `.env` overlaid by the process environment)."""
    if env is None:
        env = {**_read_dotenv(Path(".env")), **os.environ}

    def get(name: str) -> str | None:
        raw = env.get(name)
        return raw.strip() if raw is not None and raw.strip() != "" else None

    values: dict[str, object] = {}
    for name in ("CHAIN_HOST", "CHAIN_PROGRAMS_DIR", "CHAIN_GENESIS_HOOK"):
        if (raw := get(name)) is not None:
            values[name.removeprefix("CHAIN_").lower()] = raw
    if (raw := get("DATA_DIR")) is not None:
        values["data_dir"] = raw
    ints = {
        "CHAIN_PORT": ("port", 1, 65534),
        "CHAIN_WS_PORT": ("ws_port", 1, 65535),
        "CHAIN_SLOT_MS": ("slot_ms", 1, 60_000),
        "CHAIN_SLOT_COMPUTE_UNITS": ("slot_compute_units", 1, None),
        "CHAIN_MAX_PENDING": ("max_pending", 1, None),
        "CHAIN_SEED": ("seed", 0, None),
    }
    for name, (field, low, high) in ints.items():
        if (raw := get(name)) is not None:
            values[field] = _parse_int(name, raw, low, high)
    if "ws_port" not in values:
        values["ws_port"] = int(values.get("port", 8899)) + 1  # type: ignore[call-overload]
    if values["ws_port"] == values.get("port", 8899):
        raise SettingsError("CHAIN_WS_PORT must differ from CHAIN_PORT")
    if (raw := get("DEX_FAILURE_RATE")) is not None:
        values["failure_rate"] = _parse_rate("DEX_FAILURE_RATE", raw)
    if (raw := get("DEX_EXECUTION_LATENCY_MS")) is not None:
        values["execution_latency_ms"] = _parse_range_ms("DEX_EXECUTION_LATENCY_MS", raw)
    if (raw := get("LOG_LEVEL")) is not None:
        if raw.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
        values["log_level"] = raw.upper()
    if (raw := get("LOG_FORMAT")) is not None:
        if raw not in ("console", "json"):
            raise SettingsError(f"LOG_FORMAT must be 'console' or 'json', got {raw!r}")
        values["log_format"] = raw
    return ChainSettings(**values)  # type: ignore[arg-type]
