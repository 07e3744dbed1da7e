"""Attendance by list and by the attendance sheet, excused absences, test results, the certificate rule, certificate
numbers issued once, and what courses.course_completed carries."""

import io
import re
from datetime import datetime

from tests.unit.courses.factories import API_AUTH, confirmed_course, ok, outbox


def attend(client, course, ids, absent=(), excused=()):
    records = []
    for cs in ids:
        for s in course["sessions"]:
            key = (cs, s["id"])
            records.append({"session_id": s["id"], "civil_servant_id": cs,
                            "present": key not in absent and key not in excused, "excused": key in excused})
    return ok(client.post(f"/api/v1/courses/{course['id']}/attendance", json={"records": records},
                          headers=API_AUTH), 201)


def scores(client, course, rows):
    return ok(client.post(f"/api/v1/courses/{course['id']}/results", headers=API_AUTH, json={"scores": [
        {"civil_servant_id": cs, "kind": kind, "competency_code": comp, "score": score}
        for cs, kind, comp, score in rows]}), 201)


def complete(client, course):
    ok(client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH))
    [payload] = [p for p in outbox(client, "courses.course_completed") if p["course_id"] == course["id"]]
    return {p["civil_servant_id"]: p for p in payload["participants"]}, payload


def test_certificate_needs_full_attendance_and_every_test_at_least_five(client):
    course, (good, low, absent) = confirmed_course(client, 3)
    attend(client, course, [good, low, absent], absent={(absent, course["sessions"][-1]["id"])})
    scores(client, course, [(good, "pre", "CM06", 3), (good, "post", "CM06", 8),
                            (low, "pre", "CM06", 4), (low, "post", "CM06", 4.5),
                            (absent, "post", "CM06", 9)])
    parts, payload = complete(client, course)
    assert (parts[good]["certified"], parts[low]["certified"], parts[absent]["certified"]) == (True, False, False)
    assert (parts[low]["completed"], parts[absent]["completed"]) == (True, False)
    assert parts[good]["certificate_no"].startswith("GCN-") and parts[low]["certificate_no"] is None
    assert parts[good]["tests"] == [{"kind": "pre", "competency_code": "CM06", "score": 3.0},
                                    {"kind": "post", "competency_code": "CM06", "score": 8.0}]
    assert (payload["topic_code"], payload["competency_codes"], payload["form"]) == ("KN-CNTT", ["CM06"],
                                                                                   "in_person")
    assert payload["venue"]["distances"] and payload["fostering_type"] == "job_position"
    # the venue as funding prices travel from it: the same reference the course was scheduled with
    scheduled = [p for p in outbox(client, "courses.course_scheduled") if p["course_id"] == course["id"]][-1]
    assert payload["venue"] == scheduled["venue"]
    assert payload["sessions"] == scheduled["sessions"]  # read as rows at completion, as ORM objects at scheduling
    assert (payload["start_date"], payload["end_date"], payload["total_sessions"]) == (
        scheduled["start_date"], scheduled["end_date"], len(scheduled["sessions"]))
    assert all(s["venue_id"] and s["periods"] == 4 for s in payload["sessions"])


def test_excused_absence_counts_per_the_course_policy(client):
    course, (a, b) = confirmed_course(client, 2, excused_max_percent=25)
    last = course["sessions"][-1]["id"]
    attend(client, course, [a, b], excused={(a, last)}, absent={(b, last)})
    parts, _ = complete(client, course)
    assert (parts[a]["certified"], parts[a]["excused_sessions"]) == (True, 1)
    assert parts[b]["certified"] is False


def test_excused_absence_without_a_policy_does_not_certify(client):
    course, (a,) = confirmed_course(client, 1)
    attend(client, course, [a], excused={(a, course["sessions"][0]["id"])})
    parts, _ = complete(client, course)
    assert (parts[a]["completed"], parts[a]["excused_sessions"], parts[a]["sessions_attended"]) == (False, 1, 3)


def test_present_and_excused_together_is_422_naming_excused(client):
    course, (a,) = confirmed_course(client, 1)
    resp = client.post(f"/api/v1/courses/{course['id']}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": course["sessions"][0]["id"], "civil_servant_id": a, "present": True, "excused": True}]})
    assert resp.status_code == 422 and "records.0.excused" in resp.get_json()["errors"]["json"]


def test_certificate_numbers_are_issued_once_and_never_reused(client):
    first, ids1 = confirmed_course(client, 2)
    attend(client, first, ids1)
    parts1, _ = complete(client, first)
    second, ids2 = confirmed_course(client, 1, start=datetime(2026, 4, 6).date())
    attend(client, second, ids2)
    parts2, _ = complete(client, second)
    numbers = [p["certificate_no"] for p in (*parts1.values(), *parts2.values())]
    assert len(set(numbers)) == 3 and all(re.fullmatch(r"GCN-\d{4}-\d{5}", n) for n in numbers)
    certs = ok(client.get(f"/api/v1/courses/{first['id']}/certificates", headers=API_AUTH))
    assert sorted(c["certificate_no"] for c in certs) == sorted(p["certificate_no"] for p in parts1.values())


