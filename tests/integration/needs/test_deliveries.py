"""needs delivers what other services ask it to tell people (issue 13), against a real SMTP server (aiosmtpd) and
loopback SMS/Zalo gateways, on SQLite and PostgreSQL: exactly one message per person and purpose, fallback,
quiet hours, retries then parking, the supervisor's follow-up, resend."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.needs import usecases
from services.needs.models import DELIVERY_JOBS, CivilServant, Delivery
from shared.db import transaction
from shared.events import decode, new_event
from shared.localtime import LOCAL_TZ
from shared.notify import NotifyConfig
from shared.notify.email import SmtpChannel
from shared.notify.sms import SmsGatewayChannel
from tests.notify.servers import HttpProvider, Scripted, SmtpSink
from tests.unit.apps import ADMIN_AUTH, build_app
from tools.bench_http import statements_of

# The sender's clock runs two days after the real now (the jobs are queued at the real now, so they are due by then),
# at noon local; the feedback deadline twelve days after that. Relative, so the tests do not expire on a date.
DAY = (datetime.now(LOCAL_TZ) + timedelta(days=2)).date()
NOON = datetime.combine(DAY, time(12), LOCAL_TZ).astimezone(timezone.utc)
DEADLINE = datetime.combine(DAY + timedelta(days=12), time(17), LOCAL_TZ).astimezone(timezone.utc)


@pytest.fixture
def needs(backend):
    app = build_app("needs", backend.migrated("needs"), migrate=False)
    resp = app.test_client().post("/admin/needs/seed", json={"civil_servants": 6}, headers=ADMIN_AUTH)
    assert resp.status_code == 200, resp.data
    yield app.extensions["service"].session_factory
    app.extensions["service"].engine.dispose()


def people(sf) -> list[str]:
    with transaction(sf) as s:
        return list(s.scalars(sa.select(CivilServant.id).order_by(CivilServant.code)))


def contact(sf, cs_id, **data):
    with transaction(sf) as s:
        usecases.set_contact(s, cs_id, data)


def handle(sf, event_type, payload):
    """The needs handler for one event, in its own transaction (as the consumer after the inbox check)."""
    from services.needs.handlers import HANDLERS
    env, body = new_event(event_type, payload, producer="evaluation")
    env = decode(body)
    with transaction(sf) as s:
        HANDLERS[env.type](env, s, None)
    return env


def notice(cs_id, course_id="c-1", link="http://127.0.0.1:8003/feedback/TOKEN"):
    """A per-trainee notice's payload (reminders, follow-ups: one trainee a message)."""
    return {"course_id": course_id, "course_code": "KH2026-01", "course_title": "Kỹ năng số", "civil_servant_id":
            cs_id, "link": link, "deadline": DEADLINE}


def feedback(cs_id, course_id="c-1", link="http://127.0.0.1:8003/feedback/TOKEN"):
    """evaluation.trainee_feedback_requested v2 naming one trainee."""
    return {"course_id": course_id, "course_code": "KH2026-01", "course_title": "Kỹ năng số", "deadline": DEADLINE,
            "recipients": [{"civil_servant_id": cs_id, "link": link}]}


def email_channels(sink) -> dict:
    cfg = NotifyConfig(smtp_host="127.0.0.1", smtp_port=sink.port, timeout_seconds=2, attempts=1)
    return {"email": SmtpChannel(cfg)}


def drain(sf, channels, now=NOON, **kw) -> int:
    return usecases.send_due(sf, channels, now_fn=lambda: now, **kw)


def deliveries(sf, **where) -> list[Delivery]:
    with transaction(sf) as s:
        rows = list(s.scalars(sa.select(Delivery).filter_by(**where).order_by(Delivery.created_at)))
        s.expunge_all()
        return rows


def test_a_feedback_link_is_mailed_once_however_often_the_event_comes(needs):
    a, b = people(needs)[:2]
    contact(needs, a, email="hv.a@example.vn")
    contact(needs, b, email="hv.b@example.vn")
    with SmtpSink() as sink:
        for _ in range(2):  # the same notice twice (a replay under a new event id)
            handle(needs, "evaluation.trainee_feedback_requested", feedback(a, link="http://x/feedback/A"))
        handle(needs, "evaluation.trainee_feedback_requested", feedback(b, link="http://x/feedback/B"))
        assert drain(needs, email_channels(sink)) == 2
        assert drain(needs, email_channels(sink)) == 0
        [mail] = sink.to("hv.a@example.vn")
        assert len(sink.to("hv.b@example.vn")) == 1
    text = mail.get_body(("plain",)).get_content()
    assert "http://x/feedback/A" in text and f"17:00 ngày {DEADLINE.astimezone(LOCAL_TZ):%d/%m/%Y}" in text and "Kính gửi" in text
    assert '<a href="http://x/feedback/A">' in mail.get_body(("html",)).get_content()
    assert mail["Subject"] == "Mời trả lời phiếu lấy ý kiến lớp KH2026-01"
    with transaction(needs) as s:
        status = usecases.course_deliveries(s, "c-1")
    assert status["counts"]["sent"] == 2 and status["by_purpose"] == {"feedback_request": {"sent": 2}}


