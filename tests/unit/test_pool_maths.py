"""The pool maths: hand-computed swaps, then properties over random pools and amounts."""

from __future__ import annotations

from fractions import Fraction

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.dex.cpmm import CpmmPool, cpmm_apply, cpmm_quote, cpmm_swap
from shared.dex.dlmm import (
    ONE_Q64,
    PRESETS,
    AmountOverflow,
    DlmmPool,
    active_id_for_price,
    bin_price,
    bin_price_q64,
    dlmm_apply,
    dlmm_capacity,
    dlmm_current_fee_rate,
    dlmm_decay,
    dlmm_from_spot,
    dlmm_quote,
    dlmm_segments,
    dlmm_swap,
    fee_rate,
)
from shared.dex.pool_maths import InsufficientLiquidity, StaleQuote, SwapResult
from shared.dex.pools import Pool, apply, marginal_price, pool_view, quote, spot_price, swap

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cpmm(x: int = 1_000_000, y: int = 2_000_000, fee_bps: int = 25) -> CpmmPool:
    return CpmmPool(pool_id="p", mint_a="A", mint_b="B", reserve_a=x, reserve_b=y, fee_bps=fee_bps)


def three_bins(variable_fee_control: int = 100_000) -> DlmmPool:
    """Bin step 100 (1%), active bin 0 (price exactly 1), base fee 10 bps (rate 1e6 / 1e9)."""
    return DlmmPool(
        pool_id="d",
        mint_x="X",
        mint_y="Y",
        bin_step=100,
        active_id=0,
        min_bin_id=-1,
        bins=((0, 1_000_000), (500_000, 500_000), (1_000_000, 0)),
        base_fee_bps=10,
        variable_fee_control=variable_fee_control,
    )


# --- CPMM, by hand ------------------------------------------------------------------------


def test_cpmm_quote_by_hand() -> None:
    # x = 1,000,000 A, y = 2,000,000 B, fee 25 bps, 10,000 A in:
    # fee = ceil(10,000 * 25 / 10,000) = 25; net = 9,975
    # out = floor(2,000,000 * 9,975 / (1,000,000 + 9,975)) = floor(19,752.964...) = 19,752
    r = cpmm_quote(cpmm(), "A", 10_000)
    assert (r.amount_out, r.fee_amount, r.mint_out) == (19_752, 25, "B")
    # spot 2 B/A; the fee-net input at spot would get 19,950: impact = 1 - 19,752/19,950
    assert r.price_before == 2
    assert r.price_impact_bps == pytest.approx(99.25, abs=0.01)
    # after: x = 1,010,000 (the fee stays in), y = 1,980,248
    after = cpmm_apply(cpmm(), r)
    assert (after.reserve_a, after.reserve_b) == (1_010_000, 1_980_248)


def test_cpmm_fee_rounds_up_and_output_down() -> None:
    # 401 in: fee = ceil(401 * 25 / 10,000) = ceil(1.0025) = 2; net 399;
    # out = floor(2,000,000 * 399 / 1,000,399) = floor(797.68) = 797
    r = cpmm_quote(cpmm(), "A", 401)
    assert (r.fee_amount, r.amount_out) == (2, 797)
    # 1 in: the fee takes the only unit, nothing comes out
    assert cpmm_quote(cpmm(), "A", 1).amount_out == 0


def test_cpmm_reverse_direction() -> None:
    # 10,000 B in: fee 25; out = floor(1,000,000 * 9,975 / 2,009,975) = floor(4,962.75) = 4,962
    r = cpmm_quote(cpmm(), "B", 10_000)
    assert (r.amount_out, r.mint_out) == (4_962, "A")
    after = cpmm_apply(cpmm(), r)
    assert (after.reserve_a, after.reserve_b) == (995_038, 2_010_000)


def test_cpmm_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        cpmm_quote(cpmm(), "C", 10)
    with pytest.raises(ValueError):
        cpmm_quote(cpmm(), "A", 0)
    with pytest.raises(ValueError):
        cpmm(x=0)


def test_apply_on_a_moved_pool_is_stale() -> None:
    r = cpmm_quote(cpmm(), "A", 10_000)
    moved = cpmm_apply(cpmm(), r)
    with pytest.raises(StaleQuote):
        cpmm_apply(moved, r)


# --- DLMM, by hand ------------------------------------------------------------------------


