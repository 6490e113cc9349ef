"""The router, as an aggregator does it: best single pool, optimal split, two-hop routes.

Pure: it takes pool states (pool_id -> Pool) and returns a Route; nothing is mutated.

Candidates for `amount_in` of mint_in -> mint_out:
  (a) the best single pool of the direct pair;
  (b) the optimal split of the amount across all the direct pair's pools;
  (c) for each hub mint, mint_in -> hub -> mint_out, each hop itself the better of its best
      single pool and its optimal split (the hops use disjoint pools and the second hop's
      output grows with its input, so maximising the first hop's output then the second's
      is optimal for the path).
The route with the largest final output wins; no candidate at all raises NoRoute.

Split (equal marginal output). A hop's pools get allocations a_i with sum A that maximise
sum out_i(a_i): at the optimum every used pool has the same marginal output lambda, and an
unused one a marginal output <= lambda at zero input.
  CPMM with fee f (g = 1 - f), reserves x (in), y (out): out(a) = y*g*a / (x + g*a), so
    out'(a) = g*x*y / (x + g*a)^2 = lambda  =>  a = w / sqrt(lambda) - c,
    with w = sqrt(x*y/g), c = x/g. For the set S of pools in use, sum a = A gives the closed
    form  1/sqrt(lambda) = (A + sum c) / sum w,  a_i = w_i * (A + sum c) / sum w - c_i
    (pools join S in order of their marginal output at zero, g*y/x).
  DLMM: the marginal output is a staircase, one step per bin, P*(1 - fee rate of that bin)
    (`dlmm_segments`), which never rises along the walk.
  Mixed: bins are taken in order of falling rate; before each bin, the CPMM pools are filled
    down to that bin's rate (closed form); the hop is complete when the amount runs out,
    inside a bin (partial bin, CPMMs at its rate) or between two bins (CPMMs alone, closed
    form). The bin where that happens is found by binary search (the amount taken down to a
    bin's rate only grows along the bins): no chunking, no iteration to convergence.
The allocation is computed in 40-digit Decimal arithmetic (a decision, not an amount), then
floored to integers (the remainder goes to the largest leg) and every leg is quoted exactly.
Small legs are kept: a leg with 0.3% of the input can still hold the cheapest liquidity left.
A split is used only if its exact output beats the best single pool's, so it is never worse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import msgspec

from shared.dex.cpmm import CpmmPool, cpmm_reserves
from shared.dex.dlmm import dlmm_segments
from shared.dex.pool_maths import BPS, InsufficientLiquidity, SwapResult
from shared.dex.pools import Pool, quote, swap, tokens
from shared.tokens import token_by_symbol

DEFAULT_HUBS: tuple[str, ...] = (token_by_symbol("SOL").mint, token_by_symbol("USDC").mint)

_ALLOC = Context(prec=40)


class NoRoute(Exception):
    """No pool or path can fill the whole amount."""


class Leg(msgspec.Struct, frozen=True, kw_only=True):
    """One swap of a route. `hop` 0 or 1; `percent` is the leg's share of its hop's input as
    an integer percent (Jupiter's convention; a hop's legs add up to 100, none shows 0).
    Amounts in base units; `fee_amount` in mint_in base units; `price_impact_bps` fee
    excluded."""

    hop: int
    venue: str
    pool_id: str
    mint_in: str
    mint_out: str
    amount_in: int
    amount_out: int
    fee_amount: int
    percent: int
    price_impact_bps: float


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """The chosen route. `amount_out` is the last hop's total output (base units of mint_out).

    `price_impact_bps` (fee excluded): per hop, the output against what the legs' fee-net
    inputs would get at each pool's spot price; the hops' ratios multiplied; 1 - that, in bps.
    `best_single_amount_out`: what the best single pool of the direct pair would pay (0 when
    none can fill the amount), for measuring what routing gained.
    """

    mint_in: str
    mint_out: str
    amount_in: int
    amount_out: int
    legs: tuple[Leg, ...]
    via: str | None  # the hub mint of a two-hop route
    price_impact_bps: float
    best_single_amount_out: int
    best_single_pool_id: str | None

    @property
    def hops(self) -> int:
        return 2 if self.via else 1

    @property
    def is_split(self) -> bool:
        return len(self.legs) > self.hops

    @property
    def gain_bps(self) -> float:
        """How much more the route pays than the best single direct pool, in bps of the latter
        (0 when no single pool can fill the amount)."""
        best = self.best_single_amount_out
        if best <= 0:
            return 0.0
        return round((self.amount_out - best) * BPS / best, 2)


# --- allocation ---------------------------------------------------------------------------


class _Cpmm:
    """A CPMM pool's marginal-output curve: a(lambda) = w / sqrt(lambda) - c."""

    __slots__ = ("c", "index", "m0", "w")

    def __init__(self, index: int, pool: CpmmPool, mint_in: str) -> None:
        x, y = cpmm_reserves(pool, mint_in)
        g = Decimal(BPS - pool.fee_bps) / BPS
        self.index = index
        self.w = (Decimal(x) * Decimal(y) / g).sqrt()
        self.c = Decimal(x) / g
        self.m0 = g * Decimal(y) / Decimal(x)  # marginal output at zero input


