"""The needs of a chunk of surveyed people, built set-wise: two INSERT … SELECT statements, no row through Python.

A national campaign (212,606 people × 7 competencies) used to build its needs per person in Python
(domain.needs_of): 46 s in the worker. Here the database finds the gaps (combined level below the position's
required level) and the unmet position standards, and looks the priority score and reasons up in a small table
that the pure domain computes (domain.priority over every combination of its few flags), so the rules stay defined
once, in domain.py; the SQL only selects who has which need. The reasons themselves are stored once per
combination (need_reason_sets, named by a hash of their content); each need names its set. The same statements run
on PostgreSQL and SQLite
(tests/integration/needs/test_close_setwise.py compares them with domain.needs_of person by person).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Grouping

from services.needs import domain
from services.needs.domain import OPEN_STATUSES
from services.needs.models import (
    Assessment, CivilServant, Competency, Need, NeedReasonSet, Position, PositionRequirement, SurveyResponse, Unit,
)
from shared.db import UTCDateTime, is_postgres

A, CS, SR = Assessment.__table__, CivilServant.__table__, SurveyResponse.__table__
PR, COMP, UNITS, NEEDS = PositionRequirement.__table__, Competency.__table__, Unit.__table__, Need.__table__
REASON_SETS = NeedReasonSet.__table__
DEADLINE_REASONS = (None, "deadline_passed", "deadline_within_12_months", "deadline_within_24_months")


def _key(gap_levels, mandatory, leadership, hard_area, ethnic_minority, wished, deadline_reason):
    """The lookup key of one combination of priority flags (Python ints or SQL integer expressions alike)."""
    return ((((((gap_levels * 2 + mandatory) * 2 + leadership) * 2 + hard_area) * 2 + ethnic_minority) * 2
             + wished) * len(DEADLINE_REASONS) + deadline_reason)


def reason_set_id(reasons: list[dict]) -> int:
    """The id of a set of reasons: the first 8 bytes of the SHA-256 of its canonical JSON, as a signed 64-bit
    integer — the same set gets the same id in every close and every process, with no lookup."""
    text = json.dumps(reasons, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _priorities(weights: domain.PriorityWeights, today: date, max_gap: int) -> tuple[list[tuple[int, float, int]],
                                                                                      dict[int, list]]:
    """(k, score, reason set id) for every combination a need can have (gaps up to `max_gap` levels), each from
    domain.priority, and the reason sets by id."""
    sample_deadline = {None: None, "deadline_passed": today - timedelta(days=1),
                       "deadline_within_12_months": today, "deadline_within_24_months": today + timedelta(days=400)}
    rows, sets = [], {}
    combos = [(g, 0) for g in range(1, max_gap + 1)] + [(0, 1)]  # a gap need, or a mandatory (standard) need
    for (g, m), lead, hard, minority, wished in itertools.product(combos, (0, 1), (0, 1), (0, 1), (0, 1)):
        person = domain.Person(id="", position_code="", leadership=bool(lead), hard_area=bool(hard),
                               ethnic_minority=bool(minority))
        for d, reason in enumerate(DEADLINE_REASONS if m else (None,)):
            score, reasons = domain.priority(person, weights, today, gap_levels=g, mandatory=bool(m),
                                             deadline=sample_deadline[reason], wished=bool(wished))
            set_id = reason_set_id(reasons)
            sets[set_id] = reasons
            rows.append((_key(g, m, lead, hard, minority, wished, d), float(score), set_id))
    return rows, sets


def _max_gap(session: Session, framework_id: int) -> int:
    """The largest gap the framework allows: the priority table must hold every one (a missing key would drop the
    need silently)."""
    return session.scalar(sa.select(sa.func.max(PR.c.required_level)).where(PR.c.framework_id == framework_id)) or 0


def store_reason_sets(session: Session, weights: domain.PriorityWeights, today: date,
                      framework_id: int) -> list[tuple[int, float, int]]:
    """Write the reason sets a close under these weights can name, those missing only (one statement), and check
    that every id holds its own content (a hash collision would otherwise lend a need another set's reasons).

    A close stores them once in the transaction that queues its lanes, so that the lanes' chunks, which store them
    again, find them committed and never wait on each other's uncommitted rows."""
    rows, sets = _priorities(weights, today, _max_gap(session, framework_id))
    insert = (postgresql if is_postgres(session) else sqlite).insert(REASON_SETS)
    session.execute(insert.values([{"id": k, "reasons": v} for k, v in sorted(sets.items())])
                    .on_conflict_do_nothing(index_elements=["id"]))
    stored = dict(session.execute(sa.select(REASON_SETS.c.id, REASON_SETS.c.reasons)
                                  .where(REASON_SETS.c.id.in_(sorted(sets)))).all())
    clashes = [k for k, v in sets.items() if stored.get(k) != v]
    if clashes:
        raise RuntimeError(f"need_reason_sets: {len(clashes)} id(s) hold other reasons (hash collision)")
    return rows


def _subscript(values: list, item_type, k) -> sa.ColumnElement:
    """(%(values)s::type[])[k + 1] on PostgreSQL: the k-th value of one array parameter."""
    return sa.type_coerce(Grouping(sa.literal(values, ARRAY(item_type))), ARRAY(item_type))[k + 1]


def _rows_table(name: str, columns, rows: list[tuple]):
    """A small constant table in the statement: SELECT … UNION ALL SELECT … (SQLite cannot name the columns of
    a VALUES list in FROM)."""
    selects = [sa.select(*(sa.literal(v, t).label(c) for v, (c, t) in zip(row, columns))) for row in rows]
    return (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery(name)


def _flag(condition) -> sa.ColumnElement:
    return sa.case((condition, 1), else_=0)


def _wished_topics(session: Session, wished_topics) -> sa.ColumnElement:
    """The person's wished topics as read once per person in the chunk: on PostgreSQL parsed into JSONB there, not
    again for each of their needs (each gap's priority key tests them)."""
    return sa.cast(wished_topics, JSONB) if is_postgres(session) else wished_topics


def _wished(session: Session, wished_topics, topic) -> sa.ColumnElement:
    """1 when `topic` is among the person's wished topics (_wished_topics of the survey response), else 0."""
    if is_postgres(session):
        return _flag(wished_topics.contains(sa.func.jsonb_build_array(topic)))
    each = sa.func.json_each(wished_topics).table_valued("value")
    return _flag(sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == topic)))


