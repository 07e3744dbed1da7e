"""The sender (issue 13): runs the due delivery jobs outside any consumer transaction, one delivery at a time.

For each claimed job (shared.jobs.claim_due on DELIVERY_JOBS: leased, FOR UPDATE SKIP LOCKED on PostgreSQL):
1. a short transaction checks the claim, picks the channel (the person's preferred one, else another configured
   channel they have an address for), defers SMS/Zalo in quiet hours (the rule `notify_quiet_hours`: the job
   waits until the window ends, nothing is dropped), renders the message and marks the delivery `sending` —
   committed BEFORE anything leaves;
2. the channel sends, outside any transaction;
3. a second transaction records the outcome: sent; failed/bounced (refused for good); or, when retryable, pending
   again after the channel's back-off, and parked after its last attempt (visible in /admin/needs/deliveries).

A sender killed between 1 and 3 leaves the delivery `sending` and the job leased; once the lease runs out another
round finds it so: an SMS or Zalo message is sent again under the same idempotency key (the gateway's `id`, ZNS
`tracking_id`: the provider drops the copy), an e-mail is NOT resent (SMTP has no such key) but marked
`unconfirmed` for an officer to check and resend. The deliveries not yet started are sent as usual: every
recipient gets one message.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from services.needs.models import DELIVERY_JOBS, CivilServant, Contact, Delivery, LecturerContact, Rule
from services.needs.usecases.deliveries import FINAL
from services.needs.usecases.messages import render
from shared import jobs, rules
from shared.db import transaction
from shared.localtime import LOCAL_TZ, local_today, utcnow
from shared.notify import Channel, DeliveryError, Message, Sent
from shared.notify.quiet import QUIET_RULE, deferred_until

log = logging.getLogger(__name__)

CHANNEL_ORDER = ("email", "zalo", "sms")  # the fallback order after the person's preferred channel
IDEMPOTENT_CHANNELS = frozenset({"sms", "zalo"})  # the provider drops a second message under the same key
SEND_LEASE = timedelta(minutes=5)  # longer than any send (time-out × attempts)


@dataclass(frozen=True)
class Policy:
    """How often a channel is tried: back-off first_minutes × 2^(n−1), at most max_minutes; parked after
    max_attempts."""

    max_attempts: int
    first_minutes: float
    max_minutes: float

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(minutes=min(self.first_minutes * 2 ** max(attempts - 1, 0), self.max_minutes))


POLICIES = {"email": Policy(6, 1, 60), "sms": Policy(5, 2, 120), "zalo": Policy(5, 2, 120)}


@dataclass(frozen=True)
class _Plan:
    job: jobs.Job
    delivery_id: str
    channel: str
    message: Message


def choose_channel(contact: Contact | LecturerContact | None, available, purpose: str, zalo_templates: dict) -> tuple[str, str] | None:
    """(channel, address): the preferred channel if configured and the person has its address, else the first of
    CHANNEL_ORDER that is; Zalo only for purposes with an approved ZNS template. None: no way to reach them."""
    if contact is None:
        return None
    for ch in (contact.preferred_channel, *CHANNEL_ORDER):
        if ch not in available:
            continue
        if ch == "email" and contact.email:
            return ch, contact.email
        if ch == "sms" and contact.phone:
            return ch, contact.phone
        if ch == "zalo" and contact.phone and zalo_templates.get(purpose):
            return ch, contact.phone
    return None


def _release(session: Session, job_id: str, due_at: datetime, *, status: str = "pending", error: str | None = None,
             count_failure: bool = False, now: datetime | None = None) -> None:
    t = DELIVERY_JOBS
    values: dict = {"status": status, "due_at": due_at}
    if error is not None:
        values["last_error"] = error[:500]
    if count_failure:
        values["attempts"] = t.c.attempts + 1
    if status in ("failed", "done"):
        values["finished_at"] = now or due_at
    session.execute(sa.update(t).where(t.c.id == job_id).values(**values))


def _name(session: Session, cs_id: str | None) -> str:
    cs = session.get(CivilServant, cs_id) if cs_id else None
    return cs.full_name if cs else ""


def _book(d: Delivery) -> type[Contact] | type[LecturerContact]:
    """The contact book the recipient is read from: lecturers' or civil servants'."""
    return LecturerContact if d.recipient_kind == "lecturer" else Contact


def _contact(session: Session, d: Delivery) -> Contact | LecturerContact | None:
    """The recipient's contact, from the contact book of their kind."""
    return session.get(_book(d), d.recipient_id)