def test_bin_prices() -> None:
    assert bin_price_q64(0, 10) == ONE_Q64
    # (1.01)^1 and (1.01)^-1 = 100/101, floored to Q64.64
    assert bin_price_q64(1, 100) == ONE_Q64 * 101 // 100
    assert bin_price_q64(-1, 100) == ONE_Q64 * 100 // 101
    assert bin_price_q64(2, 100) == ONE_Q64 * 101**2 // 100**2
    # 0.15 USDC-base per SOL-base (150 USDC/SOL) at bin step 10: 1.001^-1897 ~ 0.14989
    active = active_id_for_price(Fraction(15, 100), 10)
    assert abs(bin_price(active, 10) - Fraction(15, 100)) <= Fraction(15, 100) * 5 / 10_000


def test_dlmm_fee_rate() -> None:
    pool = three_bins()
    # base: 10 bps = 1,000,000 / 1e9
    assert fee_rate(pool, 0) == 1_000_000
    # one bin crossed: va = 10,000; variable = ceil(100,000 * (10,000 * 100)^2 / 1e11) = 1e6
    assert fee_rate(pool, 10_000) == 2_000_000
    # capped at 10%
    assert fee_rate(pool, 350_000) == 100_000_000


def test_dlmm_swap_inside_the_active_bin() -> None:
    # 100 X in at price 1, fee rate 1e6 (0.1%):
    # the bin can take max_in = 500 (+ max_fee = ceil(500 * 1e6 / 999e6) = 1) -> partial
    # fee = ceil(100 * 1e6 / 1e9) = 1; net 99; out = floor(99 * 1) = 99
    r, after = dlmm_swap(three_bins(), "X", 100)
    assert (r.amount_out, r.fee_amount, r.bins_crossed) == (99, 1, 0)
    assert after.bins[1] == (500_099, 499_901)  # the fee is not in the bin ...
    assert after.fee_x == 1  # ... but held by the pool
    assert r.price_impact_bps == 0


def test_dlmm_swap_across_bins_with_variable_fee() -> None:
    # 700,000 X in.
    # bin 0 (price 1, va 0, rate 1e6): max_in 500,000, max_fee ceil(500,000e6 / 999e6) = 501;
    #   700,000 > 500,501: the bin is emptied: out 500,000, fee 501, 199,499 left.
    # bin -1 (price 100/101, va = 0 + 1 * 10,000, rate 1e6 + 1e6 = 2e6): partial:
    #   fee = ceil(199,499 * 2e6 / 1e9) = ceil(398.998) = 399; net 199,100;
    #   out = floor(199,100 * 100/101) = floor(197,128.71) = 197,128
    # total out 697,128, fee 900; the active bin is now -1.
    r, after = dlmm_swap(three_bins(), "X", 700_000)
    assert (r.amount_out, r.fee_amount, r.bins_crossed) == (697_128, 900, 1)
    assert after.active_id == -1
    assert after.bins == ((199_100, 1_000_000 - 197_128), (1_000_000, 0), (1_000_000, 0))
    assert (after.fee_x, after.volatility_accumulator, after.index_reference) == (900, 10_000, 0)
    # The next swap starts with vr = 10,000 * 5,000 / 10,000 = 5,000 in bin -1 (va 5,000):
    # rate = 1e6 + ceil(1e5 * (5,000 * 100)^2 / 1e11) = 1,250,000;
    # 1,000 in: fee = ceil(1.25) = 2; out = floor(998 * 100/101) = floor(988.1) = 988
    r2, after2 = dlmm_swap(after, "X", 1_000)
    assert (r2.amount_out, r2.fee_amount) == (988, 2)
    assert (after2.volatility_reference, after2.volatility_accumulator) == (5_000, 5_000)


def test_dlmm_swap_y_for_x_walks_up() -> None:
    # 600,000 Y in. bin 0: max_in = ceil(500,000 * 1) = 500,000, max_fee 501 -> emptied,
    # 99,499 left. bin 1 (price 1.01, rate 2e6): fee = ceil(99,499 * 2e6 / 1e9) = 199;
    # net 99,300; out = floor(99,300 / 1.01) = floor(98,316.83) = 98,316
    r, after = dlmm_swap(three_bins(), "Y", 600_000)
    assert (r.amount_out, r.fee_amount, r.mint_out) == (598_316, 700, "X")
    assert after.active_id == 1
    assert after.fee_y == 700


def test_dlmm_insufficient_liquidity() -> None:
    # All the Y is 1,500,000; 2,000,000 X at <= price 1 cannot be absorbed.
    with pytest.raises(InsufficientLiquidity):
        dlmm_quote(three_bins(), "X", 2_000_000)


