#!/bin/sh
# Entry point of the local RabbitMQ stand-in: the official image's environment variables, then the server itself.
set -eu
if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
  # The package leaves a read-only cookie of its own: replace it (the folder is the server user's).
  rm -f "$HOME/.erlang.cookie"
  ( umask 077; printf '%s' "$RABBITMQ_ERLANG_COOKIE" > "$HOME/.erlang.cookie" )
  chmod 400 "$HOME/.erlang.cookie"
fi
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
  # The first boot of an empty data folder creates this user instead of guest.
  printf 'default_user = %s\ndefault_pass = %s\ndefault_user_tags.administrator = true\n' \
    "$RABBITMQ_DEFAULT_USER" "${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS}" > /etc/rabbitmq/conf.d/05-default-user.conf
fi
[ -f /etc/rabbitmq/conf.d/00-defaults.conf ] || printf 'loopback_users = none\n' > /etc/rabbitmq/conf.d/00-defaults.conf
if [ "${1:-}" = rabbitmq-server ]; then
  shift
  exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
