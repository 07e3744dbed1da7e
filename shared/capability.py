"""Per-person links computed, not stored: a group's random handle and key give each member an unguessable token.

A group (evaluation: a course's feedback window) keeps one random handle (8 bytes, its public name inside the
tokens) and one random key (32 bytes). A member's token is the handle, the member's place in the group's members
sorted by id (2 bytes), and a MAC of both and of the member's id under the group's key: keyed BLAKE2b (RFC 7693
§2.9: its keyed mode is a MAC), 17 bytes (136 bits, more than a 16-byte random token), personalised by the purpose
so that a MAC of one purpose is never one of another. Nothing per member is written when the group is made: a token
is computed again when it is shown, sent or checked (issue 16: evaluation wrote a row per trainee before). 27 bytes,
36 characters of URL-safe base64 — a multiple of 3 bytes, so a group's tokens are encoded in one call; older random
tokens of 24 bytes (32 characters) are told apart by their length. Standard library only (pure).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Callable, Iterable

HANDLE_BYTES, KEY_BYTES, MAC_BYTES = 8, 32, 17
TOKEN_BYTES = HANDLE_BYTES + 2 + MAC_BYTES
TOKEN_LENGTH = TOKEN_BYTES // 3 * 4
MAX_MEMBERS = 0xFFFF  # a position is two bytes


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secrets(count: int, random_bytes: Callable[[int], bytes]) -> list[tuple[str, str]]:
    """`count` (handle, key) pairs, each base64url text, from one read of `random_bytes(n)` (the OS CSPRNG)."""
    size = HANDLE_BYTES + KEY_BYTES
    raw = random_bytes(size * count)
    return [(_b64(raw[i:i + HANDLE_BYTES]), _b64(raw[i + HANDLE_BYTES:i + size])) for i in range(0, size * count, size)]


def member_order(ids: Iterable[str]) -> list[str]:
    """The members in token order (sorted by id): a member's position in it is part of their token."""
    ordered = sorted(ids)
    if len(ordered) > MAX_MEMBERS:
        raise ValueError(f"a group has at most {MAX_MEMBERS} members")
    return ordered


def _group_mac(purpose: bytes, handle: bytes, key: bytes):
    """The group's MAC fed its handle: each token's is a copy fed the position and the member's id."""
    mac = hashlib.blake2b(key=key, digest_size=MAC_BYTES, person=purpose)
    mac.update(handle)
    return mac


def tokens(purpose: bytes, handle: str, key: str, ordered_ids: list[str]) -> dict[str, str]:
    """member id → token, for the members in member_order(). `purpose`: up to 16 bytes naming what they open."""
    h = _unb64(handle)
    group = _group_mac(purpose, h, _unb64(key))
    raw = bytearray()
    for position, member in enumerate(ordered_ids):
        pos = position.to_bytes(2, "big")
        mac = group.copy()
        mac.update(pos + member.encode())
        raw += h + pos + mac.digest()
    text = base64.urlsafe_b64encode(raw).decode()  # whole tokens: each is 27 bytes, 36 characters
    return {member: text[i * TOKEN_LENGTH:(i + 1) * TOKEN_LENGTH] for i, member in enumerate(ordered_ids)}


def _decoded(token: str) -> bytes | None:
    """The bytes of a token of this form (canonical base64url of TOKEN_BYTES), else None."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = _unb64(token)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == TOKEN_BYTES and _b64(raw) == token else None


def parse(token: str) -> tuple[str, int] | None:
    """(group handle, position) of a token of this form, or None (another kind of token, or not a token)."""
    raw = _decoded(token)
    if raw is None:
        return None
    return _b64(raw[:HANDLE_BYTES]), int.from_bytes(raw[HANDLE_BYTES:HANDLE_BYTES + 2], "big")


def holder(purpose: bytes, token: str, key: str, ordered_ids: list[str]) -> str | None:
    """The member a token of the group (of this key) belongs to, or None when it is not one of its tokens. The MAC
    is compared in constant time."""
    raw = _decoded(token)
    if raw is None:
        return None
    position = int.from_bytes(raw[HANDLE_BYTES:HANDLE_BYTES + 2], "big")
    if position >= len(ordered_ids):
        return None
    member = ordered_ids[position]
    mac = _group_mac(purpose, raw[:HANDLE_BYTES], _unb64(key))
    mac.update(raw[HANDLE_BYTES:HANDLE_BYTES + 2] + member.encode())
    return member if hmac.compare_digest(raw[HANDLE_BYTES + 2:], mac.digest()) else None
