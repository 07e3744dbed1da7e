"""The application API of the courses service: one module per capability, re-exported here (no code).

The caller owns the unit of work: every use case takes a session inside the caller's transaction (a view's
`ctx().transaction()`, the consumer's batch, a job), may flush, and never commits.
"""
from services.courses.usecases.registry import (upsert_trainee, record_departure, remap_communes)
from services.courses.usecases.catalogue import (create_topic, create_lecturer, list_lecturers, get_lecturer,
    record_lecturer_ratings, create_venue, update_venue, seed_reference_data)
from services.courses.usecases.rules import (add_length_cap, add_lecturer_standard, set_duty_share, set_buoi_time,
    add_course_rule, list_rule_versions, list_rules_in_force, RULE_KINDS)
from services.courses.usecases.drafts import (create_course, update_course, add_sessions, update_session,
    delete_session)
from services.courses.usecases.conflicts import (BookingIndex, find_conflicts, course_conflicts, BOOKING_LOCK)
from services.courses.usecases.scheduling import (schedule_course, schedule_courses, record_budget_reserved,
    record_reservation_rejected, start_course, cancel_course)
from services.courses.usecases.proposals import (propose_courses)
from services.courses.usecases.enrollment import (enroll, withdraw)
from services.courses.usecases.attendance import (record_attendance, import_attendance_sheet, record_results)
from services.courses.usecases.checkin import (CheckinLimits, Refused, checkin_page, personal_checkin_page,
    check_in, session_checkin_link, personal_checkin_links, personal_checkin_token,
    list_self_checkins, review_self_checkins)
from services.courses.usecases.completion import (complete_course, record_feedback_requested, record_settlement)
from services.courses.usecases.queries import (get_course, list_courses, list_enrollments, list_candidates,
    list_certificates, list_trainees, list_topics, list_venues, list_calendar, list_document_rows,
    list_unclosed_courses)
__all__ = ["upsert_trainee", "record_departure", "remap_communes", "create_topic", "create_lecturer",
           "list_lecturers", "get_lecturer", "record_lecturer_ratings", "create_venue", "update_venue",
           "seed_reference_data", "add_length_cap", "add_lecturer_standard", "set_duty_share", "set_buoi_time",
           "add_course_rule", "list_rule_versions", "list_rules_in_force", "RULE_KINDS", "create_course",
           "update_course", "add_sessions", "update_session", "delete_session", "BookingIndex", "find_conflicts",
           "course_conflicts", "BOOKING_LOCK", "schedule_course", "schedule_courses", "record_budget_reserved",
           "record_reservation_rejected", "start_course", "cancel_course", "propose_courses", "enroll", "withdraw",
           "record_attendance", "import_attendance_sheet", "record_results", "CheckinLimits", "Refused",
           "checkin_page", "personal_checkin_page", "check_in", "session_checkin_link",
           "personal_checkin_links", "personal_checkin_token", "list_self_checkins", "review_self_checkins",
           "complete_course", "record_feedback_requested", "record_settlement", "get_course", "list_courses",
           "list_enrollments", "list_candidates", "list_certificates", "list_trainees", "list_topics", "list_venues",
           "list_calendar", "list_document_rows", "list_unclosed_courses"]