def _cpmm_at(cpmms: list[_Cpmm], t: Decimal) -> list[tuple[int, Decimal]]:
    """Each CPMM's allocation where the marginal output is lambda = 1/t^2."""
    return [(p.index, max(Decimal(0), p.w * t - p.c)) for p in cpmms]


def _cpmm_fill(cpmms: list[_Cpmm], amount: Decimal) -> list[tuple[int, Decimal]]:
    """Closed form: split `amount` across the CPMMs at equal marginal output."""
    if not cpmms:
        return []
    order = sorted(cpmms, key=lambda p: p.m0, reverse=True)
    for k in range(1, len(order) + 1):
        active = order[:k]
        t = (amount + sum(p.c for p in active)) / sum(p.w for p in active)
        # The next pool stays out while its marginal output at zero is below lambda.
        if k == len(order) or order[k].w * t <= order[k].c:
            return _cpmm_at(active, t)
    raise AssertionError("unreachable")


def _cpmm_total(cpmms: list[_Cpmm], rate: Decimal) -> Decimal:
    """What the CPMMs take in total before their marginal output falls to `rate`."""
    t = 1 / rate.sqrt()
    return sum((max(Decimal(0), p.w * t - p.c) for p in cpmms), Decimal(0))


def _allocate(pools: Sequence[Pool], mint_in: str, amount: int) -> list[int] | None:
    """Integer allocations of `amount` over `pools` at equal marginal output, or None when the
    pools together cannot absorb it."""
    with localcontext(_ALLOC):
        cpmms: list[_Cpmm] = []
        steps: list[tuple[Decimal, int, int]] = []  # (rate, pool index, capacity)
        for i, pool in enumerate(pools):
            if isinstance(pool, CpmmPool):
                cpmms.append(_Cpmm(i, pool, mint_in))
            else:
                for num, den, capacity in dlmm_segments(pool, mint_in, amount):
                    steps.append((Decimal(num) / Decimal(den), i, capacity))
        steps.sort(key=lambda s: s[0], reverse=True)  # stable: each pool's bins stay in order
        # before[k]: input taken by the bins above step k. The hop ends at the first step k
        # where before[k] + (CPMMs down to rate k) + capacity k reaches the amount; that
        # quantity only grows with k, so a binary search finds it.
        before = [0]
        for _, _, capacity in steps:
            before.append(before[-1] + capacity)
        total = Decimal(amount)
        low, high = 0, len(steps)
        while low < high:
            mid = (low + high) // 2
            rate, _, capacity = steps[mid]
            if before[mid] + capacity + _cpmm_total(cpmms, rate) >= total:
                high = mid
            else:
                low = mid + 1
        shares = [Decimal(0)] * len(pools)
        for _, i, capacity in steps[:low]:  # whole bins
            shares[i] += capacity
        if low < len(steps):
            rate, i, capacity = steps[low]
            cpmm_total = _cpmm_total(cpmms, rate)
            if before[low] + cpmm_total >= total:  # the CPMMs finish before this bin's rate
                at_rate = _cpmm_fill(cpmms, total - before[low])
            else:  # the amount runs out inside this bin, the CPMMs at its rate
                at_rate = _cpmm_at(cpmms, 1 / rate.sqrt())
                shares[i] += total - before[low] - cpmm_total
        elif cpmms:  # every bin reached is used: the CPMMs take the rest
            at_rate = _cpmm_fill(cpmms, total - before[low])
        else:
            return None
        for i, a in at_rate:
            shares[i] += a
        ints = [int(s) for s in shares]  # floor (shares are >= 0)
    # The remainder goes to the largest leg, preferably a CPMM (it cannot run out of bins).
    largest = max(range(len(pools)), key=lambda i: (ints[i], isinstance(pools[i], CpmmPool)))
    ints[largest] += amount - sum(ints)
    return ints


