"""Decoding client input so that every bad field is named, as the client spelled it.

msgspec stops at the first error of a struct. A client that sent two bad fields should hear
about both at once, so a body that does not convert whole is converted field by field: every
type error is collected, and the fields that did convert stay available for the checks that
come after (`shared.orders.validate_submit`).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec

from shared.errors import InvalidRequest
from shared.schemas import FieldError

S = TypeVar("S", bound=msgspec.Struct)

BODY = "body"  # the field named when the body as a whole is wrong


def decode_json_object(raw: bytes | str) -> dict[str, Any]:
    """The body as a JSON object, or InvalidRequest naming `body`."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        message = "the body is empty" if not raw else f"the body is not valid JSON: {exc}"
        raise InvalidRequest([FieldError(field=BODY, message=message)], message) from None
    if not isinstance(value, dict):
        message = "the body must be a JSON object"
        raise InvalidRequest([FieldError(field=BODY, message=message)], message)
    return value


def convert_fields(obj: dict[str, Any], struct_type: type[S]) -> tuple[S, list[FieldError]]:
    """`obj` as a `struct_type` (lenient, as Litestar converts a body: `"50"` is 50), and the
    problems, one per bad field, under its wire name. A field that did not convert is None in
    the returned struct, which is then only good for reporting further problems."""
    try:
        return msgspec.convert(obj, struct_type, strict=False), []
    except msgspec.ValidationError:
        pass
    fields = msgspec.structs.fields(struct_type)
    known = {f.encode_name for f in fields}
    problems = [FieldError(field=key, message="unknown field") for key in obj if key not in known]
    values: dict[str, Any] = {}
    for f in fields:
        if f.encode_name not in obj:
            if f.required:
                problems.append(FieldError(field=f.encode_name, message="is required"))
                values[f.name] = None
            continue
        try:
            values[f.name] = msgspec.convert(obj[f.encode_name], f.type, strict=False)
        except msgspec.ValidationError as exc:
            problems.append(FieldError(field=f.encode_name, message=str(exc)))
            values[f.name] = None
    # Struct constructors do not type-check: the None placeholders are allowed through.
    return struct_type(**values), problems


def int_in_range(
    raw: str | None, field: str, low: int, high: int, default: int, problems: list[FieldError]
) -> int:
    """A query parameter that must be a whole number in [low, high]: `default` when absent; a
    problem under `field` when it is not. Handlers take such parameters as text and check them
    here, with the rest, so that one answer names every bad parameter."""
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        problems.append(FieldError(field=field, message=f"must be a whole number {low}..{high}"))
        return default
    return value


def parse_order_id(raw: str) -> uuid.UUID:
    """An order id from a path or query; InvalidRequest naming `orderId` when it is no UUID."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest(
            [FieldError(field="orderId", message="must be a UUID")],
            f"malformed order id {raw[:60]!r}",
        ) from None
