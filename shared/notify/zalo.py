"""Zalo Notification Service (ZNS): a message from an approved template, the channel most Vietnamese public services
use. Documented shape: POST https://business.openapi.zalo.me/message/template, header `access_token`, body
{phone, template_id, template_data, tracking_id}; the answer {error, message, data: {msg_id, sent_time, quota…}}.
`error` 0 is success; any other is a failure even with HTTP 200.

Classification (the ZNS error-code table): -100 "unknown error, try again later" and -124 (access token invalid:
it expires and is renewed by the operator) are retryable; the others name bad input or a closed account (-108 phone
invalid, -109 template invalid, -112 template data invalid, -118 no Zalo account …) and are final. A time-out or a
5xx is retried as for every HTTP provider (shared.notify.http). `tracking_id` is the delivery's idempotency key.
Phone numbers go as 84xxxxxxxxx.
"""
from __future__ import annotations

from shared.notify import DeliveryError, Message, NotifyConfig, Sent
from shared.notify.http import post_json

NAME = "zalo"
RETRYABLE_ERRORS = frozenset({-100, -124})


def zalo_phone(phone: str) -> str:
    """0912345678 / +84912345678 / 84912345678 → 84912345678."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("84"):
        return digits
    return "84" + digits[1:] if digits.startswith("0") else "84" + digits


class ZaloZnsChannel:
    name = NAME

    def __init__(self, config: NotifyConfig, sleep=None):
        self.config = config
        self._sleep = sleep

    def send(self, message: Message) -> Sent:
        c = self.config
        if not message.template_id:
            raise DeliveryError(NAME, "no ZNS template for this purpose", retryable=False)
        body = {"phone": zalo_phone(message.to), "template_id": message.template_id,
                "template_data": {k: str(v) for k, v in message.template_data.items()},
                "tracking_id": message.idempotency_key}
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        _, answer = post_json(NAME, c.zalo_url, body, {"access_token": c.zalo_access_token},
                              timeout=c.timeout_seconds, attempts=c.attempts, pause=c.retry_pause_seconds, **kwargs)
        error = answer.get("error") if isinstance(answer, dict) else None
        try:
            error = int(error)
        except (TypeError, ValueError):
            raise DeliveryError(NAME, "answer without an error code", retryable=True) from None
        if error != 0:
            raise DeliveryError(NAME, "ZNS refused", retryable=error in RETRYABLE_ERRORS, code=str(error))
        data = answer.get("data") or {}
        return Sent(NAME, provider_id=str(data.get("msg_id")) if data.get("msg_id") else None)