def test_dlmm_drains_exactly() -> None:
    pool = three_bins()
    drain = sum(s.capacity for s in dlmm_segments(pool, "X", 10**12))
    assert dlmm_quote(pool, "X", drain).amount_out == dlmm_capacity(pool, "X") == 1_500_000
    with pytest.raises(InsufficientLiquidity):
        dlmm_quote(pool, "X", drain + 1)


def test_dlmm_apply_checks_the_quote() -> None:
    pool = three_bins()
    r = dlmm_quote(pool, "X", 700_000)
    after = dlmm_apply(pool, r)
    assert after == dlmm_swap(pool, "X", 700_000)[1]
    with pytest.raises(StaleQuote):
        dlmm_apply(after, r)


def test_dlmm_decay() -> None:
    _, after = dlmm_swap(three_bins(), "X", 700_000)
    assert dlmm_decay(after, 10) is after  # inside the decay window: the next swap decays it
    assert dlmm_decay(after, 600).volatility_accumulator == 0  # past it: forgotten


def test_dlmm_clock_rule() -> None:
    # Meteora's update_references with the chain's clock (filter 30 s, decay 600 s).
    # At t = 1,000 (1,000 s after last_update_s = 0: past the decay window) 700,000 X in:
    # the same walk as test_dlmm_swap_across_bins_with_variable_fee, ending in bin -1, va 10,000.
    _, after = dlmm_swap(three_bins(), "X", 700_000, now_s=1_000)
    assert (after.active_id, after.volatility_accumulator) == (-1, 10_000)
    assert (after.index_reference, after.volatility_reference, after.last_update_s) == (0, 0, 1_000)
    # 10 s later (inside the filter period) the reference is kept: bin -1 is still one bin from
    # index_reference 0, va = 0 + 10,000, rate 2e6: fee = ceil(1,000 * 2e6 / 1e9) = 2
    r, later = dlmm_swap(after, "X", 1_000, now_s=1_010)
    assert (later.index_reference, later.volatility_reference) == (0, 0)
    assert (later.volatility_accumulator, later.last_update_s) == (10_000, 1_010)
    assert dlmm_current_fee_rate(after, now_s=1_010) == 2_000_000
    # 40 s later (decay window): the reference moves to bin -1, vr = 5,000: rate 1.25e6
    assert dlmm_current_fee_rate(after, now_s=1_040) == 1_250_000
    r40, after40 = dlmm_swap(after, "X", 1_000, now_s=1_040)
    assert (after40.index_reference, after40.volatility_reference) == (-1, 5_000)
    assert r40 == dlmm_swap(after, "X", 1_000)[0]  # what the clockless model assumes
    # past the decay period: the volatility is forgotten
    assert dlmm_current_fee_rate(after, now_s=1_600) == 1_000_000
    assert dlmm_swap(after, "X", 1_000, now_s=1_600)[1].volatility_reference == 0
    # the reference kept within the filter period makes a bigger swap pay more fee
    assert r.fee_amount == r40.fee_amount == 2  # (1,000 in: both round up to 2)
    big = 300_000
    assert (
        dlmm_quote(after, "X", big, now_s=1_010).fee_amount
        > dlmm_quote(after, "X", big, now_s=1_040).fee_amount
    )


def test_dlmm_exact_drain_keeps_the_input_in_the_bin() -> None:
    # Bin 0 holds 999,000 Y at price 1, rate 1e6 (0.1%). Emptying it takes
    # max_in = 999,000 plus ceil(999,000 * 1e6 / 999e6) = 1,000 of fee: 1,000,000.
    # 1,000,001 in: fee = ceil(1,000.001) = 1,001, net = 999,000 = max_in exactly: Meteora
    # empties the bin and keeps the whole input there (no unit moves on to bin -1).
    pool = msgspec.structs.replace(
        three_bins(), bins=((0, 1_000_000), (500_000, 999_000), (1_000_000, 0))
    )
    r, after = dlmm_swap(pool, "X", 1_000_001)
    assert (r.amount_out, r.fee_amount, r.bins_crossed, after.active_id) == (999_000, 1_001, 0, 0)
    assert after.bins[1] == (500_000 + 999_000, 0)
    # one more unit: net 999,001 > max_in: the bin takes 1,000,000 and 1 unit goes to bin -1,
    # where its fee (ceil(1 * 2e6 / 1e9) = 1) eats it
    r2, after2 = dlmm_swap(pool, "X", 1_000_002)
    assert (r2.amount_out, r2.fee_amount, after2.active_id) == (999_000, 1_001, -1)


