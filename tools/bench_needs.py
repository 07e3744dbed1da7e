"""National-scale benchmark of the needs service on PostgreSQL: `python -m tools.bench_needs [--people N]`.

Builds a throw-away database with a generated registry (212,606 commune civil servants [S] across 34 provinces and
3,321 communes, the post-2025 map), a survey campaign with a self and a supervisor level for each of the 7 common
competencies, closes it as the API does (the request queues a job, the worker computes and stores the needs
set-wise in committed chunks; both timed; target ≤ 10 s, issue 16) beside the same run's per-person pass over the
same data (domain.needs_of for each person, what the close did before; `--profile` cProfiles the job), then times:
- the needs aggregation of the API report (topic × commune × position) for one province and for the whole country;
- importing a 10,000-row CSV through the real registry import use case.
The targets (issue 3) are < 2 s per aggregation and < 30 s for the import. The database is dropped at the end.
All people are SYNTHETIC (no names of real people).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import date

import sqlalchemy as sa

from services.needs import seed, usecases
from services.needs.jobs import run_close_jobs
from services.needs.models import Assessment, CivilServant, CloseJob, Unit
from services.needs.settings import get_settings
from shared.db import bulk_insert, make_engine, make_session_factory, transaction, utcnow
from shared.migrate import upgrade
from tools.isolation import create_pg_database, drop_pg_database

NATIONAL_PEOPLE = 212_606  # commune civil servants at end-2024 [S]
PROVINCES = 34  # after the 2025 reorganisation (63 → 34)
COMMUNES = 3_321  # commune-level units after 2025-07-01
IMPORT_ROWS = 10_000
AGG_TARGET_S, IMPORT_TARGET_S = 2.0, 30.0
CLOSE_TARGET_S = 10.0  # issue 16: the national close (212,606 × 7) in the worker


def _province_code(i: int) -> str:
    return f"P{i:02d}"


def generate(session, people: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Insert provinces, communes, civil servants (COPY); return the commune codes and the person ids."""
    start = date(2025, 7, 1)
    units = [{"code": _province_code(p), "name": f"Tỉnh mẫu {p}", "kind": "tinh", "province_code": _province_code(p),
              "valid_from": start, "valid_to": None, "parent_code": None} for p in range(PROVINCES)]
    communes = []
    for c in range(COMMUNES):
        province = _province_code(c % PROVINCES)
        code = f"X-{province}-{c:04d}"
        communes.append(code)
        units.append({"code": code, "name": f"Xã mẫu {c}", "kind": "xa" if c % 7 else "phuong",
                      "province_code": province, "valid_from": start, "valid_to": None, "parent_code": province})
    bulk_insert(session, Unit.__table__, units)
    positions = [p for p, _, _ in seed.POSITIONS]
    now = utcnow()
    rows, ids = [], []
    for i in range(people):
        cs_id = str(uuid.UUID(int=rng.getrandbits(128)))
        ids.append(cs_id)
        rows.append({
            "id": cs_id, "code": f"N-{i:07d}", "full_name": f"Công chức mẫu {i}",
            "gender": "female" if rng.random() < 0.45 else "male", "birth_year": rng.randint(1965, 2000),
            **(lambda kinh: {"ethnicity_code": "01" if kinh else "05", "ethnic_minority": not kinh})(rng.random() < 0.85),
            "unit_code": communes[i % COMMUNES],
            "position_code": positions[rng.randrange(len(positions))], "hard_area": rng.random() < 0.2,
            "child_under_36_months": rng.random() < 0.05, "created_at": now, "updated_at": now,
            "rank": "Chuyên viên", "major": None,
            "degree_level": rng.choices(["intermediate", "college", "bachelor", "master"], [10, 10, 70, 10])[0],
            "llct_level": rng.choices(["none", "so_cap", "trung_cap"], [20, 30, 50])[0],
            "qlnn_level": rng.choices(["none", "chuyen_vien", "chuyen_vien_chinh"], [25, 65, 10])[0],
            "it_level": "basic", "foreign_language_level": "B1", "employment_status": "active",
            "employed_from": date(rng.randint(2005, 2024), rng.randint(1, 12), 1), "status_since": None,
            "left_on": None, "left_reason": None,
        })
    for chunk in range(0, len(rows), 50_000):
        bulk_insert(session, CivilServant.__table__, rows[chunk:chunk + 50_000])
    return communes, ids