def _add_years(session: Session, day, years: int) -> sa.ColumnElement:
    """day + years in SQL, 29 February → 28 February as domain._add_years."""
    years = int(years)
    if is_postgres(session):  # PostgreSQL's interval arithmetic already clamps to the month's last day
        return sa.cast(day + sa.literal_column(f"INTERVAL '{years} years'"), sa.Date)
    return sa.func.min(sa.func.date(day, f"+{years} years"),
                       sa.func.date(day, "start of month", f"+{years} years", "+1 month", "-1 day"))


def _deadline_reason(deadline, today: date) -> sa.ColumnElement:
    """The index in DEADLINE_REASONS of domain._deadline_reason(deadline, today)."""
    on = (lambda d: sa.literal(d, sa.Date))
    return sa.case((deadline.is_(None), 0), (deadline < on(today), 1),
                   (deadline <= on(today + timedelta(days=365)), 2),
                   (deadline <= on(today + timedelta(days=730)), 3), else_=0)


def _new_id(session: Session) -> sa.ColumnElement:
    """A new UUID as text, made by the database: on PostgreSQL version 7 (RFC 9562: a 48-bit millisecond time, then
    random bits), so the needs of a close go to the last pages of the primary key instead of random ones all over a
    national index (bench-needs: −17 % time in the needs' INSERTs); on SQLite a random (version 4) one."""
    if is_postgres(session):
        return sa.literal_column(
            "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
            "substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), "
            "52, 1), 53, 1), 'hex')::uuid::text", sa.String)
    return sa.literal_column(
        "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2)"
        " || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || "
        "lower(hex(randomblob(6)))", sa.String)


