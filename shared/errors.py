"""Error kinds raised by use cases and domain code, named for what happened, not for an HTTP code.

`Invalid` (the request breaks a rule about its own content), `Conflict` (it clashes with the current state),
`NotFound` and `Gone` (it names something that does not, or no longer, exist), `Forbidden` (the caller may not
touch that object: another unit's), `Throttled` (too many refused
attempts: wait). The HTTP status of each kind is chosen in one place, `shared.web.STATUS_OF`; an event handler
that raises any of them parks the event (permanent).
"""
from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request: the base of the kinds below. `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """The request's own content breaks a rule (a value out of range, dates out of order, an unknown code)."""


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, a status that does not allow it, an overlap)."""


class NotFound(DomainError):
    """The request names something that does not exist."""


class Gone(DomainError):
    """The request names something that existed and no longer accepts it (an expired link, a closed window)."""


class Forbidden(DomainError):
    """The caller may not touch this object (outside their unit's subtree): a matter of who, not of content."""


class Throttled(DomainError):
    """Too many refused attempts from one client or at one link: refused for a while, whatever the request.
    `retry_after` is that while, in seconds, when known: shared.web answers it as the Retry-After header."""

    def __init__(self, message: str, field: str | None = None, retry_after: int | None = None):
        super().__init__(message, field)
        self.retry_after = retry_after


class PermanentError(Exception):
    """An event can never be processed as it is: park it in the dead-letter queue without retrying."""
