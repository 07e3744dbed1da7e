"""Funding service.

Owns: budget lines (fiscal year × source × owner unit), cost norms as versioned data, course settlements
("quyết toán") with their lines, and a double-entry, append-only ledger.
Publishes: funding.budget_reserved, funding.reservation_rejected, funding.course_settled.
Consumes: courses.course_scheduled (estimate, reserve), courses.course_cancelled (release), courses.course_completed
(settle exactly once), evaluation.course_evaluated (rewards), needs.civil_servant_left (repayment receivables),
needs.civil_servant_registered / needs.civil_servant_updated (staff codes for payee lists; no names are kept).
HTTP: /api/v1/budget-lines, /api/v1/rules (+ /rules/cost-norms, its import and CSV/XLSX), /api/v1/courses/<id>/estimate,
/api/v1/settlements/<course_id> (+ /payees), /api/v1/ledger, /api/v1/degree-commitments, /api/v1/receivables,
/api/v1/incentives, /api/v1/reports/*;
operators: /admin, /admin/funding/seed, /admin/funding/verify.
"""