def insert_chunk_needs(session: Session, *, campaign_id: str, year: int, framework_id: int, first_id: str,
                       last_id: str, combined_level, weights: domain.PriorityWeights,
                       standards: list[domain.StandardRule], communes: dict[str, str], today: date,
                       now: datetime) -> dict[str, int]:
    """Insert the needs of the surveyed people first_id … last_id of a campaign; return the count of each kind.

    What domain.needs_of gives per person: one need per competency whose combined level (`combined_level`, the
    SQL of the combination rule over Assessment's columns) is below the position's required level, one per
    position standard the person's qualifications do not meet; none for a (person, topic) still open or planned
    from before. Commune and province are today's (`communes`: unit code → today's commune).
    """
    leaders = [p.code for p in session.scalars(sa.select(Position)) if p.leadership]  # Position.leadership's rule
    # The chunk's people once, with their priority flags (the registry's stored ethnic_minority is the input, as for
    # domain.Person); materialised so that each branch below reads 5,000 rows, not the registry.
    chunk = sa.select(
        SR.c.civil_servant_id.label("cs_id"), _wished_topics(session, SR.c.wished_topics).label("wished_topics"),
        CS.c.unit_code, CS.c.position_code,
        CS.c.employed_from, *(CS.c[f] for f in domain.QUALIFICATION_FIELDS),
        _flag(CS.c.position_code.in_(leaders)).label("lead"), _flag(CS.c.hard_area).label("hard"),
        _flag(CS.c.ethnic_minority).label("minor"),
    ).select_from(CS.join(SR, sa.and_(SR.c.campaign_id == campaign_id, SR.c.civil_servant_id == CS.c.id))).where(
        SR.c.civil_servant_id.between(first_id, last_id), CS.c.id.between(first_id, last_id),  # two index ranges
        CS.c.employment_status != "left",
    ).cte("chunk_people").prefix_with("MATERIALIZED", dialect="postgresql")
    p = chunk.c
    priorities = store_reason_sets(session, weights, today, framework_id)

    level = combined_level
    topic = COMP.c.topic_code
    gap_rows = (sa.select(
        p.cs_id, sa.literal("competency_gap").label("kind"), topic.label("topic_code"),
        A.c.competency_code.label("competency_code"), sa.cast(sa.null(), sa.String).label("standard_code"),
        PR.c.required_level.label("required_level"), level.label("assessed_level"),
        (PR.c.required_level - level).label("gap"), sa.cast(sa.null(), sa.Date).label("deadline"),
        _key(PR.c.required_level - level, 0, p.lead, p.hard, p.minor, _wished(session, p.wished_topics, topic), 0)
        .label("k"), p.unit_code, p.position_code)
        .select_from(chunk.join(A, sa.and_(A.c.campaign_id == campaign_id, A.c.civil_servant_id == p.cs_id,
                                           A.c.civil_servant_id.between(first_id, last_id)))  # one range read
                     .join(PR, sa.and_(PR.c.framework_id == framework_id, PR.c.position_code == p.position_code,
                                       PR.c.competency_code == A.c.competency_code))
                     .join(COMP, sa.and_(COMP.c.framework_id == framework_id, COMP.c.code == A.c.competency_code)))
        .where(level.is_not(None), PR.c.required_level > 0, level < PR.c.required_level, topic.is_not(None)))
    standard_rows = []
    for rule in standards:
        field = p[rule.field] if rule.field in domain.QUALIFICATION_FIELDS else None
        acceptable = list(rule.scale[rule.scale.index(rule.minimum):])
        unmet = sa.true() if field is None else sa.or_(field.is_(None), field.not_in(acceptable))
        applies = [unmet]
        if rule.positions:
            applies.append(p.position_code.in_(list(rule.positions)))
        if rule.hard_area_only:
            applies.append(p.hard == 1)
        if rule.exempt_hard_area:
            applies.append(p.hard == 0)
        deadline = (_add_years(session, p.employed_from, rule.deadline_years) if rule.deadline_years
                    else sa.cast(sa.null(), sa.Date))
        wished = _wished(session, p.wished_topics, sa.literal(rule.topic_code))
        standard_rows.append(sa.select(
            p.cs_id, sa.literal("standard").label("kind"),
            sa.literal(rule.topic_code).label("topic_code"), sa.cast(sa.null(), sa.String).label("competency_code"),
            sa.literal(rule.code).label("standard_code"), sa.cast(sa.null(), sa.Integer).label("required_level"),
            sa.cast(sa.null(), sa.Integer).label("assessed_level"), sa.literal(0).label("gap"),
            deadline.label("deadline"), _key(0, 1, p.lead, p.hard, p.minor, wished, _deadline_reason(deadline, today))
            .label("k"), p.unit_code, p.position_code).select_from(chunk).where(*applies))
    if is_postgres(session):
        # A chunk is a bulk job: hash joins over the chunk's index ranges. Left to its estimates (the two ranges on
        # the same ids multiply to ~1 % of the chunk) the planner picks nested loops, ~35,000 index probes a chunk.
        session.execute(sa.text("SET LOCAL enable_nestloop = off"))
    _insert(session, [gap_rows, *standard_rows], campaign_id=campaign_id, year=year, priorities=priorities,
            communes=communes, now=now, first_id=first_id, last_id=last_id)
    if is_postgres(session):
        session.execute(sa.text("RESET enable_nestloop"))
    # counted, not taken from rowcount (SQLite's driver answers -1 for INSERT … SELECT)
    counts = {"competency_gap": 0, "standard": 0}
    counts.update(session.execute(sa.select(NEEDS.c.kind, sa.func.count()).where(
        NEEDS.c.campaign_id == campaign_id, NEEDS.c.civil_servant_id.between(first_id, last_id))
        .group_by(NEEDS.c.kind)).all())
    return counts


