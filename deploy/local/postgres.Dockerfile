# Stand-in for postgres:16 where no registry is reachable: Debian bookworm's PostgreSQL 15 with an entry point
# that behaves like the official image's for what docker-compose.yml uses: POSTGRES_USER/POSTGRES_PASSWORD, an
# empty PGDATA initialised on first start, /docker-entrypoint-initdb.d/*.sql and *.sh run once, then
# `postgres [args]` in the foreground (SIGTERM = smart shutdown). PGPORT sets the port.
ARG BASE_IMAGE=thoibinh/bookworm:base
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 2777 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