def test_fallback_when_the_preferred_channel_is_missing_and_skipped_without_any(needs):
    a, b, c = people(needs)[:3]
    contact(needs, a, email="a@example.vn", phone="0912345678", preferred_channel="zalo")  # no ZNS configured
    contact(needs, b, phone="0912 345 679", preferred_channel="email")  # no e-mail address: SMS
    # c has no contact at all
    with SmtpSink() as sink, HttpProvider(Scripted(answers=[(200, {"message_id": "g1"})])) as gw:
        channels = {**email_channels(sink), "sms": SmsGatewayChannel(NotifyConfig(
            sms_gateway_url=gw.url, attempts=1, timeout_seconds=2))}
        for cs in (a, b, c):
            handle(needs, "evaluation.trainee_feedback_requested", feedback(cs))
        drain(needs, channels)
        assert len(sink.to("a@example.vn")) == 1
        [(_, _, body)] = gw.requests
    assert body["to"] == "0912345679" and "KH2026-01" in body["text"]
    by = {d.recipient_id: d for d in deliveries(needs)}
    assert (by[a].channel, by[a].status) == ("email", "sent")
    assert (by[b].channel, by[b].status, by[b].segments) == ("sms", "sent", 2)
    assert by[b].id == body["id"]  # the delivery id is the gateway's idempotency key
    assert (by[c].status, by[c].channel) == ("skipped", None)


def test_sms_in_quiet_hours_waits_until_seven_local_then_goes(needs):
    [a] = people(needs)[:1]
    contact(needs, a, phone="0912345678", preferred_channel="sms")
    night = datetime.combine(DAY, time(22, 30), LOCAL_TZ).astimezone(timezone.utc)
    with HttpProvider() as gw:
        channels = {"sms": SmsGatewayChannel(NotifyConfig(sms_gateway_url=gw.url, attempts=1))}
        handle(needs, "evaluation.trainee_feedback_requested", feedback(a))
        drain(needs, channels, now=night)
        [d] = deliveries(needs)
        assert d.status == "pending" and not gw.requests
        assert d.deferred_until == datetime.combine(DAY + timedelta(days=1), time(7), LOCAL_TZ)
        drain(needs, channels, now=night + timedelta(hours=4))  # 02:30: still quiet, the job is not due
        assert not gw.requests
        drain(needs, channels, now=datetime.combine(DAY + timedelta(days=1), time(7, 0, 30), LOCAL_TZ)
              .astimezone(timezone.utc))
        assert len(gw.requests) == 1
    assert deliveries(needs)[0].status == "sent"


def test_a_temporary_smtp_failure_backs_off_then_parks_and_a_refused_address_bounces(needs):
    a, b = people(needs)[:2]
    contact(needs, a, email="a@example.vn")
    contact(needs, b, email="gone@example.vn")
    with SmtpSink() as sink:
        sink.refuse["gone@example.vn"] = "550 No such user"
        sink.answer_data = "451 Try again later"
        handle(needs, "evaluation.trainee_feedback_requested", feedback(a))
        handle(needs, "evaluation.trainee_feedback_requested", feedback(b))
        now = NOON
        drain(needs, email_channels(sink), now=now)
        by = {d.recipient_id: d for d in deliveries(needs)}
        assert by[b].status == "bounced" and "gone@example.vn" not in (by[b].last_error or "")
        assert by[a].status == "pending" and by[a].attempts == 1 and "451" in by[a].last_error
        assert drain(needs, email_channels(sink), now=now + timedelta(seconds=30)) == 0  # backing off
        for _ in range(10):
            now += timedelta(hours=1)
            drain(needs, email_channels(sink), now=now)
        [d] = deliveries(needs, recipient_id=a)
        assert (d.status, d.attempts) == ("parked", 6)
        with transaction(needs) as s:
            figures = usecases.delivery_figures(s)
        assert figures["counts"]["parked"] == 1 and figures["jobs"]["failed"] == 1
        # an officer resends once the server is well again
        sink.answer_data = None
        with transaction(needs) as s:
            usecases.resend(s, d.id)
        drain(needs, email_channels(sink), now=now)
        assert len(sink.to("a@example.vn")) == 1
    [d] = deliveries(needs, recipient_id=a)
    assert d.status == "sent" and d.payload["resends"] == 1


