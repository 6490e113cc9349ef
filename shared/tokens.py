"""The token registry: symbols, mint addresses and decimals, and exact unit conversion.

Amounts inside the engine are integer base units; UI amounts are `Decimal`s. Conversion
never goes through a binary float.
"""

from __future__ import annotations

from decimal import Context, Decimal

import msgspec

# Enough digits for any u128 amount at any scale: conversions never round.
EXACT_CONTEXT = Context(prec=80)


class Token(msgspec.Struct, frozen=True):
    symbol: str
    mint: str
    decimals: int
    name: str

    def to_base_units(self, amount: Decimal) -> int:
        """Exact conversion; raises ValueError when `amount` has more digits than decimals."""
        scaled = amount.scaleb(self.decimals, context=EXACT_CONTEXT)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self.symbol} has {self.decimals} decimals; {amount} has more")
        return int(scaled)

    def to_ui(self, base_units: int) -> Decimal:
        return Decimal(base_units).scaleb(-self.decimals, context=EXACT_CONTEXT)

    def format(self, base_units: int) -> str:
        """A decimal string with no exponent and no trailing zeros (`"1.5"`, `"150"`)."""
        text = f"{self.to_ui(base_units):f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


PRICE_SIGNIFICANT_DIGITS = 12


def format_price(token_in: Token, token_out: Token, amount_in: int, amount_out: int) -> str:
    """tokenOut per tokenIn in UI units: a plain decimal string (never an exponent), rounded
    to 12 significant digits."""
    if amount_in == 0:
        return "0"
    price = token_out.to_ui(amount_out) / token_in.to_ui(amount_in)
    if price == 0:
        return "0"
    exponent = price.adjusted() - PRICE_SIGNIFICANT_DIGITS + 1
    text = f"{price.quantize(Decimal(1).scaleb(exponent), context=EXACT_CONTEXT):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


TOKENS: tuple[Token, ...] = (
    Token("SOL", "So11111111111111111111111111111111111111112", 9, "Wrapped SOL"),
    Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, "USD Coin"),
    Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6, "Tether USD"),
    Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5, "Bonk"),
    Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6, "Jupiter"),
    Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6, "Raydium"),
)

_BY_SYMBOL = {t.symbol: t for t in TOKENS}
_BY_MINT = {t.mint: t for t in TOKENS}


def find_token(symbol_or_mint: str) -> Token | None:
    """Symbols match case-insensitively; mints exactly (base58 is case-sensitive)."""
    return _BY_MINT.get(symbol_or_mint) or _BY_SYMBOL.get(symbol_or_mint.upper())


def token_by_symbol(symbol: str) -> Token:
    return _BY_SYMBOL[symbol]


# Tokens launched on the local chain (sniper orders) live in Redis, hash
# `{namespace}:tokens` (mint -> Token JSON); every process keeps the ones it has seen here.
_decode_token = msgspec.json.Decoder(Token).decode


def all_tokens() -> list[Token]:
    """The registry's tokens and those launched since, in that order."""
    return list(_BY_MINT.values())


def register_token(token: Token) -> None:
    _BY_SYMBOL.setdefault(token.symbol, token)
    _BY_MINT.setdefault(token.mint, token)


def launched_tokens_key(namespace: str) -> str:
    return f"{namespace}:tokens"


async def load_launched_tokens(redis: object, namespace: str) -> int:
    """Register every launched token this process has not seen yet; return how many."""
    stored = await redis.hgetall(launched_tokens_key(namespace))  # type: ignore[attr-defined]
    new = 0
    for raw in stored.values():
        token = _decode_token(raw)
        if token.mint not in _BY_MINT:
            register_token(token)
            new += 1
    return new


async def resolve_token(redis: object, namespace: str, symbol_or_mint: str) -> Token | None:
    """find_token, looking in Redis for launched tokens when this process has not seen it."""
    token = find_token(symbol_or_mint)
    if token is None and await load_launched_tokens(redis, namespace):
        token = find_token(symbol_or_mint)
    return token
