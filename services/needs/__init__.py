"""Needs assessment service.

Owns: administrative units over time (the 12 former Thới Bình units, the 5 communes formed on 2025-07-01 and
the merger mapping), job positions, the civil-servant registry.
Publishes: needs.civil_servant_registered.
Consumes: nothing yet.
HTTP: /api/v1/units, /api/v1/positions, /api/v1/civil-servants; operators: /admin, /admin/needs/seed.
"""
