"""Errors the domain raises, each with a stable machine-readable code."""

from __future__ import annotations

from shared.schemas import FieldError


class InvalidRequest(ValueError):
    """Bad input: answered with 400 and a body naming each offending field."""

    def __init__(self, details: list[FieldError], message: str = "the request is invalid") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


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
