#!/usr/bin/env bash
# Builds the local base image (Debian bookworm, minbase) for hosts that reach no image registry, and imports it
# into the running Docker engine as $BASE_IMAGE (default thoibinh/bookworm:base).
#
# The root filesystem comes from the Debian mirror this host's apt is configured with, and carries the host's
# apt sources and settings, CA certificates and pip settings, so that `apt-get install` and `pip install` in the
# images built on it work exactly as they do on the host (a TLS-intercepting proxy's CA included).
#
# The tarball is cached in $CACHE_DIR (default /var/cache/thoibinh-compose): a later run, or a new Docker data
# root, imports it again in seconds instead of running debootstrap (~1-2 min).
#   usage: deploy/local/build-base.sh [--rebuild]
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-thoibinh/bookworm:base}
CACHE_DIR=${CACHE_DIR:-/var/cache/thoibinh-compose}
SUITE=${SUITE:-bookworm}
DOCKER=${DOCKER:-docker}
tarball="$CACHE_DIR/$SUITE-minbase.tar"

if [[ "${1:-}" != "--rebuild" ]] && $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base image $BASE_IMAGE present"
  exit 0
fi

mirror() {  # the first Debian mirror of the host's apt sources (deb822 or one-line format)
  local m
  m=$(grep -hs -E '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
      | grep -v -e security -e '^$' | head -n1 || true)
  [[ -n "$m" ]] || m=$(grep -hs -E '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | sed -E 's/^\s*deb\s+(\[[^]]*\]\s+)?//' | awk '{print $1}' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

if [[ "${1:-}" == "--rebuild" || ! -s "$tarball" ]]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: run make tools" >&2; exit 1; }
  mkdir -p "$CACHE_DIR"
  root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  url=$(mirror)
  echo "debootstrap --variant=minbase $SUITE from $url"
  debootstrap --variant=minbase "$SUITE" "$root" "$url" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  # The host's apt sources and settings (security mirror, snapshot options), CA certificates and pip settings.
  rm -f "$root/etc/apt/sources.list"
  cp -a /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/" 2>/dev/null || true
  [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$root/etc/apt/sources.list"
  find "$root/etc/apt/sources.list.d" -name '*.disabled*' -delete
  for f in /etc/apt/apt.conf.d/*; do
    case "$(basename "$f")" in 20packagekit|50appstream|99needrestart) ;; *) cp "$f" "$root/etc/apt/apt.conf.d/" ;; esac
  done
  cp -a /usr/share/keyrings/. "$root/usr/share/keyrings/" 2>/dev/null || true
  mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  [[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$root/etc/pip.conf"
  # Smaller image: no docs, no man pages, no apt lists.
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' \
    > "$root/etc/dpkg/dpkg.cfg.d/01-nodoc"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . > "$tarball.part"
  mv "$tarball.part" "$tarball"
  echo "cached $tarball ($(du -h "$tarball" | cut -f1))"
fi

$DOCKER import - "$BASE_IMAGE" < "$tarball" >/dev/null
echo "imported $BASE_IMAGE"
