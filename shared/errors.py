"""Errors the domain raises, each with a stable machine-readable code."""

from __future__ import annotations

from shared.schemas import FieldError


class InvalidRequest(ValueError):
    """Bad input: answered with 400 and a body naming each offending field."""

    def __init__(self, details: list[FieldError], message: str | None = None) -> None:
        if message is None:
            named = ", ".join(dict.fromkeys(d.field for d in details))
            message = f"invalid {named}" if details else "the request is invalid"
        super().__init__(message)
        self.message = message
        self.details = details


def describe_decode_error(message: str, fallback_field: str = "body") -> FieldError:
    """Name the field a msgspec decode error is about (`$.amountIn`, a missing or unknown
    field), or `fallback_field` when the body as a whole is wrong (not JSON, not an object)."""
    field = fallback_field
    for marker in ("`$.", "missing required field `", "unknown field `"):
        if marker in message:
            field = message.split(marker, 1)[1].split("`", 1)[0].split("[", 1)[0]
            break
    if message.startswith("'") and message.endswith("'"):  # Litestar's KeyError for no body
        message = "the body must be a JSON object"
    return FieldError(field=field, message=message)


class OrderFailure(Exception):
    """An attempt to execute an order failed. Transient ones are retried; the rest fail at once."""

    transient: bool = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientFailure(OrderFailure):
    transient = True


class PermanentFailure(OrderFailure):
    transient = False
