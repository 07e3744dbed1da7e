"""Course scheduling service.

Owns: topics ("chuyên đề"), versioned length caps and lecturer standards, lecturers (tier, qualifications, ratings),
venues (capacity, distance per commune), courses and their lifecycle (draft → scheduled → confirmed → in progress →
completed → closed, or cancelled / awaiting funds), sessions (date, buổi, tiết, lecturer, venue, UTC times),
conflict checks (trainee, lecturer, venue, commune on-duty share), enrollment with waitlist, attendance (list,
sheet, or each trainee's own QR check-in link — pending until the officer confirms it; only confirmed attendance
counts; refused attempts limited per client and per session link, 429), test results, certificates, and a local copy
of the civil servants it may enroll (from needs' events).
Publishes: courses.course_scheduled, courses.course_cancelled, courses.course_completed.
Consumes: needs.civil_servant_registered/updated/left, needs.units_reorganised, needs.plan_approved,
funding.budget_reserved/reservation_rejected, evaluation.feedback_requested, funding.course_settled,
evaluation.course_evaluated (a completed course is closed once feedback has been requested and the settlement is
posted).
HTTP: /api/v1/topics, /lecturers, /venues, /courses, /calendar, /trainees; /api/v1/rules (every rule kind with the
version in force today), /api/v1/rules/<kind> (GET all versions, POST a new one; kinds length-caps,
lecturer-standards, duty-shares, buoi-times, course-rules); QR check-in /courses/<id>/checkin-links,
/courses/<id>/enrollments/<cs>/checkin-qr, /courses/<id>/sessions/<sid>/checkin and /qr, .../self-checkins (GET;
POST /review, /<cs>/review: confirm or reject), POST /checkin/<token> (a trainee's own token); HTML pages
/checkin/me/<token> (a trainee's own link) and /checkin/<token> (a session's link; no staff codes);
operators: /admin, /admin/courses/unclosed, POST /admin/courses/seed (reference and MẪU rows, idempotent).
"""
