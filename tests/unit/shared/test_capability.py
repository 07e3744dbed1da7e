"""Per-person tokens computed from a group's handle and key (shared/capability.py; evaluation's feedback links,
issue 16): no row per person. Pure."""
from __future__ import annotations

import secrets

import pytest

from shared import capability

PURPOSE = b"feedback-link"
IDS = capability.member_order(["cs-c", "cs-a", "cs-b"])


def _group():
    [(handle, key)] = capability.new_secrets(1, secrets.token_bytes)
    return handle, key


def test_each_member_has_a_distinct_url_safe_token_that_names_them_and_only_them():
    handle, key = _group()
    tokens = capability.tokens(PURPOSE, handle, key, IDS)
    assert capability.tokens(PURPOSE, handle, key, IDS) == tokens  # computed again, the same links
    assert len(set(tokens.values())) == 3
    for cs, token in tokens.items():
        assert len(token) == capability.TOKEN_LENGTH and token.replace("-", "").replace("_", "").isalnum()
        assert capability.parse(token)[0] == handle
        assert capability.holder(PURPOSE, token, key, IDS) == cs


def test_a_changed_token_another_key_another_purpose_or_a_position_off_the_list_is_refused():
    handle, key = _group()
    _, other_key = _group()
    token = capability.tokens(PURPOSE, handle, key, IDS)["cs-b"]
    for i in range(len(token)):  # every single-character change
        c = "A" if token[i] != "A" else "B"
        assert capability.holder(PURPOSE, token[:i] + c + token[i + 1:], key, IDS) is None, i
    assert capability.holder(PURPOSE, token, other_key, IDS) is None
    assert capability.holder(b"checkin-link", token, key, IDS) is None  # a MAC of one purpose is not another's
    assert capability.holder(PURPOSE, token, key, IDS[:1]) is None  # position 1 of a one-member list
    assert capability.holder(PURPOSE, token, key, ["cs-a", "cs-x", "cs-c"]) is None  # another member in its place


@pytest.mark.parametrize("text", ["", "x" * 32, "x" * 35, "x" * 37, "!" * 36, "é" * 36, "A" * 35 + "="])
def test_what_is_not_a_token_of_this_form_is_not_parsed(text):
    assert capability.parse(text) is None


def test_secrets_come_from_one_read_of_the_random_source_and_have_their_sizes():
    reads = []

    def source(n):
        reads.append(n)
        return secrets.token_bytes(n)

    pairs = capability.new_secrets(200, source)
    assert reads == [200 * (capability.HANDLE_BYTES + capability.KEY_BYTES)]
    assert len({h for h, _ in pairs}) == 200 and all(len(h) == 11 and len(k) == 43 for h, k in pairs)


def test_a_position_is_two_bytes_so_a_group_is_bounded():
    with pytest.raises(ValueError):
        capability.member_order(str(i) for i in range(capability.MAX_MEMBERS + 1))
