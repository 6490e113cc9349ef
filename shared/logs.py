"""Structured logs: JSON in production, readable locally. Standard-library loggers (uvicorn,
SAQ, Litestar) go through the same renderer, so server errors are never silent."""

from __future__ import annotations

import logging
import sys

import structlog


def _saq_job_context(record: logging.LogRecord) -> bool:
    """SAQ's own lines about a job (e.g. "Error processing job" when an attempt is retried) run
    outside the job's context: give them the order's id and attempt as our lines have."""
    if record.name.startswith("saq") and isinstance(record.args, tuple):
        for arg in record.args:
            kwargs = getattr(arg, "kwargs", None)
            if isinstance(kwargs, dict) and "order_id" in kwargs:
                previous = (getattr(arg, "meta", None) or {}).get("previous_error") or {}
                record.order_id = kwargs["order_id"]
                record.attempt = previous.get("attempt", getattr(arg, "attempts", None))
                break
    return True


def configure_logging(log_format: str, level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # filter_by_level first: a line below the level costs a level check, not a timestamp
        # and the rest of the chain before the standard library drops it.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.addFilter(_saq_job_context)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-job chatter from SAQ and per-request access lines drown the order's own story.
    logging.getLogger("saq").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "litestar"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
