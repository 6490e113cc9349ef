"""A submit body checked and turned into a NewOrder: every rule the types alone cannot state,
and every bad field named at once, as the client spelled it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import base58

from shared.decoding import convert_fields, decode_json_object
from shared.errors import InvalidRequest
from shared.schemas import FieldError, OrderType, SubmitOrderRequest
from shared.tokens import EXACT_CONTEXT, Token, find_token

DEFAULT_SLIPPAGE_BPS = 50
DEFAULT_EXPIRY_S = 86_400  # waiting orders live a day unless told otherwise
LIMIT_PRICE_DECIMALS = 18  # the column is NUMERIC(38, 18)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated submit, in base units. A sniper's `token_out` is None until its token
    launches: `target` is what it waits for (a symbol, upper-cased, or a mint)."""

    order_type: OrderType
    token_in: Token
    token_out: Token | None
    amount_in: int
    slippage_bps: int
    wallet_address: str
    target: str = ""
    limit_price: Decimal | None = None
    max_price_impact_bps: int | None = None
    expires_in_s: int | None = None
    priority_fee: str = "auto"  # "auto" or micro-lamports per compute unit, as text

    @property
    def token_out_key(self) -> str:
        """What the orders row stores as token_out: the mint, or a sniper's target."""
        return self.token_out.mint if self.token_out is not None else self.target


def is_wallet_address(text: str) -> bool:
    """A Solana address: base58 that decodes to exactly 32 bytes (an ed25519 public key)."""
    try:
        return len(base58.b58decode(text)) == 32
    except ValueError:
        return False


def is_launch_target(text: str) -> bool:
    """What a sniper may wait for: a mint address, or a symbol of 1-10 letters and digits."""
    return is_wallet_address(text) or (text.isascii() and text.isalnum() and len(text) <= 10)


_TYPE_FIELDS = {
    "market": (),
    "limit": ("limitPrice", "expiresInSeconds"),
    "sniper": ("maxPriceImpactBps", "expiresInSeconds"),
}


def validate_submit(req: SubmitOrderRequest, known: Sequence[FieldError] = ()) -> NewOrder:
    """Check everything the types alone cannot; raise InvalidRequest naming every bad field.

    `known` are the fields that already failed to convert (`shared.decoding.convert_fields`):
    they are reported with the rest, and no check here reads them."""
    problems: list[FieldError] = list(known)
    failed = {p.field for p in known}

    def bad(field: str, message: str) -> None:
        problems.append(FieldError(field=field, message=message))

    token_in = find_token(req.token_in) if "tokenIn" not in failed else None
    token_out = find_token(req.token_out) if "tokenOut" not in failed else None
    target = ""
    if token_in is None and "tokenIn" not in failed:
        bad("tokenIn", f"unknown token {req.token_in!r}; see GET /api/tokens")
    if "tokenOut" in failed or "orderType" in failed:
        pass
    elif req.order_type == "sniper":
        if token_out is not None:
            bad("tokenOut", f"{token_out.symbol} already trades; snipers wait for a launch")
        elif not is_launch_target(req.token_out):
            bad("tokenOut", "must be the symbol (letters and digits) or mint of a coming token")
        else:
            target = req.token_out if is_wallet_address(req.token_out) else req.token_out.upper()
    elif token_out is None:
        bad("tokenOut", f"unknown token {req.token_out!r}; see GET /api/tokens")
    if token_in is not None and token_in == token_out:
        bad("tokenOut", "tokenOut must differ from tokenIn")

    amount_in = 0
    if "amountIn" in failed:
        pass
    elif not req.amount_in.is_finite() or req.amount_in <= 0:
        bad("amountIn", "must be a positive amount")
    elif token_in is not None:
        try:
            amount_in = token_in.to_base_units(req.amount_in)
        except (ValueError, InvalidOperation):
            bad("amountIn", f"{token_in.symbol} has {token_in.decimals} decimals at most")
        if amount_in >= 10**38:
            bad("amountIn", "is too large")

    slippage_bps = _slippage_bps(req, bad) if not {"slippage", "slippageBps"} & failed else 0

    if "walletAddress" not in failed and not is_wallet_address(req.wallet_address):
        bad("walletAddress", "must be a base58 Solana address of 32 bytes")
    if "orderType" not in failed:
        _check_type_fields(req, failed, bad)

    if problems:
        raise InvalidRequest(problems)
    assert token_in is not None
    waits = req.order_type != "market"
    return NewOrder(
        order_type=req.order_type,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        slippage_bps=slippage_bps,
        wallet_address=req.wallet_address,
        target=target,
        limit_price=req.limit_price,
        max_price_impact_bps=req.max_price_impact_bps,
        expires_in_s=(req.expires_in_seconds or DEFAULT_EXPIRY_S) if waits else None,
        priority_fee="auto" if req.priority_fee is None else str(req.priority_fee),
    )


def parse_submit(raw: bytes | str) -> SubmitOrderRequest:
    """A submit body (HTTP or the WebSocket's first message) as a request; InvalidRequest names
    every field that is bad by type, and with them every other field `validate_submit` finds
    wrong, so one answer lists them all."""
    request, problems = convert_fields(decode_json_object(raw), SubmitOrderRequest)
    if problems:
        validate_submit(request, problems)  # raises, with the problems it adds
    return request


def _check_type_fields(
    req: SubmitOrderRequest, failed: set[str], bad: Callable[[str, str], None]
) -> None:
    """The fields that belong to some order types only: allowed, and required, by type."""
    given = {
        "limitPrice": req.limit_price,
        "expiresInSeconds": req.expires_in_seconds,
        "maxPriceImpactBps": req.max_price_impact_bps,
    }
    allowed = _TYPE_FIELDS[req.order_type]
    for field, value in given.items():
        if value is not None and field not in allowed:
            bad(field, f"is not allowed on a {req.order_type} order")
    if req.order_type == "limit" and "limitPrice" not in failed:
        _check_limit_price(req.limit_price, bad)
    if (
        req.order_type == "sniper"
        and req.max_price_impact_bps is None
        and ("maxPriceImpactBps" not in failed)
    ):
        bad("maxPriceImpactBps", "is required on a sniper order")


def _check_limit_price(price: Decimal | None, bad: Callable[[str, str], None]) -> None:
    if price is None:
        bad("limitPrice", "is required on a limit order (tokenOut per tokenIn)")
    elif not price.is_finite() or price <= 0:
        bad("limitPrice", "must be a positive price")
    elif price >= 10**20:
        bad("limitPrice", "is too large")
    elif price != price.quantize(Decimal(1).scaleb(-LIMIT_PRICE_DECIMALS), context=EXACT_CONTEXT):
        bad("limitPrice", f"has more than {LIMIT_PRICE_DECIMALS} decimals")


def _slippage_bps(req: SubmitOrderRequest, bad: Callable[[str, str], None]) -> int:
    if req.slippage_bps is not None and req.slippage is not None:
        bad("slippage", "give slippageBps or slippage, not both")
        return 0
    if req.slippage is None:
        return req.slippage_bps if req.slippage_bps is not None else DEFAULT_SLIPPAGE_BPS
    if not req.slippage.is_finite() or not 0 < req.slippage <= Decimal("0.5"):
        bad("slippage", "must be a fraction with 0 < slippage <= 0.5 (0.01 is 1%)")
        return 0
    bps = req.slippage * 10_000
    if bps != bps.to_integral_value():
        bad("slippage", "must be a whole number of basis points (0.0001 steps)")
        return 0
    return int(bps)
