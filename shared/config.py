"""Settings from the environment (and a `.env` file), validated once at start.

A bad value stops the process with a message naming the variable; nothing is read at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = ""
    redis_url: str = ""
    data_dir: str = ".data"
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = ""
    # Keys and channels in Redis start with this, so that several engines (or test runs)
    # can share one Redis server without seeing each other.
    redis_namespace: str = "oe"
    queue_concurrency: int = 10
    queue_rate_limit_per_minute: int = 100
    queue_max_attempts: int = 3
    queue_backoff_ms: int = 500
    queue_job_timeout_s: int = 120
    queue_heartbeat_s: int = 10
    queue_sweep_interval_s: int = 5
    queue_shutdown_grace_s: int = 30
    order_stuck_after_s: int = 60
    dex_quote_latency_ms: int = 200
    dex_execution_latency_ms: tuple[int, int] = (2000, 3000)
    dex_failure_rate: float = 0.0
    sim_seed: int = 42
    sim_market_activity: float = 2.0
    sim_control_token: str = ""
    require_signatures: bool = False
    submit_rate_limit_per_minute: int = 600
    sniper_min_liquidity: str = "10"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    cors_allow_origins: tuple[str, ...] = ()
    api_workers: int = 1

    @property
    def local_stack_needed(self) -> bool:
        return not (self.database_url and self.redis_url)


def _parse_int(name: str, raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name} must be {bound}, got {value}")
    return value


def _parse_range_ms(name: str, raw: str) -> tuple[int, int]:
    """`2500` is a fixed latency; `2000-3000` draws uniformly from the range."""
    low_raw, _, high_raw = raw.partition("-")
    low = _parse_int(name, low_raw.strip(), 0)
    high = _parse_int(name, high_raw.strip(), 0) if high_raw else low
    if high < low:
        raise SettingsError(f"{name} must be 'min-max' with min <= max, got {raw!r}")
    return (low, high)


def _parse_rate(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{name} must be between 0 and 1, got {raw!r}")
    return value


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `env` (default: `.env` overlaid by the process environment)."""
    if env is None:
        env = {**_read_dotenv(Path(".env")), **os.environ}

    def get(name: str) -> str | None:
        raw = env.get(name)
        return raw.strip() if raw is not None and raw.strip() != "" else None

    values: dict[str, object] = {}
    # Render sets RENDER_EXTERNAL_URL on web services: a sensible default for wsUrl.
    if get("PUBLIC_BASE_URL") is None and (render_url := get("RENDER_EXTERNAL_URL")):
        values["public_base_url"] = render_url.rstrip("/")
    for name in ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "HOST", "PUBLIC_BASE_URL"):
        if (raw := get(name)) is not None:
            values[name.lower()] = raw.rstrip("/") if name == "PUBLIC_BASE_URL" else raw
    int_settings = {
        "PORT": (1, 65535),
        "QUEUE_CONCURRENCY": (1, 1000),
        "QUEUE_RATE_LIMIT_PER_MINUTE": (0, None),
        "QUEUE_MAX_ATTEMPTS": (1, 100),
        "QUEUE_BACKOFF_MS": (0, 3_600_000),
        "QUEUE_JOB_TIMEOUT_S": (5, 86_400),
        "QUEUE_HEARTBEAT_S": (1, 3600),
        "QUEUE_SWEEP_INTERVAL_S": (1, 59),
        "QUEUE_SHUTDOWN_GRACE_S": (0, 3600),
        "ORDER_STUCK_AFTER_S": (5, 86_400),
        "DEX_QUOTE_LATENCY_MS": (0, 60_000),
        "SIM_SEED": (0, None),
        "API_WORKERS": (1, 64),
        "SUBMIT_RATE_LIMIT_PER_MINUTE": (0, 1_000_000),
    }
    for name, (low, high) in int_settings.items():
        if (raw := get(name)) is not None:
            values[name.lower()] = _parse_int(name, raw, low, high)
    if (raw := get("DEX_EXECUTION_LATENCY_MS")) is not None:
        values["dex_execution_latency_ms"] = _parse_range_ms("DEX_EXECUTION_LATENCY_MS", raw)
    if (raw := get("REQUIRE_SIGNATURES")) is not None:
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"REQUIRE_SIGNATURES must be true or false, got {raw!r}")
        values["require_signatures"] = raw.lower() in ("true", "1", "yes")
    if (raw := get("SIM_CONTROL_TOKEN")) is not None:
        values["sim_control_token"] = raw
    if (raw := get("SNIPER_MIN_LIQUIDITY")) is not None:
        try:
            ok = Decimal(raw).is_finite() and Decimal(raw) >= 0
        except ArithmeticError:
            ok = False
        if not ok:
            raise SettingsError(f"SNIPER_MIN_LIQUIDITY must be a number >= 0, got {raw!r}")
        values["sniper_min_liquidity"] = raw
    if (raw := get("SIM_MARKET_ACTIVITY")) is not None:
        try:
            activity = float(raw)
        except ValueError:
            activity = -1.0
        if not 0 <= activity <= 1000:
            raise SettingsError(
                f"SIM_MARKET_ACTIVITY must be 0..1000 trades per second, got {raw!r}"
            )
        values["sim_market_activity"] = activity
    if (raw := get("DEX_FAILURE_RATE")) is not None:
        values["dex_failure_rate"] = _parse_rate("DEX_FAILURE_RATE", raw)
    if (raw := get("REDIS_NAMESPACE")) is not None:
        if not raw.replace("-", "").replace("_", "").isalnum():
            raise SettingsError(f"REDIS_NAMESPACE must be letters, digits, - or _, got {raw!r}")
        values["redis_namespace"] = raw
    if (raw := get("LOG_FORMAT")) is not None:
        if raw not in ("console", "json"):
            raise SettingsError(f"LOG_FORMAT must be 'console' or 'json', got {raw!r}")
        values["log_format"] = raw
    if (raw := get("LOG_LEVEL")) is not None:
        if raw.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
        values["log_level"] = raw.upper()
    if (raw := get("CORS_ALLOW_ORIGINS")) is not None:
        values["cors_allow_origins"] = tuple(o.strip() for o in raw.split(",") if o.strip())
    for name in ("DATABASE_URL", "REDIS_URL"):
        url = values.get(name.lower())
        scheme = "postgres" if name == "DATABASE_URL" else "redis"
        if isinstance(url, str) and not url.startswith(scheme):
            raise SettingsError(f"{name} must be a {scheme}:// URL, got {url!r}")
    return Settings(**values)  # type: ignore[arg-type]
