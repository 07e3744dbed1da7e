"""Evaluation service.

Owns the evaluation of every completed course (TT 10/2017/TT-BNV; Kirkpatrick L1–L4):
- L1: feedback requests (one per attending trainee, an unguessable token and a deadline), versioned form templates
  built from a question bank per evaluated object (programme, learners, lecturers, facilities, organisation,
  effectiveness), per-lecturer forms, anonymous responses; scoring (5 % rule, means per indicator, criterion,
  object and lecturer, general index and band) with the rules kept as versioned data;
- L2: pre/post test scores (from courses.course_completed, the API or a CSV/XLSX file), gain per competency,
  assessed levels and excellent learners by configurable rules;
- L3/L4: follow-up surveys to the trainee and the direct supervisor months later, unit indicators per commune and
  period compared before/after each course;
- a scheduler loop in the worker (DB-persisted jobs): reminders, closing the window, follow-ups;
- reports per course, topic, lecturer, commune and year (JSON, CSV, XLSX) and charts (SVG, PNG).
Publishes: evaluation.feedback_requested, evaluation.feedback_reminder_issued, evaluation.course_evaluated.
Consumes: courses.course_completed.
HTTP: the trainees' page /feedback/<token> (HTML, no JavaScript); /api/v1/… (see /docs); operators: /admin,
/admin/evaluation/{progress,jobs,notifications}.
"""
