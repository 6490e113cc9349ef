"""The router's figures: its speed, and what split routing gains.

    python3 dev.py run python -m loadtest.bench_market

1. Router quotes per second for SOL->USDT (a two-venue split on the direct pair, with two-hop
   alternatives through SOL and USDC both evaluated), pure Python, one core.
2. The gain of the best route over the best single venue for large SOL->USDC orders, in bps.

How fast the chain applies swaps is the validator's own benchmark (loadtest/bench_validator.py).
"""

from __future__ import annotations

import argparse
import time

from loadtest.common import machine
from shared.dex.market_seed import seed_pools
from shared.dex.routing import best_route, split_gain_bps
from shared.tokens import token_by_symbol

SOL, USDC, USDT = (token_by_symbol(s) for s in ("SOL", "USDC", "USDT"))


def router_rate(seconds: float) -> tuple[float, str]:
    pools = seed_pools(42)
    amount = 5_000 * 10**9
    route = best_route(pools, SOL.mint, USDT.mint, amount)  # warm the bin-price caches
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        best_route(pools, SOL.mint, USDT.mint, amount)
        count += 1
    shape = f"{len(route.legs)} legs, via {'USDC' if route.via else 'direct'}"
    return count / (time.perf_counter() - started), shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to time the router")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rate, shape = router_rate(args.seconds)
    print(
        f"router: {rate:,.0f} quotes/s for 5,000 SOL -> USDT ({shape}; split and two-hop "
        "alternatives evaluated)"
    )
    pools = seed_pools(42)
    for sol in (1_000, 5_000, 10_000):
        gain = split_gain_bps(pools, SOL.mint, USDC.mint, sol * 10**9)
        print(f"split gain, {sol:,} SOL -> USDC (direct pools): {gain:.1f} bps over the best venue")


if __name__ == "__main__":
    main()
