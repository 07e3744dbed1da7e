"""Funding service.

Owns: budget lines (fiscal year × source × owner unit), cost norms as versioned data, course settlements
("quyết toán") with their lines, and a double-entry, append-only ledger.
Publishes: funding.course_settled.
Consumes: courses.course_completed (settles the course exactly once: the database refuses a second settlement).
HTTP: /api/v1/budget-lines, /api/v1/cost-norms, /api/v1/settlements/<course_id>, /api/v1/ledger;
operators: /admin, /admin/funding/seed.
"""