def assessments(session, campaign_id: str, ids: list[str], rng: random.Random) -> int:
    """COPY a self and a supervisor level per person per competency."""
    codes = [c for c, _, _ in seed.COMPETENCIES]
    weights = [5, 20, 40, 28, 7]
    batch, total = [], 0
    for cs_id in ids:
        for code in codes:
            sup = rng.choices((1, 2, 3, 4, 5), weights)[0]
            batch.append({"campaign_id": campaign_id, "civil_servant_id": cs_id, "competency_code": code,
                          "self_level": min(5, sup + rng.randint(0, 1)), "supervisor_level": sup})
        if len(batch) >= 200_000:
            bulk_insert(session, Assessment.__table__, batch)
            total += len(batch)
            batch = []
    bulk_insert(session, Assessment.__table__, batch)
    return total + len(batch)


def import_csv(communes: list[str], rows: int, rng: random.Random) -> bytes:
    """A registry CSV of `rows` new civil servants in the district officers' column headers (by column key, so the
    file follows the registry's columns; those not given here are left empty)."""
    columns = [c for c in usecases.REGISTRY_COLUMNS if c.key != "commune_code"]
    lines = [",".join(c.header for c in columns)]
    positions = [p for p, _, _ in seed.POSITIONS]
    for i in range(rows):
        values = {"code": f"IMP-{i:06d}", "full_name": f"Người nhập mẫu {i}", "gender": rng.choice(["Nam", "Nữ"]),
                  "birth_year": str(rng.randint(1970, 2000)), "ethnicity": "Kinh",
                  "unit_code": communes[rng.randrange(len(communes))], "position_code": rng.choice(positions),
                  "rank": "Chuyên viên", "degree_level": "bachelor", "major": "Luật", "llct_level": "so_cap",
                  "qlnn_level": "chuyen_vien", "it_level": "basic", "foreign_language_level": "B1",
                  "hard_area": rng.choice(["x", ""]), "employment_status": "active", "employed_from": "01/03/2020"}
        lines.append(",".join(values.get(c.key, "") for c in columns))
    return ("\n".join(lines) + "\n").encode("utf-8")


def per_person_pass(session, campaign_id: str) -> int:
    """The baseline of the set-wise close, same data, same run: what the close did per person before issue 16 —
    read every surveyed person and their combined levels into Python and call domain.needs_of for each (no
    writes, so a lower bound of that close). Returns the count of needs it finds (checked equal to the job's)."""
    from services.needs import domain
    from services.needs.models import Competency, Position, PositionRequirement, SurveyResponse
    job = session.get(CloseJob, campaign_id)
    framework_id = session.execute(sa.text("SELECT framework_id FROM campaigns WHERE id = :c"),
                                   {"c": campaign_id}).scalar()
    today = date.fromisoformat(job.params["today"])
    rule = domain.CombinationRule.from_data(job.params["combination"])
    weights = domain.PriorityWeights.from_data(job.params["priority_weights"])
    standards = [domain.StandardRule.from_data(r) for r in job.params["standards"]]
    required: dict[str, dict[str, int]] = {}
    for r in session.scalars(sa.select(PositionRequirement).where(PositionRequirement.framework_id == framework_id)):
        required.setdefault(r.position_code, {})[r.competency_code] = r.required_level
    topics = dict(session.execute(sa.select(Competency.code, Competency.topic_code).where(
        Competency.framework_id == framework_id)).all())
    leadership = {p.code: p.leadership for p in session.scalars(sa.select(Position))}
    levels: dict[str, dict[str, int]] = {}
    for cs_id, code, s_level, p_level in session.execute(sa.select(
            Assessment.civil_servant_id, Assessment.competency_code, Assessment.self_level,
            Assessment.supervisor_level).where(Assessment.campaign_id == campaign_id)):
        level = domain.combine(s_level, p_level, rule)
        if level is not None:
            levels.setdefault(cs_id, {})[code] = level
    found = 0
    for row in session.execute(sa.select(
            CivilServant.id, CivilServant.position_code, CivilServant.hard_area, CivilServant.ethnic_minority,
            CivilServant.degree_level, CivilServant.llct_level, CivilServant.qlnn_level, CivilServant.it_level,
            CivilServant.foreign_language_level, CivilServant.employed_from, SurveyResponse.wished_topics)
            .join(SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id)
            .where(SurveyResponse.campaign_id == campaign_id, CivilServant.employment_status != "left")):
        found += len(domain.needs_of(usecases._person(row, leadership), required.get(row.position_code, {}),
                                     levels.get(row.id, {}), topics, standards, weights, today,
                                     set(row.wished_topics or ())))
    return found


