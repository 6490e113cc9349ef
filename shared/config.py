"""Settings from the environment (and a `.env` file), validated once at start.

The Structs say what each setting may be (`Annotated[..., Meta(...)]`); `read_settings` turns
the environment into one with msgspec, and a bad value stops the process with a message naming
the variable. Nothing is read at import. The validator's settings (validator/settings.py) are
read the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
from msgspec import Meta


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


Milliseconds = Annotated[int, Meta(ge=0, le=3_600_000)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: Annotated[str, Meta(pattern=r"^(postgres(ql)?://.*)?$")] = ""
    redis_url: Annotated[str, Meta(pattern=r"^(rediss?://.*)?$")] = ""
    # The Solana cluster: JSON-RPC and PubSub. Unset, `order-engine up`, the tests and the
    # benchmarks start the local validator (infra/local_chain.py) and set both. A bare
    # host:port is http://host:port; PubSub defaults as the solana CLI derives it (ws, port+1).
    solana_rpc_url: Annotated[str, Meta(pattern=r"^(https?://.*)?$")] = ""
    solana_ws_url: Annotated[str, Meta(pattern=r"^(wss?://.*)?$")] = ""
    # The executor's keypair (fee payer and the wallets' approved delegate): base58 of its
    # 64 bytes or a JSON byte array, as the Solana CLI writes; unset, DATA_DIR/engine/executor.json
    # (created on first use).
    executor_secret: str = ""
    # On the local chain, a wallet the faucet never funded gets the starter balance
    # (shared/wallets.STARTER) with its first order, so that clients written for engines
    # without balances keep working; off, such an order fails INSUFFICIENT_FUNDS.
    sim_airdrop_on_first_order: bool = True
    data_dir: str = ".data"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    public_base_url: str = ""
    # Keys and channels in Redis start with this, so that several engines (or test runs)
    # can share one Redis server without seeing each other.
    redis_namespace: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]+$")] = "oe"
    queue_concurrency: Annotated[int, Meta(ge=1, le=1000)] = 10
    queue_rate_limit_per_minute: Annotated[int, Meta(ge=0)] = 100
    queue_max_attempts: Annotated[int, Meta(ge=1, le=100)] = 3
    queue_backoff_ms: Milliseconds = 500
    queue_job_timeout_s: Annotated[int, Meta(ge=5, le=86_400)] = 120
    queue_heartbeat_s: Annotated[int, Meta(ge=1, le=3600)] = 10
    queue_sweep_interval_s: Annotated[int, Meta(ge=1, le=59)] = 5
    queue_shutdown_grace_s: Annotated[int, Meta(ge=0, le=3600)] = 30
    order_stuck_after_s: Annotated[int, Meta(ge=5, le=86_400)] = 60
    dex_quote_latency_ms: Annotated[int, Meta(ge=0, le=60_000)] = 200
    sim_seed: Annotated[int, Meta(ge=0)] = 42
    sim_market_activity: Annotated[float, Meta(ge=0, le=1000)] = 2.0
    sim_control_token: str = ""
    require_signatures: bool = False
    submit_rate_limit_per_minute: Annotated[int, Meta(ge=0, le=1_000_000)] = 600
    sniper_min_liquidity: Annotated[str, Meta(pattern=r"^\d+(\.\d+)?$")] = "10"
    log_format: Literal["console", "json"] = "console"
    log_level: LogLevel = "INFO"
    cors_allow_origins: tuple[str, ...] = ()
    api_workers: Annotated[int, Meta(ge=1, le=64)] = 1

    @property
    def local_stack_needed(self) -> bool:
        return not (self.database_url and self.redis_url)

    @property
    def local_chain_needed(self) -> bool:
        return not self.solana_rpc_url  # the PubSub URL follows from it when unset


# --- reading a settings Struct from the environment ----------------------------------------


def latency_range(raw: str) -> object:
    """`2500` is a fixed latency; `2000-3000` draws uniformly from the range (min <= max)."""
    low, _, high = raw.partition("-")
    values = (low.strip(), (high or low).strip())
    if all(v.isdigit() for v in values) and int(values[0]) > int(values[1]):
        raise ValueError("must be 'min-max' with min <= max")
    return values


def comma_list(raw: str) -> object:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def yes_or_no(raw: str) -> object:
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if raw.lower() not in words:
        raise ValueError("must be true or false")
    return words[raw.lower()]


def upper(raw: str) -> object:
    return raw.upper()


S = TypeVar("S", bound=msgspec.Struct)
Prepare = Callable[[str], object]


def read_dotenv(path: Path) -> dict[str, str]:
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


def process_env() -> dict[str, str]:
    """`.env` overlaid by the process environment."""
    return {**read_dotenv(Path(".env")), **os.environ}


def read_settings(
    struct_type: type[S],
    env: Mapping[str, str],
    variables: Mapping[str, str],
    prepare: Mapping[str, Prepare] | None = None,
) -> S:
    """The Struct from `env`: `variables` maps each environment variable to its field, an
    empty value counts as unset, `prepare` turns a variable's text into what msgspec converts
    (a range, a list, a yes/no). SettingsError names the variable and the rule it broke."""
    prepare = prepare or {}
    values: dict[str, object] = {}
    given: dict[str, tuple[str, str]] = {}  # field -> (variable, raw)
    for variable, field in variables.items():
        raw = env.get(variable, "").strip()
        if not raw:
            continue
        given[field] = (variable, raw)
        try:
            values[field] = prepare[variable](raw) if variable in prepare else raw
        except ValueError as exc:
            raise SettingsError(f"{variable} {exc}, got {raw!r}") from None
    try:
        return msgspec.convert(values, struct_type, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = re.search(r"\$\.(\w+)", message)
        if found is None or found[1] not in given:
            raise SettingsError(message) from None
        variable, raw = given[found[1]]
        rule = message.split(" - at ", 1)[0].split(", got `", 1)[0]
        raise SettingsError(f"{variable}: {rule}, got {raw!r}") from None


def _rpc_url(raw: str) -> str:
    raw = raw.rstrip("/")
    return raw if "://" in raw else f"http://{raw}"  # Render's `hostport` of a private service


_VARIABLES = {f.name.upper(): f.name for f in msgspec.structs.fields(Settings)}
_PREPARE: dict[str, Prepare] = {
    "CORS_ALLOW_ORIGINS": comma_list,
    "REQUIRE_SIGNATURES": yes_or_no,
    "SIM_AIRDROP_ON_FIRST_ORDER": yes_or_no,
    "LOG_LEVEL": upper,
    "PUBLIC_BASE_URL": lambda raw: raw.rstrip("/"),
    "SOLANA_RPC_URL": _rpc_url,
}


def pubsub_url(rpc_url: str) -> str:
    """The PubSub URL the solana CLI derives from an RPC URL: ws(s), and the port + 1 when the
    URL names a port."""
    parts = urlsplit(rpc_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    netloc = parts.netloc
    if parts.port is not None:
        netloc = f"{parts.hostname}:{parts.port + 1}"
    return urlunsplit(parts._replace(scheme=scheme, netloc=netloc))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `env` (default: `.env` overlaid by the process environment)."""
    env = dict(process_env() if env is None else env)
    rpc = env.get("SOLANA_RPC_URL", "").strip()
    if rpc and not env.get("SOLANA_WS_URL", "").strip():
        env["SOLANA_WS_URL"] = pubsub_url(_rpc_url(rpc))
    # Render sets RENDER_EXTERNAL_URL on web services: a sensible default for wsUrl.
    if not env.get("PUBLIC_BASE_URL", "").strip() and env.get("RENDER_EXTERNAL_URL"):
        env["PUBLIC_BASE_URL"] = env["RENDER_EXTERNAL_URL"]
    return read_settings(Settings, env, _VARIABLES, _PREPARE)
