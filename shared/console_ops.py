"""What the operations console does (shared/console.py is its web side): dead letters grouped, a group replayed as
a tracked operation, a parked message edited and retried, one correlation id followed through a service.

Tracked operations live in two tables every service has (`console_tables`, created by each service's migration):
- `dead_letter_operations`: one row per replay of a group or per edit-and-retry — who, why, when, the group, the
  progress (total, sent, skipped), the status (`running`, `done`, `failed`);
- `dead_letter_operation_items`: each message id an operation has sent, primary key (operation, message id).

A replay of a group is recorded by the console's request and carried out by the service's worker in batches
(shared/console_replay.py says how it never sends a message twice, even when killed between two steps).

Edit-and-retry sends a corrected copy (new message id, same type, version, correlation and occurred_at, header
`x-edited-from` = the original id) and acks the original in the same channel, after the operation row naming both ids,
the operator and the reason is committed; if the send fails the original stays parked.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pika
import sqlalchemy as sa
from marshmallow import ValidationError

from shared.bus import deadletters
from shared.db import UTCDateTime, utcnow
from shared.errors import Conflict, Invalid, NotFound
from shared.events import EventContractError, payload_schema

OPERATIONS = "dead_letter_operations"
ITEMS = "dead_letter_operation_items"
_BROKER_HEADERS = ("x-retry-count", "x-death", "x-first-death-exchange", "x-first-death-queue",
                   "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
                   "x-dead-letter-reason", "x-dead-lettered-at")


def console_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Define the console's operation tables on a service's metadata (its models.py calls this)."""
    operations = sa.Table(
        OPERATIONS, metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),  # replay | edit
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),  # running | done | failed
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("original_message_id", sa.String(64), nullable=True),
        sa.Column("new_message_id", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Index("ix_dead_letter_operations_created", "created_at"),
    )
    items = sa.Table(
        ITEMS, metadata,
        sa.Column("operation_id", sa.String(36), sa.ForeignKey(f"{OPERATIONS}.id"), primary_key=True),
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("sent_at", UTCDateTime, nullable=False),
    )
    return operations, items