def test_dlmm_stored_prices_and_u64_limits() -> None:
    pool = three_bins()
    # prices stored in the bins (as decoded from a chain) replace the exact ones
    doubled = msgspec.structs.replace(pool, prices=(ONE_Q64, 2 * ONE_Q64, 3 * ONE_Q64))
    assert dlmm_quote(doubled, "X", 100).amount_out == 2 * 99
    with pytest.raises(ValueError):
        msgspec.structs.replace(pool, prices=(ONE_Q64,))
    # a bin whose whole side needs more than a u64 of input: the program fails the swap
    tiny = msgspec.structs.replace(pool, prices=(1, 1, 1))
    with pytest.raises(AmountOverflow):
        dlmm_quote(tiny, "X", 1)
    with pytest.raises(AmountOverflow):  # an input no token account can hold
        dlmm_quote(pool, "X", 1 << 64)


def test_dlmm_from_spot_spreads_liquidity() -> None:
    # n = 2: weights active 3, then 4, 2 per side, out of 9.
    pool = dlmm_from_spot("d", "X", "Y", Fraction(1), 10, 900, 1_800, 2)
    assert pool.active_id == 0 and pool.min_bin_id == -2
    assert pool.bins == ((0, 400), (0, 800), (300, 600), (400, 0), (200, 0))
    assert (pool.variable_fee_control, pool.max_volatility_accumulator) == PRESETS[10][:2]


def test_dlmm_segments_match_swaps() -> None:
    pool = three_bins()
    segments = dlmm_segments(pool, "X", 10**9)
    # bin 0 then bin -1; rates P * (1 - fee rate): 0.999 then 100/101 * 0.998
    assert [s.rate for s in segments] == [
        Fraction(999, 1000),
        Fraction(bin_price_q64(-1, 100) * 998, ONE_Q64 * 1000),
    ]
    # emptying bin 0 takes its capacity exactly
    capacity = segments[0].capacity
    assert dlmm_quote(pool, "X", capacity).amount_out == 500_000
    assert dlmm_quote(pool, "X", capacity).bins_crossed == 0


# --- the common interface -----------------------------------------------------------------


def test_common_interface() -> None:
    pools: list[Pool] = [cpmm(), three_bins()]
    for pool, mint in zip(pools, ("A", "X"), strict=True):
        r, after = swap(pool, mint, 1_000)
        assert quote(pool, mint, 1_000) == r
        assert apply(pool, r) == after
        assert spot_price(pool, mint) > 0
        assert marginal_price(pool, mint) <= spot_price(pool, mint)
        assert pool_view(pool).pool_id == pool.pool_id
    # CPMM marginal price: g*x*y/(x + g*a)^2; at a = 0: 0.9975 * 2 = 1.995
    assert marginal_price(cpmm(), "A") == Fraction(1995, 1000)
    # DLMM: bin -1's rate once bin 0 is used up
    second_bin_rate = dlmm_segments(three_bins(), "X", 10**9)[1].rate
    assert marginal_price(three_bins(), "X", 600_000) == second_bin_rate


def test_pools_round_trip_through_json() -> None:
    pools: dict[str, Pool] = {"p": cpmm(), "d": three_bins()}
    encoded = msgspec.json.encode(pools)
    assert msgspec.json.decode(encoded, type=dict[str, Pool]) == pools
    r = quote(three_bins(), "X", 700_000)
    assert msgspec.json.decode(msgspec.json.encode(r), type=SwapResult) == r


# --- properties ---------------------------------------------------------------------------

reserves = st.integers(min_value=1_000, max_value=10**18)
amounts = st.integers(min_value=1, max_value=10**18)


@PROPERTY
@given(
    x=reserves,
    y=reserves,
    fee=st.integers(0, 100),
    a=amounts,
    b=amounts,
    a_to_b=st.booleans(),
)
def test_cpmm_properties(x: int, y: int, fee: int, a: int, b: int, a_to_b: bool) -> None:
    pool = cpmm(x, y, fee)
    mint_in = "A" if a_to_b else "B"
    x_in, y_out = (x, y) if a_to_b else (y, x)
    small, large = sorted((a, b))
    r_small, r_large = cpmm_quote(pool, mint_in, small), cpmm_quote(pool, mint_in, large)
    # monotone, and never the whole reserve
    assert r_small.amount_out <= r_large.amount_out < y_out
    # the fee is ceil(amount * fee / 10,000), part of the input
    assert r_large.fee_amount * 10_000 >= large * fee > (r_large.fee_amount - 1) * 10_000
    # apply(quote): the input (fee included) goes in, the output comes out, k never falls
    after = cpmm_apply(pool, r_large)
    new_in, new_out = (
        (after.reserve_a, after.reserve_b) if a_to_b else (after.reserve_b, after.reserve_a)
    )
    assert (new_in, new_out) == (x_in + large, y_out - r_large.amount_out)
    assert new_in * new_out >= x * y
    # and the fee-free part alone already keeps k: (x + net)(y - out) >= x*y
    assert (x_in + large - r_large.fee_amount) * new_out >= x * y
    assert cpmm_swap(pool, mint_in, large) == (r_large, after)
    assert r_large.price_impact_bps >= 0


