# Stand-in for prom/prometheus where no registry is reachable: Debian bookworm's Prometheus (2.42) on the local base
# image, laid out the way the official image is: the server as the entry point, the configuration in
# /etc/prometheus (the compose file mounts deploy/prometheus there), the data in /prometheus (a volume), run as an
# unprivileged user, SIGTERM stops it. No recommends (the node exporter); the package's web UI assets come along.
ARG BASE_IMAGE=thoibinh/bookworm:base
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus \
 && chown prometheus:prometheus /prometheus
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
