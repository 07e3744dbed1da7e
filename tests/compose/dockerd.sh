#!/usr/bin/env bash
# Starts a private Docker engine for `make test-compose` if none answers on $DOCKER_SOCK, and prints nothing else
# on success. Loopback only: no bridge, no iptables rules (containers use host networking); its own data root
# (the image cache persists between runs), pid file and socket, so a host's own dockerd is never touched.
# Exit 3 = dockerd cannot start here (not root, no binary, or it dies): the caller skips with that message.
set -uo pipefail
DOCKER_SOCK=${DOCKER_SOCK:-/run/thoibinh-docker.sock}
DATA_ROOT=${DOCKER_DATA_ROOT:-/var/lib/thoibinh-docker}
LOG=${DOCKERD_LOG:-/var/log/thoibinh-dockerd.log}
export DOCKER_HOST="unix://$DOCKER_SOCK"

docker version >/dev/null 2>&1 && exit 0
command -v dockerd >/dev/null || { echo "no dockerd binary (make tools installs docker.io)"; exit 3; }
[[ $(id -u) == 0 ]] || { echo "dockerd needs root and this runs as $(id -un)"; exit 3; }
mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
setsid dockerd --host "unix://$DOCKER_SOCK" --data-root "$DATA_ROOT" --exec-root /run/thoibinh-docker \
  --pidfile /run/thoibinh-dockerd.pid --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  >>"$LOG" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  docker version >/dev/null 2>&1 && exit 0
  kill -0 $! 2>/dev/null || break
  sleep 0.5
done
echo "dockerd did not start: $(tail -n 3 "$LOG" | tr '\n' ' ' | cut -c1-400)"
exit 3
