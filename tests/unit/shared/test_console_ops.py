"""The pure parts of shared/console_ops.py: grouping dead letters, checking an edited payload."""
from __future__ import annotations

import json

import pytest

from shared.console_ops import _corrected_body, groups
from shared.errors import Invalid
from tests.events import make_course_cancelled


def test_dead_letters_group_by_type_and_reason_with_counts_and_first_and_last_seen():
    items = [
        {"message_id": "a", "event_type": "x.e", "reason": "boom", "dead_lettered_at": "2026-12-01T10:00:00+00:00"},
        {"message_id": "b", "event_type": "x.e", "reason": "boom", "dead_lettered_at": "2026-12-01T09:00:00+00:00"},
        {"message_id": "c", "event_type": "x.e", "reason": "other", "dead_lettered_at": None},
        {"message_id": "d", "event_type": None, "reason": None, "dead_lettered_at": "2026-12-01T11:00:00+00:00"},
        {"message_id": "e", "event_type": "x.e", "reason": "boom", "dead_lettered_at": "2026-12-01T12:00:00+00:00"},
    ]
    out = groups(items)
    assert [(g["event_type"], g["reason"], g["count"]) for g in out] == [("x.e", "boom", 3), ("", "", 1),
                                                                         ("x.e", "other", 1)]
    assert (out[0]["first_seen"], out[0]["last_seen"]) == ("2026-12-01T09:00:00+00:00", "2026-12-01T12:00:00+00:00")
    assert out[0]["message_ids"] == ["a", "b", "e"]
    assert (out[2]["first_seen"], out[2]["last_seen"]) == (None, None)


def test_an_edited_payload_is_checked_against_its_catalogue_schema():
    _, body, _ = make_course_cancelled()
    envelope = json.loads(body)
    new_id, corrected = _corrected_body(envelope, json.dumps({**envelope["payload"], "reason": "Đổi lịch"}))
    sent = json.loads(corrected)
    assert sent["id"] == new_id != envelope["id"]
    assert sent["payload"]["reason"] == "Đổi lịch"
    assert {k: v for k, v in sent.items() if k not in ("id", "payload")} == \
        {k: v for k, v in envelope.items() if k not in ("id", "payload")}
    for text, field in (("{not json", "payload"), ("[1]", "payload"),
                        (json.dumps({"course_id": "c"}), "payload")):  # reason and cancelled_at missing
        with pytest.raises(Invalid) as caught:
            _corrected_body(envelope, text)
        assert caught.value.field == field
    with pytest.raises(Invalid) as caught:
        _corrected_body({**envelope, "version": 9}, json.dumps(envelope["payload"]))
    assert caught.value.field == "message_id"