def _split(pools: Sequence[Pool], mint_in: str, amount: int) -> list[SwapResult] | None:
    ints = _allocate(pools, mint_in, amount)
    if ints is None:
        return None
    if sum(1 for a in ints if a) < 2:
        return None  # a single pool: the single-pool candidate covers it
    try:
        return [quote(p, mint_in, a) for p, a in zip(pools, ints, strict=True) if a]
    except InsufficientLiquidity:
        return None  # rounding pushed a DLMM leg past its last bin


def _best_hop(
    pools: Sequence[Pool], mint_in: str, amount: int
) -> tuple[list[SwapResult] | None, SwapResult | None]:
    """(the hop's best legs, the best single pool's result)."""
    best: SwapResult | None = None
    for pool in pools:
        try:
            result = quote(pool, mint_in, amount)
        except InsufficientLiquidity:
            continue
        if result.amount_out > 0 and (best is None or result.amount_out > best.amount_out):
            best = result
    legs = [best] if best else None
    if len(pools) >= 2:
        split = _split(pools, mint_in, amount)
        if split and (best is None or sum(r.amount_out for r in split) > best.amount_out):
            legs = split
    return legs, best


# --- routes -------------------------------------------------------------------------------


def _pairs(pools: Mapping[str, Pool]) -> dict[frozenset[str], list[Pool]]:
    index: dict[frozenset[str], list[Pool]] = {}
    for pool_id in sorted(pools):  # sorted: the same states always give the same route
        pool = pools[pool_id]
        index.setdefault(frozenset(tokens(pool)), []).append(pool)
    return index