def tables_of(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """A service's operation tables; Conflict when its models do not define them yet (no migration yet)."""
    if OPERATIONS not in metadata.tables:
        raise Conflict("Dịch vụ này chưa có bảng thao tác của bảng điều hành (chưa nâng cấp cơ sở dữ liệu).",
                       field="operation_id")
    return metadata.tables[OPERATIONS], metadata.tables[ITEMS]


# --- dead letters, read ---------------------------------------------------------------------------------------

def _describe(method, props, body: bytes) -> dict:
    """deadletters' description of a parked message, with its correlation id (from the envelope)."""
    out = deadletters._describe(method, props, body)
    try:
        env = json.loads(body)
    except ValueError:
        env = None
    out["correlation_id"] = (env.get("correlation_id") if isinstance(env, dict) else None) or props.correlation_id
    return out


def missing_queue(exc: BaseException) -> bool:
    """The broker's answer when the dead-letter queue is not declared yet (no worker has started): nothing parked."""
    return isinstance(exc, pika.exceptions.ChannelClosedByBroker) and exc.reply_code == 404


def parked(settings, limit: int = 10_000) -> list[dict]:
    """Every parked message (up to `limit`), described, without consuming any."""
    try:
        with deadletters._channel(settings) as ch:
            taken = deadletters._drain(ch, settings.dead_letter_queue, limit)
            if taken:
                ch.basic_nack(delivery_tag=taken[-1][0].delivery_tag, multiple=True, requeue=True)
            return [_describe(*t) for t in taken]
    except pika.exceptions.ChannelClosedByBroker as exc:
        if missing_queue(exc):
            return []
        raise


def groups(items: list[dict]) -> list[dict]:
    """Parked messages grouped by event type and reason: count, first and last parked, the message ids."""
    out: dict[tuple, dict] = {}
    for item in items:
        key = (item["event_type"] or "", item["reason"] or "")
        g = out.setdefault(key, {"event_type": key[0], "reason": key[1], "count": 0, "first_seen": None,
                                 "last_seen": None, "message_ids": []})
        g["count"] += 1
        g["message_ids"].append(item["message_id"])
        at = item.get("dead_lettered_at")
        if at:
            g["first_seen"] = min(filter(None, [g["first_seen"], at]))
            g["last_seen"] = max(filter(None, [g["last_seen"], at]))
    return sorted(out.values(), key=lambda g: (-g["count"], g["event_type"], g["reason"]))


def parked_message(settings, message_id: str) -> dict:
    """One parked message: its description and its envelope (for the edit form); NotFound when not parked."""
    try:
        return _parked_message(settings, message_id)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if not missing_queue(exc):
            raise
    raise NotFound("Không tìm thấy thông điệp trong hàng đợi lỗi.", field="message_id")


def _parked_message(settings, message_id: str) -> dict:
    with deadletters._channel(settings) as ch:
        taken = deadletters._drain(ch, settings.dead_letter_queue)
        try:
            for method, props, body in taken:
                if props.message_id == message_id:
                    try:
                        envelope = json.loads(body)
                    except ValueError:
                        envelope = None
                    return {**_describe(method, props, body), "envelope": envelope,
                            "body": body.decode("utf-8", "replace")}
        finally:
            if taken:
                ch.basic_nack(delivery_tag=taken[-1][0].delivery_tag, multiple=True, requeue=True)
    raise NotFound("Không tìm thấy thông điệp trong hàng đợi lỗi.", field="message_id")


# --- tracked operations ------------------------------------------------------------------------------------------

def get_operation(session, tables, op_id: str) -> dict:
    operations, _ = tables
    row = session.execute(sa.select(operations).where(operations.c.id == op_id)).first()
    if row is None:
        raise NotFound("Không tìm thấy thao tác.", field="operation_id")
    return dict(row._mapping)


def list_operations(session, tables, limit: int = 20) -> list[dict]:
    operations, _ = tables
    rows = session.execute(sa.select(operations).order_by(operations.c.created_at.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def _republish_props(props, headers_extra: dict, message_id: str | None = None) -> pika.BasicProperties:
    headers = {k: v for k, v in (props.headers or {}).items() if k not in _BROKER_HEADERS}
    headers.update(headers_extra)
    return pika.BasicProperties(
        message_id=message_id or props.message_id, correlation_id=props.correlation_id, type=props.type,
        content_type=props.content_type or "application/json", content_encoding=props.content_encoding,
        delivery_mode=2, headers=headers)


# --- edit and retry ----------------------------------------------------------------------------------------------

def _corrected_body(envelope: dict, payload_text: str) -> tuple[str, str]:
    """The corrected copy's (new id, JSON body): the payload as edited, checked against its catalogue schema."""
    try:
        payload = json.loads(payload_text)
    except ValueError:
        raise Invalid("Nội dung sửa không phải JSON hợp lệ.", field="payload") from None
    if not isinstance(payload, dict):
        raise Invalid("Nội dung sửa phải là một đối tượng JSON.", field="payload")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("version"), int):
        raise Invalid("Thông điệp gốc không có phong bì hợp lệ, không thể sửa.", field="message_id")
    try:
        schema = payload_schema(str(envelope.get("type")), envelope["version"])
    except EventContractError:
        raise Invalid("Loại hoặc phiên bản sự kiện không có trong danh mục.", field="message_id") from None
    try:
        schema.load(payload)
    except ValidationError as exc:
        fields = ", ".join(sorted(map(str, exc.messages))) if isinstance(exc.messages, dict) else ""
        raise Invalid(f"Nội dung sửa không khớp lược đồ sự kiện ({fields}).", field="payload") from None
    new_id = str(uuid.uuid4())
    corrected = {**envelope, "id": new_id, "payload": payload}
    return new_id, json.dumps(corrected, ensure_ascii=False, separators=(",", ":"))


def edit_and_retry(settings, session_factory, tables, message_id: str, payload_text: str, actor: str,
                   note: str) -> dict:
    """Send a corrected copy of one parked message and retire the original; return the operation."""
    if not (note or "").strip():
        raise Invalid("Hãy ghi lý do sửa.", field="note")
    try:
        return _edit_and_retry(settings, session_factory, tables, message_id, payload_text, actor, note)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if not missing_queue(exc):
            raise
    raise NotFound("Không tìm thấy thông điệp trong hàng đợi lỗi.", field="message_id")


def _edit_and_retry(settings, session_factory, tables, message_id, payload_text, actor, note) -> dict:
    operations, _ = tables
    with deadletters._channel(settings) as ch:
        ch.confirm_delivery()
        for method, props, body in deadletters._drain(ch, settings.dead_letter_queue):
            if props.message_id != message_id:
                continue
            d = _describe(method, props, body)
            try:
                envelope = json.loads(body)
            except ValueError:
                envelope = None
            try:
                new_id, new_body = _corrected_body(envelope, payload_text)  # refused before anything is recorded
            except Invalid as error:
                # the form is shown again from this copy: the one being requeued may not be counted back yet
                error.item = {**d, "envelope": envelope, "body": body.decode("utf-8", "replace")}
                raise
            now = utcnow()
            op_id = str(uuid.uuid4())
            with session_factory() as session, session.begin():
                session.execute(sa.insert(operations).values(
                    id=op_id, kind="edit", event_type=d["event_type"], reason=d["reason"], status="running",
                    total=1, sent=0, skipped=0, actor=actor, note=note.strip(), original_message_id=message_id,
                    new_message_id=new_id, created_at=now, updated_at=now))
            try:
                ch.basic_publish("", settings.queue, new_body.encode("utf-8"), _republish_props(
                    props, {"x-edited-from": message_id, "x-edit-operation": op_id}, message_id=new_id),
                    mandatory=True)
            except Exception as exc:  # noqa: BLE001 - the original stays parked; the row says why
                with session_factory() as session, session.begin():
                    session.execute(sa.update(operations).where(operations.c.id == op_id).values(
                        status="failed", last_error=exc.__class__.__name__, updated_at=utcnow()))
                raise
            ch.basic_ack(method.delivery_tag)
            with session_factory() as session, session.begin():
                done = utcnow()
                session.execute(sa.update(operations).where(operations.c.id == op_id).values(
                    status="done", sent=1, updated_at=done, finished_at=done))
                return get_operation(session, tables, op_id)
    raise NotFound("Không tìm thấy thông điệp trong hàng đợi lỗi.", field="message_id")


# --- one correlation id -----------------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def correlation(session, settings, outbox_table: sa.Table, inbox_table: sa.Table, correlation_id: str,
                message_ids: list[str], *, with_broker: bool = True) -> dict:
    """What this service published, parked and received for one correlation id.

    `published`: outbox rows carrying the id; `parked`: dead letters carrying it; `received`: inbox rows among
    `message_ids` (the ids the other services published: the inbox keeps message ids, not correlation ids)."""
    o, i = outbox_table, inbox_table
    published = [{"message_id": r.message_id, "event_type": r.event_type, "created_at": _iso(r.created_at),
                  "published_at": _iso(r.published_at), "attempts": r.attempts, "last_error": r.last_error}
                 for r in session.execute(sa.select(o).where(o.c.correlation_id == correlation_id)
                                          .order_by(o.c.seq).limit(500))]
    received = []
    ids = list(dict.fromkeys(message_ids))[:500]
    if ids:
        received = [{"message_id": r.message_id, "event_type": r.event_type, "consumer": r.consumer,
                     "received_at": _iso(r.received_at)}
                    for r in session.execute(sa.select(i).where(i.c.message_id.in_(ids)).order_by(i.c.received_at))]
    parked_items, broker_error = [], None
    if with_broker:
        try:
            parked_items = [p for p in parked(settings) if p["correlation_id"] == correlation_id]
        except Exception as exc:  # noqa: BLE001 - the database half still answers without a broker
            broker_error = exc.__class__.__name__
    return {"service": settings.service, "correlation_id": correlation_id, "published": published,
            "received": received, "parked": parked_items, "broker_error": broker_error}