def test_the_supervisor_follow_up_goes_to_the_named_supervisor_once_per_trainee(needs):
    trainee1, trainee2, boss, lonely = people(needs)[:4]
    contact(needs, boss, email="boss@example.vn")
    contact(needs, trainee1, email="t1@example.vn", supervisor_id=boss)
    contact(needs, trainee2, email="t2@example.vn", supervisor_id=boss)
    contact(needs, lonely, email="l@example.vn")
    with SmtpSink() as sink:
        for t in (trainee1, trainee2, lonely):
            for respondent in ("trainee", "supervisor"):
                for _ in range(2):
                    handle(needs, "evaluation.followup_requested", {
                        **notice(t, link=f"http://x/feedback/{t[:6]}-{respondent}"), "respondent": respondent})
        drain(needs, email_channels(sink))
        boss_mail = sink.to("boss@example.vn")
        assert len(boss_mail) == 2 and len(sink.to("t1@example.vn")) == 1 and len(sink.to("l@example.vn")) == 1
    subjects = sorted(m["Subject"] for m in boss_mail)
    assert all(s.startswith("Đánh giá sau đào tạo: ") for s in subjects)
    links = sorted(m.get_body(("plain",)).get_content().split("http://x/feedback/")[1][:17] for m in boss_mail)
    assert links == sorted([f"{trainee1[:6]}-supervisor", f"{trainee2[:6]}-supervisor"])
    skipped = deliveries(needs, status="skipped")
    assert [(d.purpose, d.subject_id) for d in skipped] == [("followup_supervisor", lonely)]


def test_contacts_are_checked(needs):
    from shared.errors import Invalid, NotFound
    a, b = people(needs)[:2]
    with transaction(needs) as s:
        with pytest.raises(Invalid) as err:
            usecases.set_contact(s, a, {"email": "not-an-address"})
        assert err.value.field == "email"
        with pytest.raises(Invalid):
            usecases.set_contact(s, a, {"phone": "12"})
        with pytest.raises(Invalid):
            usecases.set_contact(s, a, {"preferred_channel": "fax"})
        with pytest.raises(Invalid):
            usecases.set_contact(s, a, {"supervisor_id": a})
        with pytest.raises(NotFound):
            usecases.set_contact(s, "nobody", {})
        c = usecases.set_contact(s, a, {"phone": "0912.345.678", "supervisor_id": b})
        assert c.phone == "0912345678" and "91/2025/QH15" in c.legal_basis
    with transaction(needs) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DELIVERY_JOBS)) == 0


def test_operators_see_figures_per_course_and_person_and_resend_one(backend):
    from tests.unit.apps import ADMIN_AUTH as auth
    app = build_app("needs", backend.migrated("needs"), migrate=False)
    client = app.test_client()
    assert client.post("/admin/needs/seed", json={"civil_servants": 3}, headers=auth).status_code == 200
    sf = app.extensions["service"].session_factory
    a, b = people(sf)[:2]
    contact(sf, a, email="a@example.vn")
    with SmtpSink() as sink:
        handle(sf, "evaluation.trainee_feedback_requested", feedback(a))
        handle(sf, "evaluation.trainee_feedback_requested", feedback(b))  # b has no contact: skipped
        assert client.get("/admin/needs/deliveries/courses/c-1", headers=auth).get_json()["counts"]["pending"] == 2
        drain(sf, email_channels(sink))
        course = client.get("/admin/needs/deliveries/courses/c-1", headers=auth).get_json()
        assert (course["counts"]["sent"], course["counts"]["skipped"]) == (1, 1)
        assert course["by_purpose"] == {"feedback_request": {"sent": 1, "skipped": 1}}
        assert "a@example.vn" not in json.dumps(course)
        [mine] = client.get(f"/admin/needs/deliveries/people/{a}", headers=auth).get_json()["items"]
        assert (mine["status"], mine["channel"]) == ("sent", "email")
        resent = client.post(f"/admin/needs/deliveries/{mine['id']}/resend", headers=auth)
        assert resent.status_code == 200 and resent.get_json()["status"] == "pending"
        again = client.post(f"/admin/needs/deliveries/{mine['id']}/resend", headers=auth)
        assert again.status_code == 409 and "delivery_id" in json.dumps(again.get_json()["errors"])
        assert client.post("/admin/needs/deliveries/nope/resend", headers=auth).status_code == 404
        drain(sf, email_channels(sink))
        assert len(sink.to("a@example.vn")) == 2  # the first and the one resent
        assert len({m["Message-ID"] for m in sink.to("a@example.vn")}) == 2  # a new key for the resend
    figures = client.get("/admin/needs/deliveries", headers=auth).get_json()
    assert figures["counts"]["sent"] == 1 and figures["counts"]["skipped"] == 1 and figures["jobs"]["done"] >= 2
    assert client.get("/admin/needs/deliveries").status_code == 401
    app.extensions["service"].engine.dispose()


