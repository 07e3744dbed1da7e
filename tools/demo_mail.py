"""The demo's notifications (issue 13): a local SMTP sink (aiosmtpd) the needs worker sends to, synthetic contacts
for the demo's civil servants, and at the end the messages delivered per purpose and one rendered e-mail (with its
.ics calendar) saved under var/demo/out."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import requests

PURPOSE_VI = {"feedback_request": "mời trả lời phiếu lấy ý kiến", "feedback_reminder": "nhắc trả lời phiếu",
              "followup_trainee": "khảo sát sau khóa học (học viên)",
              "followup_supervisor": "khảo sát sau khóa học (người quản lý trực tiếp)",
              "course_notice": "giấy mời / thay đổi lớp học (kèm lịch .ics)",
              "lecturer_notice": "giảng viên: phân công / thay đổi buổi dạy",
              "lecturer_rating": "giảng viên: kết quả đánh giá của học viên"}


class _Keep:
    def __init__(self, box: "Mailbox"):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.box.lock:
            self.box.messages.append((list(envelope.rcpt_tos), msg, envelope.content))
        return "250 Message accepted"


class Mailbox:
    """An SMTP server on a free loopback port, keeping what it receives (aiosmtpd, from the dev extra)."""

    def __init__(self):
        from aiosmtpd.controller import Controller  # the dev extra (make setup installs it)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.messages: list = []
        self.lock = threading.Lock()
        self.controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def env(self) -> dict[str, str]:
        """What the needs worker needs to send here."""
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_TLS": "none",
                "MAIL_FROM": "dao-tao@thoibinh.demo", "NOTIFY_POLL_SECONDS": "0.3"}

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def give_contacts(needs: str, api: dict) -> int:
    """A synthetic e-mail address for every demo civil servant; the direct supervisor of each is the first person
    (by code) of their unit, whose own supervisor is the second (the synthetic registry holds no unit heads)."""
    people, page = [], 1
    while True:
        got = requests.get(f"{needs}/api/v1/civil-servants", params={"page": page, "page_size": 500},
                           headers=api, timeout=30).json()
        people += got["items"]
        if len(people) >= got["total"] or not got["items"]:
            break
        page += 1
    heads: dict[str, list[str]] = {}
    for cs in sorted(people, key=lambda p: p["code"]):
        heads.setdefault(cs["unit_code"], []).append(cs["id"])
    with requests.Session() as http:
        for cs in people:
            first = heads[cs["unit_code"]]
            supervisor = first[0] if first[0] != cs["id"] else (first[1:] or [None])[0]
            resp = http.patch(f"{needs}/api/v1/civil-servants/{cs['id']}", headers=api, timeout=30, json={
                "contact": {"email": f"{cs['code'].lower()}@thoibinh.demo", "preferred_channel": "email",
                            "supervisor_id": supervisor}})
            resp.raise_for_status()
    return len(people)


def report(needs: str, admin: dict, box: Mailbox, out: Path, timeout: float = 60,
           expect: dict[str, int] | None = None) -> dict:
    """Wait until needs has settled every delivery, and holds at least `expect` (purpose → count) deliveries of
    those purposes (events still on their way); print the messages per purpose; save one invitation (.eml and its
    .ics). Returns the figures."""
    deadline = time.monotonic() + timeout
    while True:
        figures = requests.get(f"{needs}/admin/needs/deliveries", headers=admin, timeout=30).json()
        busy = figures["counts"].get("pending", 0) + figures["counts"].get("sending", 0)
        short = [p for p, n in (expect or {}).items() if sum(figures["by_purpose"].get(p, {}).values()) < n]
        if (busy == 0 and not short) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    sent = {p: c.get("sent", 0) for p, c in figures["by_purpose"].items()}
    print(f"8. Thông báo (needs gửi, máy chủ SMTP cục bộ 127.0.0.1:{box.port}): {sum(sent.values())} thư đã gửi, "
          f"{len(box.messages)} thư máy chủ nhận")
    for purpose, n in sorted(sent.items()):
        print(f"     {PURPOSE_VI.get(purpose, purpose):<48} {n:>3}")
    others = {k: v for k, v in figures["counts"].items() if v and k != "sent"}
    if others:
        print("   Khác: " + ", ".join(f"{k} {v}" for k, v in sorted(others.items())))
    per_address = Counter(a for rcpts, _, _ in box.messages for a in rcpts)
    print(f"   {len(per_address)} người nhận; nhiều nhất {max(per_address.values(), default=0)} thư/người")
    with box.lock:
        invitation = next(((m, raw) for _, m, raw in box.messages if any(
            p.get_content_type() == "text/calendar" for p in m.iter_attachments())), None)
    if invitation is not None:
        msg, raw = invitation
        (out / "thu-moi.eml").write_bytes(raw)
        ics = next(p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar")
        content = ics.get_content()
        (out / (ics.get_filename() or "lop-hoc.ics")).write_bytes(content if isinstance(content, bytes)
                                                                 else content.encode("utf-8"))
        print(f"   Thư mời mẫu: {out / 'thu-moi.eml'} (tiêu đề «{msg['Subject']}»), lịch {out / ics.get_filename()}")
    return figures