class BackendCPU:
    """The CPU seconds (user + system, from /proc) of the PostgreSQL backends this engine's connections run on,
    when the server runs on this machine; None otherwise."""

    def __init__(self, engine):
        self.pids: set[int] = set()

        @sa.event.listens_for(engine, "connect")
        def _pid(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            self.pids.add(cur.fetchone()[0])
            cur.close()
        engine.dispose()  # connections made from now on are counted

    def seconds(self) -> float | None:
        total, read, tick = 0.0, 0, os.sysconf("SC_CLK_TCK")
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a connection closed meanwhile (the pool keeps the close's), or a server elsewhere
            total += (int(fields[11]) + int(fields[12])) / tick
            read += 1
        return total if read else None


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Run fn `repeat` times; return the median seconds and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=NATIONAL_PEOPLE)
    parser.add_argument("--import-rows", type=int, default=IMPORT_ROWS)
    parser.add_argument("--profile", action="store_true", help="cProfile the close job; print the top functions")
    parser.add_argument("--lanes", type=int, default=get_settings().close_lanes,
                        help="lanes of the close, run by as many job threads (NEEDS_CLOSE_LANES)")
    args = parser.parse_args(argv)
    settings = get_settings()
    rng = random.Random(2025)
    url = create_pg_database("bench_needs")
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ok = True
    try:
        upgrade("needs", url)
        print(f"needs benchmark on PostgreSQL: {args.people:,} civil servants × 7 competencies, "
              f"{PROVINCES} provinces, {COMMUNES:,} communes")
        t0 = time.perf_counter()
        with transaction(sessions) as session:
            usecases.seed_reference_data(session)
            communes, ids = generate(session, args.people, rng)
        with transaction(sessions) as session:
            campaign = usecases.open_campaign(session, {"year": 2026, "title": "Khảo sát toàn quốc (mẫu)",
                                                        "unit_codes": communes, "deadline": date(2026, 6, 30)})
            n_assess = assessments(session, campaign.id, ids, rng)
            campaign_id = campaign.id
        print(f"  generated {len(ids):,} civil servants and {n_assess:,} assessments in "
              f"{time.perf_counter() - t0:.1f} s")
        with engine.connect() as conn:  # the statistics autovacuum keeps: a survey's answers come in over weeks
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
        # POST /api/v1/campaigns/{id}/close: a national campaign is above the inline limit, so the request only
        # queues the job; the needs worker then runs it in committed chunks (jobs.run_close_jobs).
        t0 = time.perf_counter()
        with transaction(sessions) as session:
            queued = usecases.request_close(session, campaign_id, inline_limit=settings.close_inline_limit,
                                            lanes=args.lanes)[1]
        asked = time.perf_counter() - t0
        print(f"  close request (POST …/close → {'202, job queued' if queued else '200, closed inline'}) "
              f"answered in {asked:.3f} s")
        profiler = cProfile.Profile() if args.profile else None
        backends = BackendCPU(engine)
        with engine.connect() as conn:
            lsn = conn.scalar(sa.text("SELECT pg_current_wal_insert_lsn()"))
        t0, cpu0 = time.perf_counter(), backends.seconds() or 0.0
        if profiler:
            profiler.enable()
        chunks = run_close_jobs(sessions, threads=args.lanes)
        took_close = time.perf_counter() - t0
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        cpu = None if cpu0 is None or backends.seconds() is None else backends.seconds() - cpu0
        with engine.connect() as conn:  # the whole server's WAL: on a shared server, others' writes add to it
            wal = conn.scalar(sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :lsn)"), {"lsn": lsn})
        with transaction(sessions) as session:
            job = session.get(CloseJob, campaign_id)
            print(f"  close job in the worker (combine levels, compute needs; {chunks} committed chunks of "
                  f"{usecases.CLOSE_CHUNK:,} people in {args.lanes} lane(s) side by side): {job.needs:,} needs "
                  f"({job.competency_gap:,} gaps, {job.standard:,} mandatory) for {job.people_done:,} people in "
                  f"{took_close:.1f} s (target ≤ {CLOSE_TARGET_S:.0f} s)")
            print(f"    where it went: {float(wal) / 1e6:,.0f} MB of WAL ({float(wal) / max(job.needs, 1):,.0f} bytes "
                  f"per need); the PostgreSQL backends' CPU "
                  + (f"{cpu:.1f} s" if cpu is not None else "not readable (server not on this machine)"))
        t0 = time.perf_counter()
        with transaction(sessions) as session:
            found = per_person_pass(session, campaign_id)
        took_domain = time.perf_counter() - t0
        print(f"  baseline, same data: the per-person pass the close made before (read everyone, domain.needs_of "
              f"each; no writes) {took_domain:.1f} s for {found:,} needs "
              f"({'the same count' if found == job.needs else 'A DIFFERENT COUNT'}); set-wise close / per-person "
              f"pass = {took_close / took_domain:.2f}")
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))  # what autovacuum does after a bulk load
            conn.commit()

        def rollup(group, province=None):
            with transaction(sessions) as session:
                return usecases.needs_rollup(session, group_by=group, province_code=province)

        # GET /api/v1/reports/needs?province_code=P07&group_by=commune_code,topic_code,position_code
        one, rows_one = timed(lambda: rollup(["commune_code", "topic_code", "position_code"], "P07"))
        print(f"  needs aggregation, one province (P07) by commune × topic × position: {len(rows_one):,} rows over "
              f"{sum(r['needs'] for r in rows_one):,} needs in {one:.3f} s (median of 3; target < {AGG_TARGET_S} s)")
        # GET /api/v1/reports/needs?group_by=province_code,topic_code,position_code
        whole, rows_all = timed(lambda: rollup(["province_code", "topic_code", "position_code"]))
        print(f"  needs aggregation, whole country by province × topic × position: {len(rows_all):,} rows over "
              f"{sum(r['needs'] for r in rows_all):,} needs in {whole:.3f} s (median of 3; target < {AGG_TARGET_S} s)")
        finest, rows_finest = timed(lambda: rollup(["commune_code", "topic_code", "position_code"]), repeat=1)
        print(f"  (for reference) whole country by commune × topic × position: {len(rows_finest):,} rows in "
              f"{finest:.3f} s")

        data = import_csv(communes, args.import_rows, rng)
        t0 = time.perf_counter()
        with transaction(sessions) as session:
            result = usecases.import_registry(session, data, "import.csv")
        took = time.perf_counter() - t0
        print(f"  CSV import of {result['rows']:,} rows ({len(data) / 1e6:.1f} MB): {result['registered']:,} "
              f"registered with their events in {took:.1f} s (target < {IMPORT_TARGET_S:.0f} s)")
        ok = one < AGG_TARGET_S and whole < AGG_TARGET_S and took < IMPORT_TARGET_S and took_close <= CLOSE_TARGET_S
        print("  RESULT:", "all targets met" if ok else "A TARGET WAS MISSED")
    finally:
        engine.dispose()
        drop_pg_database(url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
