"""A sender killed mid-batch and restarted: every recipient gets exactly one message (counted per address at a
real SMTP server), on SQLite and PostgreSQL. The sender is a real process (SIGKILL: no clean-up runs); the kill
lands while a message is on the wire — received by the server, its 250 never read — the one case that would
send twice if the sender re-sent what it could not record."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from services.needs import usecases
from services.needs.handlers import HANDLERS
from services.needs.models import CivilServant, Delivery
from shared.config import PROJECT_ROOT
from shared.db import transaction
from shared.events import decode, new_event
from tests.notify.servers import SmtpSink
from tests.unit.apps import ADMIN_AUTH, build_app

pytestmark = pytest.mark.slow
PEOPLE = 8
SENDER = """
import sys, time
from datetime import timedelta
from services.needs import usecases
from shared.db import make_engine, make_session_factory
from shared.notify import NotifyConfig
from shared.notify.email import SmtpChannel
url, port = sys.argv[1], int(sys.argv[2])
sf = make_session_factory(make_engine(url))
channels = {"email": SmtpChannel(NotifyConfig(smtp_host="127.0.0.1", smtp_port=port, attempts=1))}
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    # one job per claim, so that the rest of the batch waits in the queue, not under this process's lease
    if usecases.send_due(sf, channels, limit=3, lease=timedelta(seconds=2)) == 0:
        time.sleep(0.2)
"""


def start_sender(url: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SENDER, url, str(port)], cwd=PROJECT_ROOT,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})


def statuses(sf) -> dict[str, str]:
    with transaction(sf) as s:
        return dict(s.execute(sa.select(Delivery.recipient_id, Delivery.status)).all())


def test_a_sender_killed_mid_batch_sends_each_recipient_exactly_one_message(backend):
    url = backend.migrated("needs")
    app = build_app("needs", url, migrate=False)
    sf = app.extensions["service"].session_factory
    assert app.test_client().post("/admin/needs/seed", json={"civil_servants": PEOPLE},
                                  headers=ADMIN_AUTH).status_code == 200
    with transaction(sf) as s:
        ids = list(s.scalars(sa.select(CivilServant.id).order_by(CivilServant.code)))
        for n, cs in enumerate(ids):
            usecases.set_contact(s, cs, {"email": f"hv{n}@example.vn"})
    deadline = datetime(2026, 12, 15, 10, 0, tzinfo=timezone.utc)
    for cs in ids:
        _, body = new_event("evaluation.trainee_feedback_requested", {
            "course_id": "c-kill", "course_code": "KH2026-09", "course_title": "Kỹ năng số", "deadline": deadline,
            "recipients": [{"civil_servant_id": cs, "link": f"http://127.0.0.1:8003/feedback/{cs[:8]}"}]},
            producer="evaluation")
        env = decode(body)
        with transaction(sf) as s:
            HANDLERS[env.type](env, s, None)

    with SmtpSink() as sink:
        first = start_sender(url, sink.port)

        def kill_on_third(count: int) -> None:
            if count == 3:
                os.kill(first.pid, signal.SIGKILL)
        sink.after_data = kill_on_third
        assert first.wait(timeout=60) == -signal.SIGKILL
        sink.after_data = None
        received_before_restart = len(sink.messages)
        assert 3 <= received_before_restart < PEOPLE
        second = start_sender(url, sink.port)
        try:
            limit = time.monotonic() + 60
            while time.monotonic() < limit and any(v in ("pending", "sending") for v in statuses(sf).values()):
                time.sleep(0.3)
        finally:
            second.kill()
            second.wait(timeout=10)
        per_address = {f"hv{n}@example.vn": len(sink.to(f"hv{n}@example.vn")) for n in range(PEOPLE)}
    assert per_address == {a: 1 for a in per_address}, per_address
    final = statuses(sf)
    # the message on the wire at the kill arrived, but its sender could not know: unconfirmed, not re-sent
    assert sorted(final.values()) == ["sent"] * (PEOPLE - 1) + ["unconfirmed"], final
    app.extensions["service"].engine.dispose()
