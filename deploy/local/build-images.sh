#!/usr/bin/env bash
# Local stand-ins for python:3.11-slim, rabbitmq:3.13-management, postgres:16, nginx:1.27 and prom/prometheus on
# the local base image, for hosts that reach no image registry (`make images`). The engine's layer cache keeps
# them: a run after the first takes seconds (only a changed entry point is copied again); --rebuild builds
# everything again without the cache (after a Debian point release, say). Use them with PYTHON_IMAGE,
# RABBITMQ_IMAGE, POSTGRES_IMAGE, NGINX_IMAGE and PROMETHEUS_IMAGE (deploy/env.example). Grafana has no Debian package and no stand-in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DOCKER=${DOCKER:-docker}
BASE_IMAGE=${BASE_IMAGE:-thoibinh/bookworm:base}
"$here/build-base.sh" ${1:-}
# The five in parallel (mostly apt downloads): ~1.5 min the first time instead of ~5.
pids=()
for kind in python rabbitmq postgres nginx prometheus; do
  (
    tag="thoibinh/$kind:local"
    start=$(date +%s)
    # Host networking: the engine may run without a bridge; apt and pip reach the host's mirrors and index.
    $DOCKER build -q --network host ${1:+--no-cache} --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$here/$kind.Dockerfile" \
      -t "$tag" "$here" 2> >(grep -v -e DEPRECATED -e buildx -e 'docs.docker.com' -e '^\s*$' >&2) >/dev/null
    echo "built $tag in $(( $(date +%s) - start )) s"
  ) &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
