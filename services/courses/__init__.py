"""Course scheduling service.

Owns: lecturers (with fee tier), courses, sessions (date, buổi, lecturer), enrollment, attendance, completion,
and a local copy of the civil servants it may enroll (built from needs events; never reads needs' database).
Publishes: courses.course_completed.
Consumes: needs.civil_servant_registered, evaluation.feedback_requested, funding.course_settled
(a completed course is closed once feedback has been requested and the settlement is posted).
HTTP: /api/v1/lecturers, /api/v1/courses, /api/v1/trainees; operators: /admin, /admin/courses/unclosed.
"""
