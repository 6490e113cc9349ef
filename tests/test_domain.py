"""Pure domain logic: units, fees, routing choice, slippage floor, settings, signatures."""

from __future__ import annotations

import random
from decimal import Decimal

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import SettingsError, load_settings
from shared.dex.chain import new_signature
from shared.dex.router import find_route
from shared.dex.simple import Meteora, Raydium, swap_output, venue_offsets
from shared.dex.venue import Quote, Venue
from shared.execution import min_amount_out
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


def test_fee_is_taken_from_the_input_rounded_up_and_output_rounded_down() -> None:
    # 1.5 SOL at 150 USDC with Raydium's 25 bps: fee 0.00375 SOL, out 1.49625 * 150 = 224.4375
    out, fee = swap_output(1_500_000_000, SOL, USDC, Decimal(150), 25)
    assert fee == 3_750_000
    assert out == 224_437_500
    # 1 base unit in: the fee rounds up to 1, nothing is left to swap.
    assert swap_output(1, SOL, USDC, Decimal(150), 25) == (0, 1)
    # 3 base units of SOL at 150 USDC: 2 after fee -> 0.0000003 USDC rounds down to 0
    assert swap_output(3, SOL, USDC, Decimal(150), 25)[0] == 0


@given(st.integers(min_value=1, max_value=10**20), st.integers(min_value=0, max_value=1000))
def test_swap_never_pays_more_than_the_price(amount_in: int, fee_bps: int) -> None:
    out, fee = swap_output(amount_in, SOL, USDC, Decimal(150), fee_bps)
    assert fee * 10_000 >= amount_in * fee_bps  # the fee is never rounded in the trader's favour
    assert out * 10**9 <= (amount_in - fee) * 150 * 10**6


@given(st.integers(min_value=0, max_value=10**9))
def test_venues_differ_by_two_to_five_percent(seed: int) -> None:
    offsets = venue_offsets(seed, ("SOL", "USDC"))
    gap = abs((1 + offsets["meteora"]) / (1 + offsets["raydium"]) - 1)
    assert 0.0195 <= gap <= 0.051


def test_venue_fees_are_their_own() -> None:
    assert Raydium.fee_bps == 25
    assert Meteora.fee_bps == 20


def test_reverse_direction_is_consistent() -> None:
    venue = Raydium(seed=7, quote_latency_ms=0, rng=random.Random(1))
    there = venue.price(SOL, USDC)
    back = venue.price(USDC, SOL)
    assert abs(there * back - 1) < Decimal("1e-12")


class FixedVenue(Venue):
    def __init__(self, name: str, out: int | None) -> None:
        super().__init__(quote_latency_ms=0, rng=random.Random(0))
        self.name = name
        self.fee_bps = 0
        self.out = out

    def _quote(self, token_in: object, token_out: object, amount_in: int) -> Quote | None:
        if self.out is None:
            return None
        return Quote(
            venue=self.name,
            pool_id=self.name,
            token_in=SOL.mint,
            token_out=USDC.mint,
            amount_in=amount_in,
            amount_out=self.out,
            fee_amount=0,
            fee_bps=0,
        )

    def _fill(self, quote: Quote) -> int:
        return quote.amount_out


async def test_router_takes_the_largest_net_output_and_reports_the_saving() -> None:
    route = await find_route([FixedVenue("a", 1000), FixedVenue("b", 1040)], SOL, USDC, 10)
    assert route.best.venue == "b"
    assert [q.venue for q in route.quotes] == ["b", "a"]
    assert route.savings_bps == 400


async def test_router_without_any_quote_is_a_permanent_no_route() -> None:
    from shared.errors import PermanentFailure

    with pytest.raises(PermanentFailure) as failure:
        await find_route([FixedVenue("a", None), FixedVenue("b", 0)], SOL, USDC, 10)
    assert failure.value.code == "NO_ROUTE"


def test_min_amount_out_applies_slippage_rounding_down() -> None:
    assert min_amount_out(226_069_081, 50) == 224_938_735
    assert min_amount_out(10_000, 1) == 9_999
    assert min_amount_out(1, 5000) == 0


def test_signatures_look_like_solana() -> None:
    signature = new_signature()
    assert len(base58.b58decode(signature)) == 64
    assert 86 <= len(signature) <= 88
    assert new_signature() != signature


def test_settings_defaults_and_errors_name_the_variable() -> None:
    settings = load_settings({})
    assert settings.queue_concurrency == 10
    assert settings.queue_rate_limit_per_minute == 100
    assert settings.queue_max_attempts == 3
    assert settings.dex_quote_latency_ms == 200
    assert settings.dex_execution_latency_ms == (2000, 3000)
    assert load_settings({"DEX_EXECUTION_LATENCY_MS": "5"}).dex_execution_latency_ms == (5, 5)
    for name, value in [
        ("QUEUE_CONCURRENCY", "zero"),
        ("QUEUE_CONCURRENCY", "0"),
        ("DEX_FAILURE_RATE", "1.5"),
        ("DEX_EXECUTION_LATENCY_MS", "300-100"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_URL", "mysql://x"),
        ("PORT", "70000"),
    ]:
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value})
