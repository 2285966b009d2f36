#!/usr/bin/env bash
# A Docker engine and a debian:bookworm-slim base image on a machine that has neither a running
# engine nor access to Docker Hub (only the Debian and PyPI mirrors):
#
#   scripts/docker-offline-setup.sh start   # apt-get docker.io + debootstrap if missing, start dockerd,
#                                           # build the base image with debootstrap + docker import
#   scripts/docker-offline-setup.sh stop    # stop the dockerd this script started (by its PID)
#
# dockerd runs with --iptables=false --bridge=none (builds and runs use --network host or none).
# State (PID, log, rootfs) lives in $ANNSWEEP_DOCKER_STATE (default /tmp/annsweep-docker).
# Needs root. Prints "DOCKER_STARTED=1" when it started the daemon (so the caller knows to stop it).
set -euo pipefail

STATE=${ANNSWEEP_DOCKER_STATE:-/tmp/annsweep-docker}
DOCKER=${DOCKER:-/usr/bin/docker}   # Debian's client: builds with the classic builder, no buildx needed
BASE_IMAGE=debian:bookworm-slim
mkdir -p "$STATE"

mirror() {  # the Debian mirror apt already uses (deb822 or one-line sources)
  local uri
  uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +(\[[^]]*\] +)?\S+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $NF}' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

start() {
  if [ "$(id -u)" != 0 ]; then echo "docker-offline-setup: needs root (apt-get, dockerd)" >&2; exit 1; fi
  if [ ! -x /usr/sbin/dockerd ] || [ ! -x "$DOCKER" ] || ! command -v debootstrap >/dev/null; then
    echo "installing docker.io and debootstrap with apt-get" >&2
    apt-get install -y -q docker.io debootstrap >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q docker.io debootstrap >/dev/null; }
  fi
  if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "starting dockerd (log: $STATE/dockerd.log)" >&2
    nohup /usr/sbin/dockerd --iptables=false --bridge=none --storage-driver=overlay2 \
      >"$STATE/dockerd.log" 2>&1 &
    echo $! >"$STATE/dockerd.pid"
    for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
    if ! "$DOCKER" info >/dev/null 2>&1; then
      echo "docker-offline-setup: dockerd did not come up in 60 s; last lines of its log:" >&2
      tail -20 "$STATE/dockerd.log" >&2
      exit 1
    fi
    echo "DOCKER_STARTED=1"
  fi
  if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    local rootfs="$STATE/rootfs" m
    m=$(mirror)
    echo "building $BASE_IMAGE with debootstrap --variant=minbase bookworm from $m" >&2
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$m" >"$STATE/debootstrap.log" 2>&1 \
      || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
  fi
  echo "docker engine up; base image $BASE_IMAGE present" >&2
}

stop() {
  local pidfile="$STATE/dockerd.pid"
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      echo "stopped dockerd (pid $pid)" >&2
    fi
    rm -f "$pidfile"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
