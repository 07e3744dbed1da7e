"""SMS through an HTTP gateway: POST SMS_GATEWAY_URL with `Authorization: Bearer SMS_GATEWAY_TOKEN` and the JSON
{to, text, id}; the gateway answers 2xx (optionally {"message_id": …}). `id` is the delivery's idempotency key.

Segments (3GPP TS 23.038 / 23.040): a text in the GSM 7-bit alphabet takes 160 septets in one SMS, 153 a segment
when concatenated (extension characters such as € [ ] { } count twice); any other character makes the whole text
UCS-2: 70 characters in one SMS, 67 a segment. Vietnamese with its diacritics (ạ ế ữ …) is UCS-2, so the same
words cost two to three times as many segments; `strip_diacritics` (SMS_STRIP_DIACRITICS) gives the GSM-7 form
some gateways require ("Phiếu lấy ý kiến" → "Phieu lay y kien").
"""
from __future__ import annotations

import math
import unicodedata

from shared.notify import DeliveryError, Message, NotifyConfig, Sent
from shared.notify.http import post_json

NAME = "sms"

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def encoding(text: str) -> str:
    """"gsm7" when every character is in the GSM 7-bit alphabet (basic or extension), else "ucs2"."""
    return "gsm7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "ucs2"


def segments(text: str) -> tuple[str, int]:
    """(encoding, number of SMS segments) of `text`; an empty text is one segment."""
    if encoding(text) == "gsm7":
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2  # UTF-16 code units
        single, part = 70, 67
    return ("gsm7" if single == 160 else "ucs2"), (1 if units <= single else math.ceil(units / part))


def strip_diacritics(text: str) -> str:
    """Vietnamese without its tone and vowel marks: đ/Đ → d/D, the rest by Unicode decomposition."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


class SmsGatewayChannel:
    name = NAME

    def __init__(self, config: NotifyConfig, sleep=None):
        self.config = config
        self._sleep = sleep

    def send(self, message: Message) -> Sent:
        c = self.config
        text = strip_diacritics(message.text) if c.sms_strip_diacritics else message.text
        _, count = segments(text)
        headers = {"Authorization": f"Bearer {c.sms_gateway_token}"} if c.sms_gateway_token else {}
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        _, answer = post_json(NAME, c.sms_gateway_url, {"to": message.to, "text": text, "id": message.idempotency_key},
                              headers, timeout=c.timeout_seconds, attempts=c.attempts, pause=c.retry_pause_seconds,
                              **kwargs)
        provider_id = answer.get("message_id") or answer.get("id") if isinstance(answer, dict) else None
        return Sent(NAME, provider_id=str(provider_id) if provider_id else None, segments=count)
