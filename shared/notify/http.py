"""One JSON POST with the retry rule every HTTP provider here shares: a time-out, a lost connection, a 5xx or a 429
is tried again (up to `attempts`, pausing between); any other 4xx is final at once. Standard library only."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

from shared.notify import DeliveryError


def post_json(channel: str, url: str, body: dict, headers: dict, *, timeout: float, attempts: int,
              pause: float, sleep=time.sleep) -> tuple[int, dict]:
    """POST `body` as JSON; return (status, parsed answer) of the first 2xx. Raises DeliveryError: retryable after
    the last time-out / 5xx / 429, not retryable on another 4xx. The same body (with its id) is sent each time, so
    a provider that deduplicates by id sends once."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    last: DeliveryError | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8", **headers})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                try:
                    return resp.status, json.loads(raw or b"{}")
                except ValueError:
                    raise DeliveryError(channel, "answer is not JSON", retryable=True, code=str(resp.status)) \
                        from None
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if 400 <= status < 500 and status != 429:
                raise DeliveryError(channel, "request refused", retryable=False, code=str(status)) from None
            last = DeliveryError(channel, "provider error", retryable=True, code=str(status))
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            last = DeliveryError(channel, f"no answer: {type(exc).__name__}", retryable=True)
        if attempt < attempts:
            sleep(pause * attempt)
    assert last is not None
    raise last