def _greeting(session: Session, d: Delivery, contact: Contact | LecturerContact | None) -> str:
    """The name the message greets — read only once there is a message to send (issue 16: a delivery skipped for
    want of a contact read the registry for nothing)."""
    if d.recipient_kind == "lecturer":
        return contact.full_name if contact is not None and contact.full_name else "giảng viên"
    return _name(session, d.recipient_id)


def _prepare(session: Session, job: jobs.Job, channels: dict, zalo_templates: dict, now: datetime) -> _Plan | None:
    t = DELIVERY_JOBS
    held = session.execute(sa.select(t.c.status, t.c.due_at).where(t.c.id == job.id).with_for_update()).first()
    if held is None or held.status != "running" or held.due_at != job.due_at:
        return None  # another round took it after our lease ran out
    d = session.get(Delivery, job.payload["delivery_id"], with_for_update=True)
    if d is None or d.status in FINAL:
        jobs.mark_done(session, t, job.id, now)
        return None
    contact = _contact(session, d)
    if d.status == "sending":  # the last sender stopped during this send
        if d.channel not in IDEMPOTENT_CHANNELS:
            d.status, d.updated_at = "unconfirmed", now
            d.last_error = f"{d.channel}: the sender stopped during the send; not resent"
            jobs.mark_done(session, t, job.id, now)
            log.warning("delivery unconfirmed", extra={"delivery_id": d.id, "channel": d.channel})
            return None
        choice = (d.channel, contact.phone) if contact is not None and contact.phone and d.channel in channels \
            else None
    else:
        choice = choose_channel(contact, channels.keys(), d.purpose, zalo_templates)
    if choice is None:
        d.status, d.updated_at, d.last_error = "skipped", now, "no contact on a configured channel"
        jobs.mark_done(session, t, job.id, now)
        return None
    channel, address = choice
    rule = rules.in_force(session, Rule, local_today(now), code=QUIET_RULE)
    until = deferred_until(now, rule.value, channel, LOCAL_TZ) if rule is not None else None
    if until is not None:
        d.deferred_until, d.updated_at = until.astimezone(timezone.utc), now
        _release(session, job.id, d.deferred_until)
        return None
    resends = (d.payload or {}).get("resends", 0)
    key = d.id if not resends else f"{d.id}-r{resends}"
    message = render(d.purpose, d.payload or {}, channel=channel, to=address, key=key,
                     name=_greeting(session, d, contact), subject_name=_name(session, d.subject_id) or None,
                     zalo_template=zalo_templates.get(d.purpose))
    d.status, d.channel, d.attempts, d.updated_at, d.deferred_until = "sending", channel, d.attempts + 1, now, None
    return _Plan(job, d.id, channel, message)


def _record(session: Session, plan: _Plan, sent: Sent | None, error: DeliveryError | None, now: datetime) -> str:
    d = session.get(Delivery, plan.delivery_id, with_for_update=True)
    job_id = plan.job.id
    if sent is not None:
        d.status, d.provider_id, d.segments, d.sent_at, d.last_error = "sent", sent.provider_id, sent.segments, now, None
        jobs.mark_done(session, DELIVERY_JOBS, job_id, now)
    elif not error.retryable:
        d.status = "bounced" if error.reason == "recipient refused" else "failed"
        d.last_error = str(error)[:300]
        _release(session, job_id, now, status="done", error=str(error), count_failure=True, now=now)
    else:
        policy = POLICIES[plan.channel]
        d.last_error = str(error)[:300]
        if d.attempts >= policy.max_attempts:
            d.status = "parked"
            _release(session, job_id, now, status="failed", error=str(error), count_failure=True, now=now)
            log.error("delivery parked", extra={"delivery_id": d.id, "channel": plan.channel})
        else:
            d.status = "pending"
            _release(session, job_id, now + policy.backoff(d.attempts), error=str(error), count_failure=True)
    d.updated_at = now
    return d.status