def dlmm_pools() -> st.SearchStrategy[DlmmPool]:
    @st.composite
    def build(draw: st.DrawFn) -> DlmmPool:
        bin_step = draw(st.sampled_from([1, 5, 10, 25, 100]))
        spot = Fraction(draw(st.integers(1, 10**6)), draw(st.integers(1, 10**6)))
        liquidity_x = draw(st.integers(0, 10**15))
        liquidity_y = draw(st.integers(0, 10**15))
        n = draw(st.integers(0, 30))
        pool = dlmm_from_spot("d", "X", "Y", spot, bin_step, liquidity_x, liquidity_y, n)
        va = draw(st.integers(0, pool.max_volatility_accumulator))
        return msgspec.structs.replace(pool, volatility_accumulator=va)

    return build()


def side_total(pool: DlmmPool, x: bool) -> int:
    return sum(b[0] if x else b[1] for b in pool.bins) + (pool.fee_x if x else pool.fee_y)


def check_bin_shape(pool: DlmmPool) -> None:
    """Below the active bin only Y, above it only X."""
    for k, (bx, by) in enumerate(pool.bins):
        bin_id = pool.min_bin_id + k
        assert bx >= 0 and by >= 0
        if bin_id < pool.active_id:
            assert bx == 0
        if bin_id > pool.active_id:
            assert by == 0


def drain_amount(pool: DlmmPool, mint_in: str) -> int:
    """The input that would empty every bin on the output side."""
    return sum(s.capacity for s in dlmm_segments(pool, mint_in, 1 << 256))


# Amounts as permille of what drains the pool (up to 110%: some must fail), or raw.
shares = st.integers(min_value=0, max_value=1_100)


@PROPERTY
@given(pool=dlmm_pools(), a=shares, b=shares, raw=st.none() | amounts, x_in=st.booleans())
def test_dlmm_properties(pool: DlmmPool, a: int, b: int, raw: int | None, x_in: bool) -> None:
    drain = drain_amount(pool, "X" if x_in else "Y")
    a, b = (raw, raw + b) if raw is not None else (drain * a // 1000 + 1, drain * b // 1000 + 1)
    mint_in = "X" if x_in else "Y"
    small, large = sorted((a, b))
    try:
        r_large = dlmm_quote(pool, mint_in, large)
    except InsufficientLiquidity:
        r_large = None
    try:
        r_small = dlmm_quote(pool, mint_in, small)
    except InsufficientLiquidity:
        assert r_large is None  # what cannot fill a small order cannot fill a larger one
        return
    # monotone, and never more than the output side's liquidity
    if r_large is not None:
        assert r_small.amount_out <= r_large.amount_out
    assert r_small.amount_out <= dlmm_capacity(pool, mint_in)
    assert 0 <= r_small.fee_amount <= small
    # apply(quote): the whole input (fee included) stays in the pool, the output leaves it
    after = dlmm_apply(pool, r_small)
    assert side_total(after, x_in) == side_total(pool, x_in) + small
    assert side_total(after, not x_in) == side_total(pool, not x_in) - r_small.amount_out
    assert (after.fee_x if x_in else after.fee_y) - (pool.fee_x if x_in else pool.fee_y) == (
        r_small.fee_amount
    )
    check_bin_shape(after)
    # the price moves against the trader, never for them
    assert spot_price(after, mint_in) <= spot_price(pool, mint_in)
    assert r_small.price_impact_bps >= 0


@PROPERTY
@given(pool=dlmm_pools(), swaps=st.lists(st.tuples(st.booleans(), shares), max_size=6))
def test_dlmm_swap_sequences_keep_the_pool_sound(
    pool: DlmmPool, swaps: list[tuple[bool, int]]
) -> None:
    check_bin_shape(pool)
    for x_in, share in swaps:
        mint_in = "X" if x_in else "Y"
        try:
            r, after = dlmm_swap(pool, mint_in, drain_amount(pool, mint_in) * share // 1000 + 1)
        except InsufficientLiquidity:
            continue
        assert dlmm_apply(pool, r) == after
        assert after.volatility_accumulator <= pool.max_volatility_accumulator
        check_bin_shape(after)
        pool = after
