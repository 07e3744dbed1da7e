"""Notifications that reach people: one Channel interface and its adapters (e-mail over SMTP, SMS over an HTTP
gateway, Zalo ZNS), built from a NotifyConfig that a service's settings.py fills from the environment.

A channel's `send(message)` either returns a `Sent` (with the provider's id where it gives one) or raises a
`DeliveryError` whose `retryable` says whether trying again later can help (a time-out, a 5xx, SMTP 4xx) or not
(a 4xx, a refused recipient, a ZNS error that names bad input). The error text never carries the message or the
address: only the channel, a provider code and a short reason, so it can be logged and stored.

Every message carries an `idempotency_key` (the delivery's id): e-mail puts it in the Message-ID, the SMS gateway
receives it as `id` and Zalo as `tracking_id`, so a provider that deduplicates never delivers one message twice
even when the sender retried after a lost answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CHANNELS = ("email", "sms", "zalo")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True)
class Message:
    """One message to one address (e-mail address or phone number), in the channel's form."""

    to: str
    text: str  # plain text: the e-mail's text part, the SMS body
    idempotency_key: str
    subject: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    template_id: str | None = None  # Zalo ZNS: the approved template
    template_data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    channel: str
    provider_id: str | None = None  # the provider's message id, when it answers one
    segments: int | None = None  # SMS: how many segments were billed


class DeliveryError(Exception):
    """A send failed. `retryable`: a later attempt may succeed. The text names no person and no address."""

    def __init__(self, channel: str, reason: str, *, retryable: bool, code: str | None = None):
        super().__init__(f"{channel}: {reason}" + (f" ({code})" if code else ""))
        self.channel, self.reason, self.retryable, self.code = channel, reason, retryable, code


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> Sent: ...


@dataclass(frozen=True)
class NotifyConfig:
    """What the adapters need; empty host/url/token = the channel is not configured (not offered)."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)  # secrets stay out of any repr or log line
    smtp_tls: str = "none"  # starttls | ssl | none
    mail_from: str = "dao-tao@thoibinh.local"
    sms_gateway_url: str = ""
    sms_gateway_token: str = field(default="", repr=False)
    sms_strip_diacritics: bool = False  # a gateway that only takes GSM-7 gets Vietnamese without diacritics
    zalo_url: str = "https://business.openapi.zalo.me/message/template"
    zalo_access_token: str = field(default="", repr=False)
    timeout_seconds: float = 10.0
    attempts: int = 3  # tries within one send for a time-out or a 5xx (then the delivery job backs off)
    retry_pause_seconds: float = 0.5


def build_channels(config: NotifyConfig) -> dict[str, Channel]:
    """The configured channels by name (email, sms, zalo); a channel without its host/url/token is left out."""
    from shared.notify.email import SmtpChannel
    from shared.notify.sms import SmsGatewayChannel
    from shared.notify.zalo import ZaloZnsChannel

    channels: dict[str, Channel] = {}
    if config.smtp_host:
        channels["email"] = SmtpChannel(config)
    if config.sms_gateway_url:
        channels["sms"] = SmsGatewayChannel(config)
    if config.zalo_access_token:
        channels["zalo"] = ZaloZnsChannel(config)
    return channels
