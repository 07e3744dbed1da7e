"""Masked addresses (issue 13): what an officer's delivery status may show of a contact — enough to tell which
address a message went to, not enough to read it. Pure."""
from __future__ import annotations


def mask_email(address: str) -> str:
    """'nguyen.van.a@example.vn' → 'n***@e***.vn'."""
    local, _, domain = address.rpartition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}" if local and host else "***"


def mask_phone(number: str) -> str:
    """'0912345678' → '091****678' (the network prefix and the last three digits)."""
    return f"{number[:3]}****{number[-3:]}" if len(number) >= 8 else "***"


def mask_address(channel: str | None, email: str | None, phone: str | None) -> str | None:
    """The masked address of `channel` (e-mail, or the phone for SMS and Zalo); None when there is none."""
    if channel == "email" and email:
        return mask_email(email)
    if channel in ("sms", "zalo") and phone:
        return mask_phone(phone)
    return None
