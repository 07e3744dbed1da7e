-- One database per service: each service owns its data and never reads another's (architecture.md).
-- The postgres image runs this once, when its data volume is first initialised; to re-run it on an existing
-- volume, create the missing database by hand or remove the volume (`docker compose down -v` loses all data).
-- Tables are not created here: the one-shot `migrate` container runs `python -m shared.migrate` (Alembic).
CREATE DATABASE needs;
CREATE DATABASE courses;
CREATE DATABASE evaluation;
CREATE DATABASE funding;
