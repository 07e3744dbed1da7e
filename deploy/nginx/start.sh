#!/bin/sh
# Entry point of the compose `proxy` service: render the template with the container's environment (only our own
# names, so nginx's variables are left alone) and run nginx in the foreground. Works on the nginx image and on a
# Debian image with nginx + gettext-base (envsubst).
set -eu
vars='${NEEDS_UPSTREAM} ${COURSES_UPSTREAM} ${EVALUATION_UPSTREAM} ${FUNDING_UPSTREAM}
${NEEDS_PROXY_LISTEN} ${COURSES_PROXY_LISTEN} ${EVALUATION_PROXY_LISTEN} ${FUNDING_PROXY_LISTEN}
${PROXY_RATE} ${PROXY_AUTH_RATE} ${PROXY_ACCESS_LOG}'
mkdir -p /etc/nginx/conf.d
rm -f /etc/nginx/conf.d/default.conf /etc/nginx/sites-enabled/default
envsubst "$vars" < /etc/nginx/thoibinh/templates/thoibinh.conf.template > /etc/nginx/conf.d/thoibinh.conf
nginx -t -q
exec nginx -g 'daemon off;'
