"""Evaluation service.

Owns: feedback requests (one per attending trainee, each with an unguessable token and a deadline), feedback
responses (kept anonymous in every report) and course feedback summaries scored per TT 10/2017/TT-BNV.
Publishes: evaluation.feedback_requested.
Consumes: courses.course_completed.
HTTP: /api/v1/feedback/<token>, /api/v1/courses/<id>/feedback-requests, /api/v1/courses/<id>/feedback-summary;
operators: /admin, /admin/evaluation/progress.
"""