def _percents(amounts: list[int]) -> list[int]:
    """Integer percents adding up to 100 (largest remainder); a leg under 0.5% shows 1,
    taken from the largest leg, so that no leg that moves tokens reads 0%."""
    total = sum(amounts)
    exact = [a * 100 for a in amounts]
    floors = [e // total for e in exact]
    order = sorted(range(len(amounts)), key=lambda i: exact[i] % total, reverse=True)
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    largest = max(range(len(amounts)), key=floors.__getitem__)
    for i, percent in enumerate(floors):
        if percent == 0 and amounts[i] > 0:
            floors[i] = 1
            floors[largest] -= 1
    return floors


def _route(
    mint_in: str,
    mint_out: str,
    amount_in: int,
    hops: list[list[SwapResult]],
    via: str | None,
    best_single: SwapResult | None,
) -> Route:
    legs: list[Leg] = []
    ratio = Fraction(1)
    for hop, results in enumerate(hops):
        percents = _percents([r.amount_in for r in results])
        ideal = Fraction(0)
        for r, percent in zip(results, percents, strict=True):
            legs.append(
                Leg(
                    hop=hop,
                    venue=r.venue,
                    pool_id=r.pool_id,
                    mint_in=r.mint_in,
                    mint_out=r.mint_out,
                    amount_in=r.amount_in,
                    amount_out=r.amount_out,
                    fee_amount=r.fee_amount,
                    percent=percent,
                    price_impact_bps=r.price_impact_bps,
                )
            )
            ideal += (r.amount_in - r.fee_amount) * Fraction(r.price_before)
        if ideal > 0:
            ratio *= sum(r.amount_out for r in results) / ideal
    return Route(
        mint_in=mint_in,
        mint_out=mint_out,
        amount_in=amount_in,
        amount_out=sum(r.amount_out for r in hops[-1]),
        legs=tuple(legs),
        via=via,
        price_impact_bps=max(0.0, round(float((1 - ratio) * BPS), 2)),
        best_single_amount_out=best_single.amount_out if best_single else 0,
        best_single_pool_id=best_single.pool_id if best_single else None,
    )


def best_route(
    pools: Mapping[str, Pool],
    mint_in: str,
    mint_out: str,
    amount_in: int,
    hub_mints: Sequence[str] = DEFAULT_HUBS,
) -> Route:
    """The route paying the most `mint_out` for `amount_in` base units of `mint_in`.

    Considers the best single direct pool, the optimal split over the direct pools, and
    two-hop routes through each hub (each hop single or split). Raises NoRoute when nothing
    can fill the whole amount with a positive output; ValueError for a bad request.
    """
    return ranked_routes(pools, mint_in, mint_out, amount_in, hub_mints)[0]


def ranked_routes(
    pools: Mapping[str, Pool],
    mint_in: str,
    mint_out: str,
    amount_in: int,
    hub_mints: Sequence[str] = DEFAULT_HUBS,
) -> list[Route]:
    """best_route's candidates, best first: the direct route, then one two-hop route per
    hub. For a caller that may not be able to use the best (a transaction too large)."""
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    if mint_in == mint_out:
        raise ValueError("mint_in and mint_out must differ")
    index = _pairs(pools)
    candidates: list[Route] = []
    direct, best_single = _best_hop(
        index.get(frozenset((mint_in, mint_out)), []), mint_in, amount_in
    )
    if direct:
        candidates.append(_route(mint_in, mint_out, amount_in, [direct], None, best_single))
    for hub in dict.fromkeys(hub_mints):  # dedupe, keep order
        if hub in (mint_in, mint_out):
            continue
        first_pools = index.get(frozenset((mint_in, hub)))
        second_pools = index.get(frozenset((hub, mint_out)))
        if not first_pools or not second_pools:
            continue
        first, _ = _best_hop(first_pools, mint_in, amount_in)
        if not first:
            continue
        middle = sum(r.amount_out for r in first)
        second, _ = _best_hop(second_pools, hub, middle)
        if not second:
            continue
        candidates.append(_route(mint_in, mint_out, amount_in, [first, second], hub, best_single))
    if not candidates:
        raise NoRoute(f"no pool or path fills {amount_in} of {mint_in} -> {mint_out}")
    # Ties go to the earlier (simpler) candidate: direct before two-hop (the sort is stable).
    return sorted(candidates, key=lambda r: -r.amount_out)


def direct_quotes(
    pools: Mapping[str, Pool], mint_in: str, mint_out: str, amount_in: int
) -> list[SwapResult]:
    """Every direct pool's quote for the whole amount, best first (pools that cannot fill it
    are left out): what a routing event lists as "every venue's quote"."""
    results = []
    for pool in _pairs(pools).get(frozenset((mint_in, mint_out)), []):
        try:
            results.append(quote(pool, mint_in, amount_in))
        except InsufficientLiquidity:
            continue
    return sorted(results, key=lambda r: r.amount_out, reverse=True)


# --- execution ----------------------------------------------------------------------------


def _rescale(planned: list[int], actual: int) -> list[int]:
    """Shares of `actual` in proportion to `planned` (exactly `planned` when the sums agree);
    the rounding remainder goes to the largest leg."""
    total = sum(planned)
    if actual == total:
        return list(planned)
    shares = [actual * p // total for p in planned]
    largest = max(range(len(planned)), key=planned.__getitem__)
    shares[largest] += actual - sum(shares)
    return shares


def execute_route(
    pools: Mapping[str, Pool], route: Route
) -> tuple[int, dict[str, Pool], tuple[SwapResult, ...]]:
    """Swap the route's legs, in order, against `pools` (possibly moved since the route was
    found): (final output, new state of every pool touched, each leg's result).

    Hop 0's legs take their planned inputs; hop 1's legs share hop 0's actual output in the
    planned proportions. Raises InsufficientLiquidity when a leg can no longer be filled.
    """
    states: dict[str, Pool] = {}
    results: list[SwapResult] = []
    carry = route.amount_in
    for hop in range(route.hops):
        legs = [leg for leg in route.legs if leg.hop == hop]
        out = 0
        for leg, amount in zip(legs, _rescale([g.amount_in for g in legs], carry), strict=True):
            if amount <= 0:
                continue
            result, after = swap(states.get(leg.pool_id, pools[leg.pool_id]), leg.mint_in, amount)
            states[leg.pool_id] = after
            results.append(result)
            out += result.amount_out
        carry = out
    return carry, states, tuple(results)


def apply_route(pools: Mapping[str, Pool], route: Route) -> dict[str, Pool]:
    """The new state of every pool the route touches, its legs applied in order (the second
    hop's input is the first hop's output). On the states the route was found on, these are
    exactly the states its quotes assumed."""
    return execute_route(pools, route)[1]


def requote_route(pools: Mapping[str, Pool], route: Route) -> int:
    """What the same legs pay now against `pools` (for the slippage check at execution); 0 if
    a leg can no longer be filled. Equals `route.amount_out` on unchanged pools."""
    try:
        return execute_route(pools, route)[0]
    except InsufficientLiquidity:
        return 0


def split_gain_bps(
    pools: Mapping[str, Pool],
    mint_in: str,
    mint_out: str,
    amount_in: int,
    hub_mints: Sequence[str] = (),
) -> float:
    """How much the best route beats the best single direct pool, in bps (direct pools only
    unless hubs are given). For benchmarks."""
    return best_route(pools, mint_in, mint_out, amount_in, hub_mints).gain_bps
