"""Routes as the outside sees them: the routing event's view and the Jupiter-style quote."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

from shared.decoding import int_in_range
from shared.dex.pool_maths import SwapResult
from shared.dex.routing import Route
from shared.errors import InvalidRequest
from shared.order_events import RouteLeg, RouteView, VenueQuote
from shared.schemas import FieldError
from shared.tokens import find_token


def _symbol(mint: str) -> str:
    token = find_token(mint)
    return token.symbol if token else mint


def _ui(mint: str, base_units: int) -> str:
    token = find_token(mint)
    return token.format(base_units) if token else str(base_units)


def parse_quote_query(
    token_in: str | None, token_out: str | None, amount_in: str | None, slippage_bps: str | None
) -> tuple[str, str, int, int]:
    """GET /api/quote's parameters as (mint in, mint out, amount in base units, slippage bps);
    InvalidRequest naming every bad or missing one."""
    problems: list[FieldError] = []
    slippage = int_in_range(slippage_bps, "slippageBps", 1, 5000, 50, problems)
    for name, value in (("tokenIn", token_in), ("tokenOut", token_out), ("amountIn", amount_in)):
        if value is None:
            problems.append(FieldError(field=name, message="is required"))
    token_a = find_token(token_in) if token_in is not None else None
    token_b = find_token(token_out) if token_out is not None else None
    if token_a is None and token_in is not None:
        problems.append(FieldError(field="tokenIn", message=f"unknown token {token_in!r}"))
    if token_b is None and token_out is not None:
        problems.append(FieldError(field="tokenOut", message=f"unknown token {token_out!r}"))
    if token_a is not None and token_a == token_b:
        problems.append(FieldError(field="tokenOut", message="tokenOut must differ from tokenIn"))
    amount = 0
    if amount_in is not None:
        try:
            ui_amount = Decimal(amount_in)
            if not ui_amount.is_finite() or ui_amount <= 0:
                raise ValueError
            if token_a is not None:
                amount = token_a.to_base_units(ui_amount)
        except (InvalidOperation, ValueError):
            message = "must be a positive amount"
            if token_a is not None:
                message += f" with at most {token_a.decimals} decimals"
            problems.append(FieldError(field="amountIn", message=message))
    if problems:
        raise InvalidRequest(problems)
    assert token_a is not None and token_b is not None
    return token_a.mint, token_b.mint, amount, slippage


def min_amount_out(quoted_out: int, slippage_bps: int) -> int:
    """The least the swap may pay: the quote less the slippage tolerance, rounded down."""
    return quoted_out * (10_000 - slippage_bps) // 10_000


def route_label(route: Route) -> str:
    """`raydium`, `raydium+meteora` (a split), `meteora>raydium` (two hops)."""
    hops = []
    for hop in range(route.hops):
        venues = dict.fromkeys(leg.venue for leg in route.legs if leg.hop == hop)
        hops.append("+".join(venues))
    return ">".join(hops)


def route_view(route: Route) -> RouteView:
    """The route in the routing event: legs with venue, pool, share, amounts, fee, impact."""
    return RouteView(
        amount_in=_ui(route.mint_in, route.amount_in),
        amount_out=_ui(route.mint_out, route.amount_out),
        via=None if route.via is None else _symbol(route.via),
        price_impact_bps=route.price_impact_bps,
        legs=[
            RouteLeg(
                hop=leg.hop,
                venue=leg.venue,
                pool_id=leg.pool_id,
                token_in=_symbol(leg.mint_in),
                token_out=_symbol(leg.mint_out),
                percent=leg.percent,
                amount_in=_ui(leg.mint_in, leg.amount_in),
                amount_out=_ui(leg.mint_out, leg.amount_out),
                fee_amount=_ui(leg.mint_in, leg.fee_amount),
                price_impact_bps=leg.price_impact_bps,
            )
            for leg in route.legs
        ],
    )


def venue_quote_view(result: SwapResult) -> VenueQuote:
    """One venue's quote for the whole amount on the direct pair."""
    return VenueQuote(
        venue=result.venue,
        pool_id=result.pool_id,
        amount_out=_ui(result.mint_out, result.amount_out),
        fee_amount=_ui(result.mint_in, result.fee_amount),
        fee_bps=round(result.fee_bps, 2),
        price_impact_bps=result.price_impact_bps,
    )


class RoutePlanStep(msgspec.Struct, rename="camel"):
    venue: str
    pool_id: str
    input_mint: str
    output_mint: str
    in_amount: str
    out_amount: str
    fee_amount: str
    fee_mint: str
    percent: int


class QuoteResponse(msgspec.Struct, rename="camel"):
    """GET /api/quote, in Jupiter's shape: amounts in base units, as strings."""

    input_mint: str
    output_mint: str
    in_amount: str
    out_amount: str
    other_amount_threshold: str
    swap_mode: str
    slippage_bps: int
    price_impact_bps: float
    route_plan: list[RoutePlanStep]
    best_single_venue_out_amount: str
    gain_bps: float


def jupiter_quote(route: Route, slippage_bps: int) -> QuoteResponse:
    return QuoteResponse(
        input_mint=route.mint_in,
        output_mint=route.mint_out,
        in_amount=str(route.amount_in),
        out_amount=str(route.amount_out),
        other_amount_threshold=str(min_amount_out(route.amount_out, slippage_bps)),
        swap_mode="ExactIn",
        slippage_bps=slippage_bps,
        price_impact_bps=route.price_impact_bps,
        route_plan=[
            RoutePlanStep(
                venue=leg.venue,
                pool_id=leg.pool_id,
                input_mint=leg.mint_in,
                output_mint=leg.mint_out,
                in_amount=str(leg.amount_in),
                out_amount=str(leg.amount_out),
                fee_amount=str(leg.fee_amount),
                fee_mint=leg.mint_in,
                percent=leg.percent,
            )
            for leg in route.legs
        ],
        best_single_venue_out_amount=str(route.best_single_amount_out),
        gain_bps=route.gain_bps,
    )
