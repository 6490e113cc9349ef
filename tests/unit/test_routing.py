"""The router and the seeded market: splits, two-hop routes, re-quotes, and their properties."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import dlmm_from_spot
from shared.dex.market_seed import PAIRS, seed_pools
from shared.dex.pool_maths import InsufficientLiquidity
from shared.dex.pools import Pool, marginal_price, quote, spot_price, swap
from shared.dex.routing import (
    NoRoute,
    Route,
    apply_route,
    best_route,
    direct_quotes,
    execute_route,
    requote_route,
    split_gain_bps,
)
from shared.tokens import token_by_symbol

SOL, USDC, USDT, BONK, JUP, RAY = (
    token_by_symbol(s).mint for s in ("SOL", "USDC", "USDT", "BONK", "JUP", "RAY")
)
MARKET = seed_pools(42)


def units(symbol: str, ui: int) -> int:
    return ui * 10 ** token_by_symbol(symbol).decimals


def single_outputs(pools: dict[str, Pool], mint_in: str, mint_out: str, amount: int) -> list[int]:
    outs = []
    for pool in pools.values():
        if {mint_in, mint_out} == set(pool_mints(pool)):
            with contextlib.suppress(InsufficientLiquidity):
                outs.append(quote(pool, mint_in, amount).amount_out)
    return outs


def pool_mints(pool: Pool) -> tuple[str, str]:
    return (pool.mint_a, pool.mint_b) if isinstance(pool, CpmmPool) else (pool.mint_x, pool.mint_y)


def check_route(pools: dict[str, Pool], route: Route) -> None:
    """A route is the composition of its legs, each an exact quote on the given pools."""
    carry = route.amount_in
    for hop in range(route.hops):
        legs = [leg for leg in route.legs if leg.hop == hop]
        assert legs and sum(leg.amount_in for leg in legs) == carry
        assert sum(leg.percent for leg in legs) == 100
        mint_in = route.mint_in if hop == 0 else route.via
        mint_out = route.mint_out if hop == route.hops - 1 else route.via
        for leg in legs:
            assert (leg.mint_in, leg.mint_out) == (mint_in, mint_out)
            assert quote(pools[leg.pool_id], leg.mint_in, leg.amount_in).amount_out == (
                leg.amount_out
            )
        carry = sum(leg.amount_out for leg in legs)
    assert carry == route.amount_out
    assert requote_route(pools, route) == route.amount_out


# --- the seeded market --------------------------------------------------------------------


def test_market_has_both_venues_for_every_pair() -> None:
    for spec in PAIRS:
        for venue in ("raydium", "meteora"):
            pool = MARKET[f"{venue}-{spec.base}-{spec.quote}"]
            assert pool.venue == venue
            base, quote_ = token_by_symbol(spec.base).mint, token_by_symbol(spec.quote).mint
            assert set(pool_mints(pool)) == {base, quote_}
    assert seed_pools(42) == MARKET  # deterministic
    assert seed_pools(7) != MARKET


@pytest.mark.parametrize("seed", [0, 1, 2, 42, 1234])
def test_market_depth_and_venue_gaps(seed: int) -> None:
    pools = seed_pools(seed)
    for venue in ("raydium", "meteora"):
        # 1 SOL barely moves SOL/USDC
        assert quote(pools[f"{venue}-SOL-USDC"], SOL, units("SOL", 1)).price_impact_bps < 5
    # 10,000 SOL moves it a lot: the Meteora pool cannot take it alone, Raydium moves > 10%
    whale = units("SOL", 10_000)
    with pytest.raises(InsufficientLiquidity):
        quote(pools["meteora-SOL-USDC"], SOL, whale)
    assert quote(pools["raydium-SOL-USDC"], SOL, whale).price_impact_bps > 1_000
    # the venues' prices differ, by at most ~3%
    for spec in PAIRS:
        base = token_by_symbol(spec.base).mint
        raydium = spot_price(pools[f"raydium-{spec.base}-{spec.quote}"], base)
        meteora = spot_price(pools[f"meteora-{spec.base}-{spec.quote}"], base)
        assert abs(raydium / meteora - 1) < Fraction(31, 1000)


# --- routes -------------------------------------------------------------------------------


def test_small_order_takes_the_best_single_pool() -> None:
    route = best_route(MARKET, SOL, USDC, units("SOL", 1))
    assert not route.is_split and route.via is None
    assert route.amount_out == max(single_outputs(MARKET, SOL, USDC, units("SOL", 1)))
    assert route.best_single_amount_out == route.amount_out and route.gain_bps == 0
    check_route(MARKET, route)


def test_large_order_is_split_and_beats_the_best_single_venue() -> None:
    amount = units("SOL", 5_000)
    route = best_route(MARKET, SOL, USDC, amount, hub_mints=())
    assert route.is_split
    assert {leg.venue for leg in route.legs} == {"raydium", "meteora"}
    assert (
        route.amount_out
        > route.best_single_amount_out
        == max(single_outputs(MARKET, SOL, USDC, amount))
    )
    assert split_gain_bps(MARKET, SOL, USDC, amount) == route.gain_bps > 0
    check_route(MARKET, route)


@pytest.mark.parametrize("seed", range(10))
def test_split_gain_is_positive_for_a_whale(seed: int) -> None:
    assert split_gain_bps(seed_pools(seed), SOL, USDC, units("SOL", 5_000)) > 0


@pytest.mark.parametrize(
    ("sym_in", "sym_out", "ui"),
    [
        ("SOL", "USDC", 1_000),
        ("USDC", "SOL", 500_000),
        ("BONK", "SOL", 10**10),
        # a small leg that drains the cheaper pool is still worth having
        ("SOL", "BONK", 1_000_000),
        ("USDC", "USDT", 1_000_000),
    ],
)
def test_split_is_as_good_as_a_fine_grid(sym_in: str, sym_out: str, ui: int) -> None:
    """The marginal-price split is at least as good as trying 400 allocations exactly."""
    mint_in = token_by_symbol(sym_in).mint
    amount = units(sym_in, ui)
    base, quote_ = (
        (sym_in, sym_out)
        if f"raydium-{sym_in}-{sym_out}" in MARKET
        else (
            sym_out,
            sym_in,
        )
    )
    ray, met = MARKET[f"raydium-{base}-{quote_}"], MARKET[f"meteora-{base}-{quote_}"]
    grid_best = 0
    for k in range(401):
        a = amount * k // 400
        try:
            out = (quote(ray, mint_in, a).amount_out if a else 0) + (
                quote(met, mint_in, amount - a).amount_out if amount - a else 0
            )
        except InsufficientLiquidity:
            continue
        grid_best = max(grid_best, out)
    route = best_route(MARKET, mint_in, token_by_symbol(sym_out).mint, amount, hub_mints=())
    assert route.amount_out >= grid_best


def test_two_cpmm_pools_split_at_equal_marginal_prices() -> None:
    pools: dict[str, Pool] = {
        "a": CpmmPool(pool_id="a", mint_a="X", mint_b="Y", reserve_a=10**12, reserve_b=2 * 10**12),
        "b": CpmmPool(
            pool_id="b",
            mint_a="X",
            mint_b="Y",
            reserve_a=3 * 10**12,
            reserve_b=6 * 10**12,
            fee_bps=30,
        ),
    }
    route = best_route(pools, "X", "Y", 10**12, hub_mints=())
    assert route.is_split
    legs = {leg.pool_id: leg.amount_in for leg in route.legs}
    # the closed form equalises the marginal outputs (to integer rounding)
    ma = marginal_price(pools["a"], "X", legs["a"])
    mb = marginal_price(pools["b"], "X", legs["b"])
    assert abs(ma / mb - 1) < Fraction(1, 10**9)
    # and moving 0.1% either way only loses
    for delta in (10**9, -(10**9)):
        moved = (
            quote(pools["a"], "X", legs["a"] + delta).amount_out
            + quote(pools["b"], "X", legs["b"] - delta).amount_out
        )
        assert moved <= route.amount_out


def test_two_dlmm_pools_split() -> None:
    def dlmm(pool_id: str, price: Fraction) -> Pool:
        return dlmm_from_spot(pool_id, "X", "Y", price, 10, 10**12, 10**12, 30)

    pools = {"m1": dlmm("m1", Fraction(1)), "m2": dlmm("m2", Fraction(1005, 1000))}
    amount = 8 * 10**11  # more than either pool's Y can pay alone
    singles = single_outputs(pools, "X", "Y", amount)
    route = best_route(pools, "X", "Y", amount, hub_mints=())
    assert route.is_split and route.amount_out > max(singles, default=0)
    check_route(pools, route)


def test_two_hop_route_through_a_hub() -> None:
    # No JUP/RAY pool: only JUP -> SOL -> RAY exists.
    route = best_route(MARKET, JUP, RAY, units("JUP", 1_000))
    assert route.via == SOL and route.hops == 2
    assert route.best_single_amount_out == 0 and route.gain_bps == 0
    check_route(MARKET, route)
    # Hop by hop by hand: the first hop's output is the second hop's input.
    first = [leg for leg in route.legs if leg.hop == 0]
    second = [leg for leg in route.legs if leg.hop == 1]
    assert sum(leg.amount_out for leg in first) == sum(leg.amount_in for leg in second)


def test_a_two_hop_route_can_beat_the_direct_pair() -> None:
    # USDC/USDT venues are priced ~0.1% apart from SOL's implied cross: either way, the route
    # is the best of direct and via-SOL candidates.
    amount = units("USDC", 50_000)
    route = best_route(MARKET, USDC, USDT, amount)
    direct = best_route(MARKET, USDC, USDT, amount, hub_mints=())
    assert route.amount_out >= direct.amount_out
    check_route(MARKET, route)


def test_apply_route_moves_the_pools_and_requote_sees_it() -> None:
    amount = units("BONK", 10**10)  # ~$200k: split on both hops
    route = best_route(MARKET, BONK, USDC, amount)
    assert route.via == SOL and route.is_split
    states = apply_route(MARKET, route)
    assert set(states) == {leg.pool_id for leg in route.legs}
    # the same as swapping the legs one by one
    carry_states = dict(MARKET)
    for leg in route.legs:
        result, after = swap(carry_states[leg.pool_id], leg.mint_in, leg.amount_in)
        assert result.amount_out == leg.amount_out
        carry_states[leg.pool_id] = after
    assert all(states[pid] == carry_states[pid] for pid in states)
    # once the pools have moved, the same legs pay less
    moved = {**MARKET, **states}
    assert 0 < requote_route(moved, route) < route.amount_out
    out, _, results = execute_route(moved, route)
    assert (
        out
        == requote_route(moved, route)
        == sum(r.amount_out for r in results if r.mint_out == USDC)
    )


def test_requote_is_zero_when_a_leg_cannot_fill() -> None:
    pool = dlmm_from_spot("m", "X", "Y", Fraction(1), 10, 10**6, 10**6, 5)
    route = best_route({"m": pool}, "X", "Y", 10**5, hub_mints=())
    drained = {"m": swap(pool, "X", 10**6 - 10**4)[1]}
    assert requote_route(drained, route) == 0


def test_no_route() -> None:
    with pytest.raises(NoRoute):
        best_route({}, SOL, USDC, 1)
    with pytest.raises(NoRoute):  # more than the only pool can absorb
        pool = dlmm_from_spot("m", "X", "Y", Fraction(1), 10, 10**6, 10**6, 5)
        best_route({"m": pool}, "X", "Y", 10**9, hub_mints=())
    with pytest.raises(NoRoute):  # dust: the fee eats it all
        best_route(MARKET, SOL, USDC, 1, hub_mints=())
    with pytest.raises(ValueError):
        best_route(MARKET, SOL, SOL, 10)


def test_direct_quotes_lists_every_venue() -> None:
    results = direct_quotes(MARKET, SOL, USDC, units("SOL", 2))
    assert {r.venue for r in results} == {"raydium", "meteora"}
    assert [r.amount_out for r in results] == sorted((r.amount_out for r in results), reverse=True)


def test_route_round_trips_through_json() -> None:
    route = best_route(MARKET, BONK, USDC, units("BONK", 10**9))
    assert msgspec.json.decode(msgspec.json.encode(route), type=Route) == route


# --- properties ---------------------------------------------------------------------------

SYMBOLS = ["SOL", "USDC", "USDT", "BONK", "JUP", "RAY"]
USD_IN = {"SOL": 150, "USDC": 1, "USDT": 1, "BONK": 0.00002, "JUP": 0.8, "RAY": 2}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    pair=st.permutations(SYMBOLS).map(lambda s: (s[0], s[1])),
    usd_exponent=st.integers(0, 13),  # $1 .. ~$8M (in powers of about 3.16)
)
def test_route_properties(seed: int, pair: tuple[str, str], usd_exponent: int) -> None:
    pools = seed_pools(seed)
    sym_in, sym_out = pair
    token = token_by_symbol(sym_in)
    # an order worth about $10^(k/2), in whole base units
    amount = max(1, round(10 ** (usd_exponent / 2) / USD_IN[sym_in] * 10**token.decimals))
    mint_in, mint_out = token.mint, token_by_symbol(sym_out).mint
    try:
        route = best_route(pools, mint_in, mint_out, amount)
    except NoRoute:
        assert not single_outputs(pools, mint_in, mint_out, amount)
        return
    # never worse than any single pool, nor than the direct-only best
    assert route.amount_out >= max(single_outputs(pools, mint_in, mint_out, amount), default=0)
    direct_only = None
    with contextlib.suppress(NoRoute):
        direct_only = best_route(pools, mint_in, mint_out, amount, hub_mints=())
    if direct_only is not None:
        assert route.amount_out >= direct_only.amount_out >= direct_only.best_single_amount_out
    assert route.price_impact_bps >= 0
    check_route(pools, route)
