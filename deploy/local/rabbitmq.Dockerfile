# Stand-in for rabbitmq:3.13-management where no registry is reachable: Debian bookworm's RabbitMQ 3.10 (quorum
# queues with at-least-once dead-lettering need >= 3.10) with the management plugin, started the way the
# official image starts it: the server in the foreground, logs on stdout, SIGTERM stops it, data in
# /var/lib/rabbitmq, extra config in /etc/rabbitmq/conf.d. Debian's /usr/sbin/rabbitmq-server launcher logs to a
# file and does not forward stop signals, so the entrypoint runs /usr/lib/rabbitmq/bin/rabbitmq-server itself.
ARG BASE_IMAGE=thoibinh/bookworm:base
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* \
 && rabbitmq-plugins --offline enable rabbitmq_management >/dev/null \
 && mkdir -p /etc/rabbitmq/conf.d /var/lib/rabbitmq \
 && chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq
COPY rabbitmq-entrypoint.sh /usr/local/bin/rabbitmq-entrypoint.sh
ENV HOME=/var/lib/rabbitmq RABBITMQ_LOGS=- RABBITMQ_CONFIG_FILES=/etc/rabbitmq/conf.d LANG=C.UTF-8
USER rabbitmq
EXPOSE 5672 15672
ENTRYPOINT ["/usr/local/bin/rabbitmq-entrypoint.sh"]
CMD ["rabbitmq-server"]