def _insert(session: Session, selects: list, *, campaign_id: str, year: int, priorities: list[tuple[int, float, int]],
            communes: dict[str, str], now: datetime, first_id: str,
            last_id: str) -> None:
    """INSERT INTO needs … SELECT the drafts of `selects` (UNION ALL), priced by the priority table (`priorities`:
    (k, score, reason set id) of every combination)."""
    drafts = (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery("drafts")
    rows = priorities
    if is_postgres(session):
        # looked up by subscript in two array parameters: O(1) per need whatever the plan (a join to a 144-row
        # constant table became a nested loop over it for every need). Neither array holds a NULL: PostgreSQL
        # finds an element of an array with NULLs by walking its null bitmap from the start (O(k) per look-up),
        # so a key no combination has gets NaN as its score (PostgreSQL's NaN equals itself) and 0 as its set.
        size = max(k for k, _, _ in rows) + 1
        scores, set_ids = [math.nan] * size, [0] * size
        for k, score, set_id in rows:
            scores[k], set_ids[k] = score, set_id
        score = _subscript(scores, sa.Float, drafts.c.k)
        reason_set = _subscript(set_ids, sa.BigInteger, drafts.c.k)
        joined, known = drafts, score != sa.literal(math.nan, sa.Float)
    else:
        pk = _rows_table("priorities", (("k", sa.Integer), ("score", sa.Float), ("reason_set", sa.BigInteger)), rows)
        joined, score, reason_set, known = (drafts.join(pk, pk.c.k == drafts.c.k), pk.c.score, pk.c.reason_set,
                                            sa.true())
    commune = drafts.c.unit_code
    moved = sorted((u, c) for u, c in communes.items() if u != c)  # units carried by another commune today
    if moved:
        remap = _rows_table("remap", (("unit_code", sa.String), ("commune_code", sa.String)), moved)
        joined = joined.outerjoin(remap, remap.c.unit_code == drafts.c.unit_code)
        commune = sa.func.coalesce(remap.c.commune_code, drafts.c.unit_code)
    province = UNITS.alias("province_of")
    joined = joined.outerjoin(province, province.c.code == commune)
    earlier = NEEDS.alias("earlier")  # a (person, topic) still open or planned from before gets no new need
    taken = sa.exists(sa.select(sa.literal(1)).select_from(earlier).where(
        earlier.c.civil_servant_id == drafts.c.cs_id, earlier.c.topic_code == drafts.c.topic_code,
        earlier.c.civil_servant_id.between(first_id, last_id),  # only the chunk's range, whatever the plan
        earlier.c.status.in_(OPEN_STATUSES),
        sa.or_(earlier.c.campaign_id.is_(None), earlier.c.campaign_id != campaign_id)))
    at = sa.literal(now, UTCDateTime())
    columns = {
        "id": _new_id(session), "civil_servant_id": drafts.c.cs_id, "campaign_id": sa.literal(campaign_id),
        "year": sa.literal(year), "kind": drafts.c.kind, "topic_code": drafts.c.topic_code,
        "competency_code": drafts.c.competency_code, "standard_code": drafts.c.standard_code,
        "required_level": drafts.c.required_level, "assessed_level": drafts.c.assessed_level, "gap": drafts.c.gap,
        "deadline": drafts.c.deadline, "priority_score": score, "reason_set_id": reason_set,
        "status": sa.literal("open"), "unit_code": drafts.c.unit_code, "commune_code": commune,
        "province_code": sa.func.coalesce(province.c.province_code, "CM"), "position_code": drafts.c.position_code,
        "plan_line_id": sa.cast(sa.null(), sa.String), "met_by": sa.cast(sa.null(), sa.String),
        "created_at": at, "met_at": sa.cast(sa.null(), UTCDateTime())}
    select = sa.select(*columns.values()).select_from(joined).where(known, ~taken)
    session.execute(sa.insert(NEEDS).from_select(list(columns), select))
