"""What may be logged about an error: its kind, never its text when the text might carry values.

A handler's exception message can quote a row (a name, a birth year); SQLAlchemy's can quote a statement. Logs
name the exception's class, the driver's class and SQLSTATE for database errors, and the text only for errors of
the broker connection and the network, whose messages come from the broker or the operating system.
"""
from __future__ import annotations

import traceback

import amqp
import sqlalchemy as sa


def describe(exc: BaseException) -> str:
    """A one-line description of `exc` that is safe to log."""
    name = type(exc).__name__
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
        kind = f"{type(orig).__module__.split('.')[0]}.{type(orig).__name__}" if orig is not None else "?"
        return f"{name} ({kind}{', sqlstate ' + code if code else ''})"
    if isinstance(exc, (amqp.exceptions.AMQPError, OSError, TimeoutError)):
        return f"{name}: {str(exc)[:200]}"
    return name


def stack(exc: BaseException) -> str:
    """Where `exc` was raised (files, lines, functions and source lines — no values, no message)."""
    return "".join(traceback.format_tb(exc.__traceback__))[-3000:]
