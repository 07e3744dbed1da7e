"""A trainee's feedback token is computed from the course's handle and key (issue 16): no row per trainee. Pure."""
from __future__ import annotations

import secrets

import pytest

from services.evaluation import domain

IDS = domain.attendee_order(["cs-c", "cs-a", "cs-b"])


def _course():
    [(handle, key)] = domain.new_feedback_secrets(1, secrets.token_bytes)
    return handle, key


def test_each_attendee_has_a_distinct_url_safe_token_that_names_them_and_only_them():
    handle, key = _course()
    tokens = domain.feedback_tokens(handle, key, IDS)
    assert domain.feedback_tokens(handle, key, IDS) == tokens  # computed again, the same links
    assert len(set(tokens.values())) == 3
    for cs, token in tokens.items():
        assert len(token) == domain.FEEDBACK_TOKEN_LENGTH and token.replace("-", "").replace("_", "").isalnum()
        assert domain.parse_feedback_token(token)[0] == handle
        assert domain.feedback_token_holder(token, key, IDS) == cs


def test_a_changed_token_another_courses_key_or_a_position_off_the_roster_is_refused():
    handle, key = _course()
    _, other_key = _course()
    token = domain.feedback_tokens(handle, key, IDS)["cs-b"]
    for i in range(len(token)):  # every single-character change
        c = "A" if token[i] != "A" else "B"
        forged = token[:i] + c + token[i + 1:]
        assert domain.feedback_token_holder(forged, key, IDS) is None, i
    assert domain.feedback_token_holder(token, other_key, IDS) is None
    assert domain.feedback_token_holder(token, key, IDS[:1]) is None  # position 1 of a one-trainee roster
    assert domain.feedback_token_holder(token, key, ["cs-a", "cs-x", "cs-c"]) is None  # another trainee in its place


@pytest.mark.parametrize("text", ["", "x" * 32, "x" * 35, "x" * 37, "!" * 36, "é" * 36, "A" * 35 + "="])
def test_what_is_not_a_token_of_this_form_is_not_parsed(text):
    assert domain.parse_feedback_token(text) is None


def test_secrets_come_from_one_read_of_the_random_source_and_have_their_sizes():
    reads = []

    def source(n):
        reads.append(n)
        return secrets.token_bytes(n)

    pairs = domain.new_feedback_secrets(200, source)
    assert reads == [200 * (domain.FEEDBACK_HANDLE_BYTES + domain.FEEDBACK_KEY_BYTES)]
    assert len({h for h, _ in pairs}) == 200 and all(len(h) == 11 and len(k) == 43 for h, k in pairs)


def test_a_position_is_two_bytes_so_a_roster_is_bounded():
    with pytest.raises(ValueError):
        domain.attendee_order(str(i) for i in range(domain.MAX_ATTENDEES + 1))
