"""JSON logs carrying the correlation id. Never log personal data: log ids and counts, not payloads."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None):
    """Set the correlation id for this context; return a token to reset it."""
    return _correlation_id.set(value)


def reset_correlation_id(token) -> None:
    _correlation_id.reset(token)


def describe_exception(error: BaseException | None) -> str:
    """An exception as its type and where it passed (file:line function per frame, innermost last), with its
    causes: never its message nor a source line, which can quote the values being processed (names, tokens)."""
    import traceback
    from pathlib import PurePath
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        frames = [f"{'/'.join(PurePath(f.filename).parts[-2:])}:{f.lineno} {f.name}"
                  for f in traceback.extract_tb(error.__traceback__)][-12:]
        parts.append(f"{type(error).__module__}.{type(error).__qualname__}" + (" at " + " > ".join(frames) if frames else ""))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return " | caused by ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, service, logger, message, correlation id, extras."""

    RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = get_correlation_id()
        if cid:
            out["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in self.RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = describe_exception(record.exc_info[1])
        if record.stack_info:
            out["stack"] = "(stack omitted)"
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send this process's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqp", "kombu", "pika", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
