"""Pure domain logic: units, slippage floor, settings, signatures (pool maths and routing
have their own files)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import SettingsError, load_settings
from shared.quotes import min_amount_out
from shared.tokens import TOKENS, find_token, token_by_symbol

SOL, USDC, BONK = token_by_symbol("SOL"), token_by_symbol("USDC"), token_by_symbol("BONK")


def test_ui_amounts_convert_exactly_to_base_units() -> None:
    assert SOL.to_base_units(Decimal("1.5")) == 1_500_000_000
    assert USDC.to_base_units(Decimal("0.000001")) == 1
    assert SOL.format(1_500_000_000) == "1.5"
    assert USDC.format(226_069_081) == "226.069081"
    assert BONK.format(100_000) == "1"
    with pytest.raises(ValueError):
        USDC.to_base_units(Decimal("0.0000001"))


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(TOKENS))
def test_format_and_parse_round_trip(base_units: int, token: object) -> None:
    assert token.to_base_units(Decimal(token.format(base_units))) == base_units  # type: ignore[attr-defined]


def test_tokens_by_symbol_or_mint() -> None:
    assert find_token("sol") == SOL
    assert find_token("So11111111111111111111111111111111111111112") == SOL
    assert find_token("so11111111111111111111111111111111111111112") is None  # mints are exact
    assert find_token("DOGE") is None


def test_min_amount_out_applies_slippage_rounding_down() -> None:
    assert min_amount_out(226_069_081, 50) == 224_938_735
    assert min_amount_out(10_000, 1) == 9_999
    assert min_amount_out(1, 5000) == 0


def test_settings_defaults_and_errors_name_the_variable() -> None:
    settings = load_settings({})
    assert settings.queue_concurrency == 10
    assert settings.queue_rate_limit_per_minute == 100
    assert settings.queue_max_attempts == 3
    assert settings.dex_quote_latency_ms == 200
    for name, value in [
        ("QUEUE_CONCURRENCY", "zero"),
        ("QUEUE_CONCURRENCY", "0"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_URL", "mysql://x"),
        ("PORT", "70000"),
        ("SOLANA_WS_URL", "http://127.0.0.1:8900"),
    ]:
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value})


def test_the_chain_urls_follow_the_solana_clis_conventions() -> None:
    assert load_settings({}).local_chain_needed
    local = load_settings({"SOLANA_RPC_URL": "http://127.0.0.1:8899/"})
    assert (local.solana_rpc_url, local.solana_ws_url) == (
        "http://127.0.0.1:8899",
        "ws://127.0.0.1:8900",
    )
    assert not local.local_chain_needed
    # Render's `hostport` of a private service names no scheme.
    render = load_settings({"SOLANA_RPC_URL": "order-engine-chain:8899"})
    assert (render.solana_rpc_url, render.solana_ws_url) == (
        "http://order-engine-chain:8899",
        "ws://order-engine-chain:8900",
    )
    devnet = load_settings({"SOLANA_RPC_URL": "https://api.devnet.solana.com"})
    assert devnet.solana_ws_url == "wss://api.devnet.solana.com"
    given = load_settings({"SOLANA_RPC_URL": "http://a:1", "SOLANA_WS_URL": "ws://b:2"})
    assert given.solana_ws_url == "ws://b:2"
