"""Every error the API answers has one shape: {error, message, details?}. Never a bare 500."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import InvalidRequest, OrderFailure, describe_decode_error
from shared.orders.accept import IdempotencyKeyReused
from shared.schemas import ErrorBody, FieldError

AnyRequest = Request[Any, Any, Any]

log = structlog.get_logger(__name__)

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}


def error_response(
    status: int,
    error: str,
    message: str,
    details: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    order_status: str | None = None,
) -> Response[ErrorBody]:
    return Response(
        ErrorBody(error=error, message=message, details=details, status=order_status),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _on_invalid_request(_: AnyRequest, exc: InvalidRequest) -> Response[ErrorBody]:
    return error_response(HTTP_400_BAD_REQUEST, "VALIDATION_ERROR", exc.message, exc.details)


def _on_validation(request: AnyRequest, exc: ValidationException) -> Response[ErrorBody]:
    details = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message, key = str(item.get("message", "invalid")), item.get("key")
        # Litestar names the body parameter `data`; msgspec's message names the field.
        fallback = "body" if key in (None, "data") else client_name(request, str(key))
        details.append(describe_decode_error(message, fallback))
    missing = _MISSING_PARAMETER.match(exc.detail or "")
    if missing:  # Litestar names a missing parameter only in its message, by its alias
        details.append(FieldError(field=missing["name"], message="is required"))
    message = details[0].message if details else (exc.detail or "the request is invalid")
    return error_response(HTTP_400_BAD_REQUEST, "VALIDATION_ERROR", message, details or None)


_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '(?P<name>[^']+)'")


def client_name(request: AnyRequest, key: str) -> str:
    """A handler parameter as the client spells it: its query, header or cookie alias, else
    the camelCase of the Python name (path parameters, `slippage_bps` → `slippageBps`)."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    definition = parameter.kwarg_definition if parameter is not None else None
    for alias in ("query", "header", "cookie"):
        name = getattr(definition, alias, None)
        if name:
            return str(name)
    head, *rest = key.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _on_key_reused(_: AnyRequest, exc: IdempotencyKeyReused) -> Response[ErrorBody]:
    return error_response(422, "IDEMPOTENCY_KEY_REUSED", str(exc))


def _on_order_failure(_: AnyRequest, exc: OrderFailure) -> Response[ErrorBody]:
    return error_response(HTTP_400_BAD_REQUEST, exc.code, exc.message)


def _on_http(_: AnyRequest, exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else None
    if status == HTTP_400_BAD_REQUEST:  # a body that is not JSON at all
        detail = describe_decode_error(exc.detail)
        return error_response(status, "VALIDATION_ERROR", exc.detail, [detail], headers)
    order_status = exc.extra.get("status") if isinstance(exc.extra, dict) else None
    return error_response(
        status, _CODES.get(status, "ERROR"), exc.detail, headers=headers, order_status=order_status
    )


# An outage, not a bug: the server cannot be reached, went away mid-call, is starting or
# stopping, or did not answer in time (asyncpg's command_timeout, a connect timeout).
RETRY_AFTER_S = 5
_POSTGRES_DOWN = (
    asyncpg.PostgresConnectionError,  # the connection failed or was lost mid-call
    asyncpg.exceptions.OperatorInterventionError,  # starting up, shutting down, crashed
    asyncpg.exceptions.TooManyConnectionsError,
)
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def unavailable_part(exc: BaseException) -> str | None:
    """Which server is unreachable when `exc` means an outage the client should retry
    ("PostgreSQL", "Redis", "the chain's RPC"), else None (a bug). The one place that tells
    outages from bugs."""
    if isinstance(exc, aiohttp.ClientError):  # before OSError: some of aiohttp's are OSErrors
        return "the chain's RPC"
    if isinstance(exc, _REDIS_DOWN):
        return "Redis"
    if isinstance(exc, _POSTGRES_DOWN):
        return "PostgreSQL"
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return "PostgreSQL"  # "connection is closed", "pool is closed"
    if isinstance(exc, OSError | TimeoutError):  # refused, reset, unreachable; timed out
        return "PostgreSQL"  # redis-py wraps its socket errors in its own: these are asyncpg's
    return None


def unavailable_response(part: str) -> Response[ErrorBody]:
    return error_response(
        HTTP_503_SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        f"{part} is unavailable; retry in a few seconds",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _on_crash(request: AnyRequest, exc: Exception) -> Response[ErrorBody]:
    part = unavailable_part(exc)
    if part is not None:
        log.warning("backing service unavailable", path=request.url.path, error=repr(exc))
        return unavailable_response(part)
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "the engine failed to answer; it is logged",
    )


EXCEPTION_HANDLERS = {
    InvalidRequest: _on_invalid_request,
    OrderFailure: _on_order_failure,
    IdempotencyKeyReused: _on_key_reused,
    ValidationException: _on_validation,
    NotFoundException: _on_http,
    HTTPException: _on_http,
    Exception: _on_crash,
}
