"""Error types shared by use cases, HTTP entrypoints and event handlers."""
from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request. Maps to HTTP 409/422 and, in a handler, to the dead-letter queue."""

    status = 409

    def __init__(self, message: str, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class PermanentError(Exception):
    """An event can never be processed as it is: park it in the dead-letter queue without retrying."""
