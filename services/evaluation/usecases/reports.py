"""Reports over closed courses (anonymous aggregates only): per course, topic, year, lecturer and sending
commune, and the full one-course report. Reads only."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain, formats
from services.evaluation.models import EvaluatedCourse, FeedbackResponse, FeedbackSubmission, TestScore
from services.evaluation.usecases.queries import commune_of as roster_communes, get_course_summary, get_followup_summary
from services.evaluation.usecases.rules import active_rule, privacy_minimum


def _closed_courses(session: Session, year: int | None) -> list[EvaluatedCourse]:
    """Closed courses (their result is frozen), of the year the course ended in when given."""
    c = EvaluatedCourse
    stmt = sa.select(c).where(c.status == "closed").order_by(c.end_date, c.code)
    if year:
        stmt = stmt.where(c.end_date.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(stmt))


def _wmean(pairs) -> float | None:
    pairs = [(v, w) for v, w in pairs if v is not None and w]
    total = sum(w for _, w in pairs)
    return round(sum(v * w for v, w in pairs) / total, 2) if total else None


def _gain_of(result: dict) -> float | None:
    gains = [g for g in result["learning_gain"] if g["gain"] is not None]
    overall = [g for g in gains if g["competency_code"] is None]
    chosen = overall or gains
    return _wmean((g["gain"], g.get("paired", 1)) for g in chosen)


def report_courses(session: Session, year: int | None = None, topic_code: str | None = None) -> list[dict]:
    """One row per evaluated course: index, band, response rate, learning gain (index and band hidden for a
    course with fewer valid forms than the privacy threshold)."""
    minimum, keys = privacy_minimum(session), ("index", "band")
    rows = domain.suppress_small(_course_rows(session, year, topic_code), "valid_responses", minimum, keys)
    # The courses of a topic add up to the topic's row, all of them to the year's: a hidden course must not come
    # back by subtraction from either (secondary suppression).
    groups = [[n for n, r in enumerate(rows) if (r["topic_code"] or "") == t] for t in sorted({r["topic_code"] or "" for r in rows})]
    groups.append(list(range(len(rows))))
    hidden = -1
    while hidden != (hidden := sum(r["suppressed"] for r in rows)):  # hiding in one group may expose another
        for members in groups:
            domain.hide_complements(rows, "valid_responses", minimum, keys, members)
    return rows


def _course_rows(session: Session, year: int | None = None, topic_code: str | None = None) -> list[dict]:
    """The per-course rows before suppression (grouped reports aggregate these, then suppress the groups)."""
    out = []
    for c in _closed_courses(session, year):
        if topic_code and c.topic_code != topic_code:
            continue
        r = c.result
        out.append({"course_id": c.course_id, "course_code": c.code, "course_title": c.title,
                    "topic_code": c.topic_code, "end_date": c.end_date, "requests": r["request_count"],
                    "responses": r["responses"], "valid_responses": r["valid_responses"],
                    "response_rate": r["response_rate"], "index": r["general_index"], "band": r["band"],
                    "gain": _gain_of(r), "excellent_learners": len(r["excellent_learners"])})
    return out


def _bands(session: Session) -> list[tuple]:
    return [tuple(b) for b in active_rule(session, "scoring")["bands"]]


def _group(rows: list[dict], key: str, session: Session) -> list[dict]:
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    bands = _bands(session)
    minimum = privacy_minimum(session)
    out = []
    for k in sorted(groups, key=lambda x: (x is None, str(x))):
        g = groups[k]
        index = _wmean((r["index"], r["valid_responses"]) for r in g)
        out.append({key: k, "courses": len(g), "requests": sum(r["requests"] for r in g),
                    "responses": sum(r["responses"] for r in g),
                    "valid_responses": sum(r["valid_responses"] for r in g),
                    "response_rate": round(sum(r["responses"] for r in g) / max(1, sum(r["requests"] for r in g)), 4),
                    "index": index, "band": domain.band(index, bands)[0] if index is not None else None,
                    "gain": _wmean((r["gain"], 1) for r in g),
                    "excellent_learners": sum(r["excellent_learners"] for r in g)})
    # Topics add up to the year: hide complements too. Years are not summed anywhere, so no complement there.
    return domain.suppress_small(out, "valid_responses", minimum, ("index", "band"), complement=key != "year")


def report_topics(session: Session, year: int | None = None) -> list[dict]:
    """Per topic: courses, responses, index (weighted by valid forms) and band, mean learning gain."""
    return _group(_course_rows(session, year), "topic_code", session)


def report_years(session: Session) -> list[dict]:
    """Per year of the course end."""
    rows = [{**r, "year": (r["end_date"].year if r["end_date"] else None)} for r in _course_rows(session)]
    return _group(rows, "year", session)


def report_lecturers(session: Session, year: int | None = None) -> list[dict]:
    """Per lecturer over the year's courses: mean (weighted by forms), band, forms, courses; suppressed under the
    privacy threshold."""
    acc: dict[str, list] = {}
    for c in _closed_courses(session, year):
        for lec in c.result["lecturer_scores"]:
            acc.setdefault(lec["lecturer_id"], []).append(lec)
    bands = _bands(session)
    minimum = privacy_minimum(session)
    rows = []
    for lid in sorted(acc):
        mean = _wmean((x["mean"], x["responses"]) for x in acc[lid])
        rows.append({"lecturer_id": lid, "courses": len(acc[lid]), "responses": sum(x["responses"] for x in acc[lid]),
                     "mean": mean, "band": domain.band(mean, bands)[0] if mean is not None else None})
    rows = domain.suppress_small(rows, "responses", minimum, ("mean", "band"))
    for row in rows:
        # The course summaries show this lecturer's mean per course except where hidden: if the hidden courses
        # hold fewer than `minimum` forms together, the year's mean gives them back by subtraction.
        hidden = sum(x["responses"] for x in acc[row["lecturer_id"]] if x["responses"] < minimum)
        if not row["suppressed"] and 0 < hidden < minimum:
            row.update(mean=None, band=None, suppressed=True)
    return rows


def report_communes(session: Session, year: int | None = None) -> list[dict]:
    """Per sending commune: trainees, response rate, satisfaction (valid forms' mean), learning gain, excellent
    learners; satisfaction suppressed under the privacy threshold."""
    courses = {c.course_id: c for c in _closed_courses(session, year)}
    if not courses:
        return []
    ids = list(courses)
    commune_of = {(cid, cs): commune for cid, c in courses.items() for cs, commune in roster_communes(c.roster).items()}
    answered_by = set(session.execute(sa.select(FeedbackSubmission.course_id, FeedbackSubmission.civil_servant_id)
                                      .where(FeedbackSubmission.course_id.in_(ids))).tuples())
    counts: dict = {}
    for key, commune in commune_of.items():  # everyone asked: the attendees of each course
        n = counts.setdefault(commune, [0, 0])
        n[0] += 1
        n[1] += key in answered_by
    reqs = [(commune, n, answered) for commune, (n, answered) in counts.items()]
    forms: dict[str, list[float]] = {}
    for commune, scores, valid in session.execute(sa.select(
            FeedbackResponse.commune_code, FeedbackResponse.scores, FeedbackResponse.valid)
            .where(FeedbackResponse.course_id.in_(ids))):
        vals = [v for v in scores.values() if v is not None]
        if valid and vals:
            forms.setdefault(commune, []).append(sum(vals) / len(vals))
    trainee_commune = commune_of
    gains: dict[str, list[float]] = {}
    tests: dict[tuple, dict] = {}
    for t in session.scalars(sa.select(TestScore).where(TestScore.course_id.in_(ids))):
        tests.setdefault((t.course_id, t.civil_servant_id, t.competency_code), {})[t.kind] = t.score
    for (cid, cs, _), kinds in tests.items():
        if "pre" in kinds and "post" in kinds:
            gains.setdefault(trainee_commune.get((cid, cs)), []).append(kinds["post"] - kinds["pre"])
    excellent: dict[str, int] = {}
    for c in courses.values():
        for x in c.result["excellent_learners"]:
            excellent[x["commune_code"]] = excellent.get(x["commune_code"], 0) + 1
    bands = _bands(session)
    rows = []
    for commune, n, answered in sorted(reqs, key=lambda r: str(r[0])):
        f = forms.get(commune, [])
        mean = round(sum(f) / len(f), 2) if f else None
        g = gains.get(commune, [])
        rows.append({"commune_code": commune, "trainees": n, "responses": answered,
                     "response_rate": round(answered / n, 4) if n else 0.0, "valid_responses": len(f),
                     "satisfaction": mean, "band": domain.band(mean, bands)[0] if mean is not None else None,
                     "gain": round(sum(g) / len(g), 2) if g else None,
                     "excellent_learners": excellent.get(commune, 0)})
    return domain.suppress_small(rows, "valid_responses", privacy_minimum(session), ("satisfaction", "band"),
                                 complement=True)


def get_course_report(session: Session, course_id: str) -> dict:
    """Everything known about one course's evaluation, and the same as report lines for CSV/XLSX."""
    s = get_course_summary(session, course_id)
    fu = get_followup_summary(session, course_id)
    return {**s, "followup": fu, "lines": formats.course_report_lines(s, fu)}


def report(session: Session, kind: str, year: int | None = None, topic_code: str | None = None) -> list[dict]:
    """The rows of one report kind (courses, topics, years, lecturers, communes)."""
    if kind == "courses":
        return report_courses(session, year, topic_code)
    if kind == "years":
        return report_years(session)
    return {"topics": report_topics, "lecturers": report_lecturers, "communes": report_communes}[kind](session, year)