def test_a_courses_feedback_links_are_claimed_in_three_statements_whatever_its_size(needs):
    """issue 16: one INSERT … ON CONFLICT DO NOTHING of the course's deliveries, one read of which went in, one
    INSERT of their jobs — not three per trainee; a repeat of the event claims nothing and queues no job.
    (Before: four per trainee — the delivery, its read-back, the job, its read-back.)"""
    from services.needs.handlers import HANDLERS
    ids = people(needs)
    engine = needs.kw["bind"]

    def claimed(course_id: str, trainees: list[str]) -> tuple[int, int]:
        env = decode(new_event("evaluation.trainee_feedback_requested", {
            **feedback(trainees[0], course_id), "recipients": [
                {"civil_servant_id": cs, "link": f"http://127.0.0.1:8003/feedback/T{k}"} for k, cs in enumerate(trainees)]},
            producer="evaluation")[1])
        def apply():
            with transaction(needs) as s:
                HANDLERS[env.type](env, s, None)
        _, statements = statements_of(engine, apply)
        return len(statements), len(deliveries(needs, course_id=course_id))

    assert claimed("c-small", ids[:1]) == (3, 1)
    assert claimed("c-large", ids + ids[:2]) == (3, 6)  # six people, two named twice: one delivery each
    assert claimed("c-large", ids) == (2, 6)  # the same again: nothing new, so no INSERT of jobs at all
    with transaction(needs) as s:
        queued = s.scalar(sa.select(sa.func.count()).select_from(DELIVERY_JOBS))
    assert queued == 7  # a job per delivery claimed, none for the repeat or the duplicates


def test_a_delivery_skipped_for_want_of_a_contact_reads_no_name_from_the_registry(needs):
    """The greeting's name is read once there is a message to render (issue 16), not for a delivery skipped."""
    cs = people(needs)[0]  # no contact at all
    handle(needs, "evaluation.trainee_feedback_requested", feedback(cs))
    engine = needs.kw["bind"]
    with SmtpSink() as sink:
        settled, statements = statements_of(engine, lambda: drain(needs, email_channels(sink)))
    assert settled == 1 and [d.status for d in deliveries(needs)] == ["skipped"]
    assert not [s for s in statements if "civil_servants." in s], statements  # (statements_of shortens them)


def test_a_round_settles_the_deliveries_it_cannot_send_together_in_statements_that_do_not_grow_with_them(needs):
    """issue 16: deliveries with no address on a configured channel are skipped in the round's claiming transaction
    — one read of the deliveries, one of the contacts, one UPDATE of each table — not two transactions and five
    statements each; one that can go is still mailed on its own, its 'sending' committed before the send."""
    a, *others = people(needs)
    contact(needs, a, email="hv.a@example.vn")
    contact(needs, others[0], phone="0912345678", preferred_channel="sms")  # SMS is not configured here
    engine = needs.kw["bind"]

    def round_for(trainees: list[str], course_id: str) -> tuple[int, int, int]:
        handle(needs, "evaluation.trainee_feedback_requested", {**feedback(trainees[0], course_id), "recipients": [
            {"civil_servant_id": cs, "link": f"http://x/feedback/{k}"} for k, cs in enumerate(trainees)]})
        with SmtpSink() as sink:
            settled, statements = statements_of(engine, lambda: drain(needs, email_channels(sink)))
            mailed = len(sink.to("hv.a@example.vn"))
        return settled, len(statements), mailed

    small = round_for([a, others[0]], "c-small")
    large = round_for([a, *others], "c-large")
    assert small[0] == 2 and large[0] == len(others) + 1 and small[2] == large[2] == 1
    assert small[1] == large[1], (small, large)  # four more skipped deliveries cost no statement more
    by = {(d.course_id, d.recipient_id): d for d in deliveries(needs)}
    assert by[("c-large", a)].status == "sent"
    for cs in others:
        d = by[("c-large", cs)]
        assert (d.status, d.channel, d.last_error) == ("skipped", None, "no contact on a configured channel")
    with transaction(needs) as s:
        assert set(s.scalars(sa.select(DELIVERY_JOBS.c.status))) == {"done"}
