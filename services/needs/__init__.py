"""Needs assessment service: where training needs are measured, prioritised and planned (client seed §2.1, §3.2).

Owns: administrative units over time (type xã/phường/thị trấn, parent, validity, merger history — the 12 former Thới
Bình units → 5 communes on 2025-07-01 is seeded; later reorganisations are an admin operation), the job-position
catalogue, the civil-servant registry (qualifications, flags, employment status; CSV/XLSX import and export), the
competency framework (versioned), survey campaigns, the competency record (append-only history), needs and plans.

Publishes: needs.civil_servant_registered / _updated / _left, needs.units_reorganised, needs.plan_approved.
Consumes: courses.course_completed (a certified participant's need becomes met: by need_ids, else by topic),
evaluation.course_evaluated (assessed levels appended to the competency record; a gap reached is met).

Rules (versioned data in table `rules`, valid_from/valid_to, legal basis; sample values seeded, changed with
POST /admin/needs/rules):
- combination — how one assessed level comes out of the self- and the supervisor assessment:
  "supervisor_else_self" (seeded: the supervisor's level when given, else the self-assessment), "weighted"
  ((w_self·self + w_sup·sup)/(w_self + w_sup) over the levels given, rounded half-up) or "minimum". The rule in force
  at closing is stored on the campaign.
- gap = max(0, required − assessed), required from the position's requirement in the campaign's framework version
  (a new framework version never rewrites past campaigns).
- standards — mandatory needs from unmet position standards, each {code, field, scale, minimum, topic_code,
  hard_area_only, exempt_hard_area, deadline_years, positions, basis}. Seeded: STD-LLCT (no sơ cấp LLCT →
  LLCT-SOCAP), STD-QLNN (no QLNN chuyên viên → QLNN-CV), STD-DEGREE (no bachelor → VTVL-CHUYENMON) and
  STD-DEGREE-HARD (hard-area staff: bachelor due `deadline_years`=5 after employed_from [S]).
- priority_weights — priority score = Σ points of the reasons that apply, each listed with the need:
  gap (per_gap_level × gap), mandatory standard, leadership position, hard area, ethnic minority,
  deadline passed / within 12 months / within 24 months, topic wished by the person (nguyện vọng).
Closing a campaign computes the needs set-based (combined levels by a SQL CASE built from the domain rule, levels
and needs recorded with INSERT … SELECT, usecases/gaps.py) in chunks of people. Up to NEEDS_CLOSE_INLINE_LIMIT people
(20,000: a district or a province) it runs in the request (200); above it, or with ?background=true, the request
answers 202 and the campaign is "closing" while the needs worker runs the close in NEEDS_CLOSE_LANES lanes of people
side by side (usecases/closing.py, jobs.py: each lane a durable job, chunk + lane cursor committed together,
restart-safe, progress at GET /campaigns/{id} → close_job; a lane failing 5 times is "failed" and asking to close
again re-queues it).
Reporting by former unit: needs keep the registered unit (unit_code, a former unit for people registered before the
2025 merger) beside today's commune; reports group and filter by either. A reorganisation in force moves stored
needs and plan lines to the new commune.
Plans: a yearly plan of scheme DA-2025-2030 is drafted from open needs (lines topic × today's commune [× position],
candidates by priority, split by class size, urgent lines first over quarters), targets per commune (share trained),
draft → submitted → approved (or returned to draft); approval marks the needs planned and publishes plan_approved.
Ethnicity: a code of TCTK's list of the 54 ethnic groups (QĐ 121-TCTK/PPCĐ ngày 2/3/1979; formats.ETHNIC_GROUPS,
01 Kinh … 54 Ơ Đu). The registry takes a code, the official name or a known other name («Việt» = Kinh, Khmer = Khơ-me;
case, NFC/NFD, tone marks, spaces and hyphens do not count), stores the code and derives ethnic_minority from it
(domain.is_ethnic_minority: every group but 01 Kinh); an unknown value is refused (422 naming ethnicity, every row
of an upload). Rows migration 0004 could not read have no code and keep the flag the old free text gave.
HTTP: /api/v1/units, /positions, /ethnic-groups, /civil-servants (+ /import, /export, /{id}/leave, /{id}/competencies),
/frameworks, /campaigns (+ /responses, /progress, /close[?background=true]), /needs, /plans (+ /lines, /targets, /submit, /approve,
/return), /reports/needs, /reports/plan-coverage, /reports/below-standard (format=json|csv|xlsx);
operators: /admin/needs/seed, /admin/needs/reorganisations, /admin/needs/rules.
"""
