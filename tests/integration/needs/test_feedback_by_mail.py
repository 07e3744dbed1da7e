"""Issue 13 end to end over real SMTP (aiosmtpd), on SQLite and PostgreSQL: evaluation opens a course's feedback,
its per-trainee notices reach needs, needs mails each trainee once; the link in a received mail opens the feedback
page and submits once; the reminder goes only to those who have not answered."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from services.evaluation import usecases as evaluation
from services.needs import usecases as needs_uc
from services.needs.handlers import HANDLERS as NEEDS_HANDLERS
from services.needs.models import CivilServant
from shared.db import transaction
from shared.events import decode
from shared.notify import NotifyConfig
from shared.notify.email import SmtpChannel
from tests.notify.servers import SmtpSink
from tests.unit.apps import ADMIN_AUTH, build_app, deliver
from tests.unit.evaluation.factories import course_completed, trainee

BASE = "http://127.0.0.1:8003"
LINK = re.compile(re.escape(BASE) + r"/feedback/[A-Za-z0-9_\-]+")


@pytest.fixture
def apps(backend):
    needs = build_app("needs", backend.migrated("needs"), migrate=False)
    evaluation_app = build_app("evaluation", backend.migrated("evaluation"), migrate=False)
    assert needs.test_client().post("/admin/needs/seed", json={"civil_servants": 4},
                                    headers=ADMIN_AUTH).status_code == 200
    yield needs, evaluation_app
    for app in (needs, evaluation_app):
        app.extensions["service"].engine.dispose()


def relay(evaluation_app, needs_app, event_type: str) -> int:
    """Hand evaluation's outbox events of `event_type` to needs' handler (what the relay and the consumer do)."""
    src = evaluation_app.extensions["service"]
    t = src.outbox.table
    with src.engine.connect() as conn:
        bodies = list(conn.execute(sa.select(t.c.body).where(t.c.event_type == event_type).order_by(t.c.seq))
                      .scalars())
    dst = needs_app.extensions["service"]
    for body in bodies:
        env = decode(body)
        with transaction(dst.session_factory) as s:
            NEEDS_HANDLERS[env.type](env, s, dst.settings)
    return len(bodies)


def answers() -> dict:
    form = {f"q{n}": "8" for n in range(1, 6)}
    form.update({f"g{lec}_{k}": "9" for lec in (1, 2) for k in range(1, 6)})
    return form


def test_the_mailed_link_opens_the_form_submits_once_and_only_non_respondents_are_reminded(apps):
    needs_app, evaluation_app = apps
    sf = needs_app.extensions["service"].session_factory
    with transaction(sf) as s:
        ids = list(s.scalars(sa.select(CivilServant.id).order_by(CivilServant.code)))[:3]
        for n, cs in enumerate(ids):
            needs_uc.set_contact(s, cs, {"email": f"hv{n}@example.vn"})
    course_id, body = course_completed([{**trainee(), "civil_servant_id": cs} for cs in ids])
    deliver(evaluation_app, body)
    assert relay(evaluation_app, needs_app, "evaluation.trainee_feedback_requested") == 1  # one naming the three

    with SmtpSink() as sink:
        channels = {"email": SmtpChannel(NotifyConfig(smtp_host="127.0.0.1", smtp_port=sink.port, attempts=1))}
        needs_uc.send_due(sf, channels)
        mails = {n: sink.to(f"hv{n}@example.vn") for n in range(3)}
        assert all(len(m) == 1 for m in mails.values()), {n: len(m) for n, m in mails.items()}
        links = {n: LINK.findall(m[0].get_body(("plain",)).get_content()) for n, m in mails.items()}
        assert all(len(set(found)) == 1 for found in links.values()) and len({f[0] for f in links.values()}) == 3

        web = evaluation_app.test_client()
        path = urlparse(links[0][0]).path
        page = web.get(path)
        assert page.status_code == 200 and "Phiếu lấy ý kiến học viên" in page.get_data(as_text=True)
        first = web.post(path, data=answers())
        assert first.status_code == 200 and "Phiếu đã được ghi nhận" in first.get_data(as_text=True)
        assert web.post(path, data=answers()).status_code == 409  # the same link submits once

        with transaction(evaluation_app.extensions["service"].session_factory) as s:
            assert evaluation.send_reminders(s, course_id, BASE) == 2
        assert relay(evaluation_app, needs_app, "evaluation.feedback_reminder_issued") == 2
        relay(evaluation_app, needs_app, "evaluation.feedback_reminder_issued")  # redelivered: nothing more
        needs_uc.send_due(sf, channels)
        counts = {n: len(sink.to(f"hv{n}@example.vn")) for n in range(3)}
        assert counts == {0: 1, 1: 2, 2: 2}
        reminder = sink.to("hv1@example.vn")[1]
        assert reminder["Subject"].startswith("Nhắc: phiếu lấy ý kiến lớp")
        assert LINK.findall(reminder.get_body(("plain",)).get_content())[0] == links[1][0]
    with transaction(sf) as s:
        status = needs_uc.course_deliveries(s, course_id)
    assert status["by_purpose"] == {"feedback_request": {"sent": 3}, "feedback_reminder": {"sent": 2}}
