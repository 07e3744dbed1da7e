"""Use cases of the evaluation service: its application API. Each takes a session inside the caller's
transaction (the view, handler or job owns the unit of work), may flush and never commits. One module per
capability; this file only re-exports them."""
from services.evaluation.usecases.closing import (
    close_feedback, close_feedback_now, run_due_jobs, run_window, send_reminders,
)
from services.evaluation.usecases.feedback import open_feedback, submit_course_feedback, submit_feedback
from services.evaluation.usecases.followup import open_followup, schedule_followup_now, submit_followup
from services.evaluation.usecases.indicators import delete_indicator, import_indicators, upsert_indicators
from services.evaluation.usecases.learning import import_test_scores, record_test_scores
from services.evaluation.usecases.queries import (
    compute_result, feedback_link, find_course, get_course_summary, get_feedback_form, get_followup_summary,
    get_form_context, indicator_comparison, list_followup_requests, list_indicators, list_notifications,
    list_progress, list_requests, list_test_scores,
)
from services.evaluation.usecases.reports import (
    get_course_report, report, report_communes, report_courses, report_lecturers, report_topics, report_years,
)
from services.evaluation.usecases.rules import (
    RULE_KINDS, active_rule, active_rules, add_bank_item, add_rule_version, create_template_version, list_bank,
    list_rule_versions, list_rules_in_force, list_templates,
)

__all__ = [
    "RULE_KINDS", "active_rule", "active_rules", "add_bank_item", "add_rule_version", "close_feedback",
    "close_feedback_now", "compute_result", "create_template_version", "delete_indicator", "feedback_link",
    "find_course", "get_course_report", "get_course_summary", "get_feedback_form", "get_followup_summary",
    "get_form_context", "import_indicators", "import_test_scores", "indicator_comparison", "list_bank",
    "list_followup_requests", "list_indicators", "list_notifications", "list_progress", "list_requests",
    "list_rule_versions", "list_rules_in_force", "list_templates", "list_test_scores", "open_feedback",
    "open_followup", "record_test_scores", "report", "report_communes", "report_courses", "report_lecturers",
    "report_topics", "report_years", "run_due_jobs", "run_window", "schedule_followup_now", "send_reminders",
    "submit_course_feedback", "submit_feedback", "submit_followup", "upsert_indicators",
]
