#!/bin/bash
# Run once by the postgres image when its data volume is first initialised (docker-entrypoint-initdb.d).
# One database per service, owned by one login role per service (same name), with that service's password
# (<SERVICE>_DB_PASSWORD): each service owns its data and never reads another's (architecture.md). Roles are
# not superusers, cannot create databases or roles, and may connect only to their own database; the migrate jobs
# create the tables with the same role (shared.migrate <service>), so the role owns its schema and tables.
# To re-run on an existing volume, run these statements by hand or remove the volume (`down -v` loses all data).
set -euo pipefail

create_service_database() {  # <service> <password>
  psql -v ON_ERROR_STOP=1 -q --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v svc="$1" -v pw="$2" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"svc" TO :"svc";
SQL
}

create_service_database needs "${NEEDS_DB_PASSWORD:?NEEDS_DB_PASSWORD}"
create_service_database courses "${COURSES_DB_PASSWORD:?COURSES_DB_PASSWORD}"
create_service_database evaluation "${EVALUATION_DB_PASSWORD:?EVALUATION_DB_PASSWORD}"
create_service_database funding "${FUNDING_DB_PASSWORD:?FUNDING_DB_PASSWORD}"

# Nobody but the superuser connects to the maintenance databases.
psql -v ON_ERROR_STOP=1 -q --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
SQL