def test_score_out_of_range_is_422(client):
    course, (a,) = confirmed_course(client, 1)
    resp = client.post(f"/api/v1/courses/{course['id']}/results", headers=API_AUTH,
                       json={"scores": [{"civil_servant_id": a, "kind": "post", "score": 10.5}]})
    assert resp.status_code == 422


# QR check-in (personal links, pending self check-ins, attempt limits): test_checkin.py


# --- the printed attendance sheet, filled in and uploaded back --------------------------------------------------------

def sheet(client, course, fmt="csv") -> bytes:
    resp = client.get(f"/api/v1/courses/{course['id']}/attendance-sheet", query_string={"format": fmt},
                      headers=API_AUTH)
    assert resp.status_code == 200
    return resp.data


def upload(client, course, data: bytes, name="diem-danh.csv"):
    return client.post(f"/api/v1/courses/{course['id']}/attendance-sheet", headers=API_AUTH,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_a_filled_in_csv_sheet_is_read_back_into_attendance(client):
    course, (a, b) = confirmed_course(client, 2)
    lines = sheet(client, course).decode("utf-8-sig").splitlines()
    filled = [lines[0]] + [line + ",x,x,P,x" if i == 0 else line + ",x,v,,x"
                           for i, line in enumerate(l.rstrip(",") for l in lines[1:])]
    resp = upload(client, course, ("\ufeff" + "\n".join(filled)).encode())
    assert resp.status_code == 201, resp.data
    assert resp.get_json() == {"count": 7}  # the blank cell is left as it was
    rows = {r["code"]: r for r in ok(client.get(f"/api/v1/courses/{course['id']}/enrollments", headers=API_AUTH))}
    first, second = (rows[line.split(",")[1]] for line in filled[1:])
    assert (first["sessions_attended"], first["excused_sessions"]) == (3, 1)
    assert (second["sessions_attended"], second["excused_sessions"]) == (2, 0)


def test_a_filled_in_xlsx_sheet_is_read_back(client):
    from openpyxl import load_workbook
    course, _ = confirmed_course(client, 1)
    book = load_workbook(io.BytesIO(sheet(client, course, "xlsx")))
    ws = book.active
    header_row = next(r for r in range(1, 6) if ws.cell(row=r, column=1).value == "STT")
    for col in range(6, 10):
        ws.cell(row=header_row + 1, column=col, value="x")
    out = io.BytesIO()
    book.save(out)
    resp = upload(client, course, out.getvalue(), "diem-danh.xlsx")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json() == {"count": 4}


def test_a_sheet_with_a_bad_mark_is_refused_whole_naming_line_and_column(client):
    course, (a, b) = confirmed_course(client, 2)
    lines = sheet(client, course).decode("utf-8-sig").splitlines()
    filled = [lines[0], lines[1].rstrip(",") + ",x,x,x,x", lines[2].rstrip(",") + ",x,?,x,x"]
    resp = upload(client, course, "\n".join(filled).encode())
    body = resp.get_json()
    # the one shape of a refused upload (shared handler): errors.files.file plus machine-readable problems
    assert resp.status_code == 422 and "dòng 3" in body["message"]
    assert any(m.startswith("Dòng 3, «s_") for m in body["errors"]["files"]["file"])
    assert [(p["line"], p["field"]) for p in body["problems"]] == [(3, f"s_{course['sessions'][1]['id']}")]
    assert all(r["sessions_attended"] == 0 for r in ok(client.get(f"/api/v1/courses/{course['id']}/enrollments",
                                                                   headers=API_AUTH)))


def test_a_sheet_naming_someone_outside_the_course_is_refused(client):
    course, _ = confirmed_course(client, 1)
    lines = sheet(client, course).decode("utf-8-sig").splitlines()
    resp = upload(client, course, "\n".join([lines[0], "9,TB-NOBODY,x,x,x,x,x,x,x,x"]).encode())
    body = resp.get_json()
    assert resp.status_code == 422 and "TB-NOBODY" in body["message"]
    assert body["problems"] == [{"line": 2, "field": "code", "message": "Mã công chức TB-NOBODY không có trong lớp."}]
    assert body["errors"]["files"]["file"] == ["Dòng 2, «code»: Mã công chức TB-NOBODY không có trong lớp."]


def test_an_upload_without_a_file_is_422_naming_file(client):
    course, _ = confirmed_course(client, 1)
    resp = client.post(f"/api/v1/courses/{course['id']}/attendance-sheet", headers=API_AUTH)
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]["json"]