def _settle_without_sending(session: Session, claimed: list[jobs.Job], channels: dict, zalo_templates: dict,
                            now: datetime) -> list[jobs.Job]:
    """Settle, in the claiming transaction and set-wise, the claimed jobs that send nothing: a delivery gone or
    already final (the job is done), a fresh one whose recipient has no address on a configured channel (skipped,
    as _prepare would record it). Return the jobs left to send one by one (issue 16: each skipped delivery took two
    transactions and five statements — a district without channels skipped all its trainees' links that way).
    Nothing leaves here, so settling many in one commit changes nothing a crash could observe."""
    if not claimed:
        return claimed
    by_delivery = {job.payload["delivery_id"]: job for job in claimed}
    found = {d.id: d for d in session.scalars(sa.select(Delivery).where(Delivery.id.in_(list(by_delivery)))
                                                .with_for_update().execution_options(populate_existing=True))}
    fresh = [d for d in found.values() if d.status not in FINAL and d.status != "sending"]
    contacts: dict[tuple[type, str], Contact | LecturerContact] = {}
    for book, key in ((Contact, Contact.civil_servant_id), (LecturerContact, LecturerContact.lecturer_id)):
        wanted = [d.recipient_id for d in fresh if _book(d) is book]
        if wanted:
            contacts.update(((book, getattr(c, key.key)), c) for c in session.scalars(
                sa.select(book).where(key.in_(wanted))))
    unreachable = [d.id for d in fresh if choose_channel(
        contacts.get((_book(d), d.recipient_id)), channels.keys(), d.purpose, zalo_templates) is None]
    finished = [i for i in by_delivery if i not in found or found[i].status in FINAL]
    if unreachable:
        t = Delivery.__table__
        session.execute(sa.update(t).where(t.c.id.in_(unreachable)).values(
            status="skipped", updated_at=now, last_error="no contact on a configured channel"))
    gone = set(finished + unreachable)
    if gone:
        jt = DELIVERY_JOBS
        session.execute(sa.update(jt).where(jt.c.id.in_([by_delivery[i].id for i in gone])).values(
            status="done", finished_at=now))
    return [job for d_id, job in by_delivery.items() if d_id not in gone]


def send_due(session_factory: sessionmaker[Session], channels: dict[str, Channel], *, zalo_templates: dict | None = None,
             now_fn: Callable[[], datetime] = utcnow, limit: int = 50, lease: timedelta = SEND_LEASE,
             stop: threading.Event | None = None) -> int:
    """One round of the sender: claim up to `limit` due delivery jobs and work them one by one; return how many
    were settled (sent, refused, deferred, retried or parked)."""
    zalo_templates = zalo_templates or {}
    with transaction(session_factory) as session:
        now = now_fn()
        claimed = jobs.claim_due(session, DELIVERY_JOBS, now, limit, lease)
        done = len(claimed)
        claimed = _settle_without_sending(session, claimed, channels, zalo_templates, now)
        done -= len(claimed)
    for job in claimed:
        if stop is not None and stop.is_set():
            break
        with transaction(session_factory) as session:
            plan = _prepare(session, job, channels, zalo_templates, now_fn())
        if plan is None:
            done += 1
            continue
        sent, error = None, None
        try:
            sent = channels[plan.channel].send(plan.message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - a bug in one send must not stop the others; retried, then parked
            error = DeliveryError(plan.channel, f"unexpected {type(exc).__name__}", retryable=True)
        with transaction(session_factory) as session:
            status = _record(session, plan, sent, error, now_fn())
        log.info("delivery settled", extra={"delivery_id": plan.delivery_id, "channel": plan.channel,
                                             "status": status})
        done += 1
    return done
