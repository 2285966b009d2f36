#!/usr/bin/env bash
# make docker-test: build the image, run a short sweep inside it and the same sweep outside, and
# compare: recall must be identical, QPS is reported as a ratio (container / host).
#
# Starts a Docker engine (and builds the base image) with scripts/docker-offline-setup.sh when none
# is running, and stops it again afterwards.  Exit 0 on success, 1 on a failed check, and 77 with a
# "SKIP:" reason when no engine can be started on this machine (e.g. not root).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-/usr/bin/docker}
IMAGE=${IMAGE:-annsweep:test}
VENV_BIN=${VENV_BIN:-.venv/bin}
ALGOS=${DOCKER_TEST_ALGOS:-exact,hnswlib}
DATASET=${DOCKER_TEST_DATASET:-random-xs-dense}
CORE=${DOCKER_TEST_CORE:-$(python3 -c "import os; print(max(os.sched_getaffinity(0)))")}
# Runs inside use the caller's uid; as root, a non-root uid, to show results are not root-owned.
RUN_UID=$(id -u); RUN_GID=$(id -g)
if [ "$RUN_UID" = 0 ]; then RUN_UID=${DOCKER_TEST_UID:-1000}; RUN_GID=${DOCKER_TEST_GID:-1000}; fi
WORK=$(mktemp -d /tmp/annsweep-docker-test.XXXXXX)
STARTED=0

cleanup() {
  [ "$STARTED" = 1 ] && scripts/docker-offline-setup.sh stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT

T0=$(date +%s)
if ! "$DOCKER" info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: no running Docker engine and not root, so none can be started here" >&2; exit 77
  fi
  out=$(scripts/docker-offline-setup.sh start) || { echo "SKIP: could not start a Docker engine (see above)" >&2; exit 77; }
  case "$out" in *DOCKER_STARTED=1*) STARTED=1;; esac
fi
T1=$(date +%s)

# This machine's CAs (an intercepting proxy's, if any) for apt and pip inside the build.
cp /usr/local/share/ca-certificates/*.crt certs/ 2>/dev/null || true
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --network host -t "$IMAGE" . >/dev/null
T2=$(date +%s)
IMAGE_ID=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")
SIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")

# One dataset file for both runs (prepared outside), results in two folders.
mkdir -p "$WORK/datasets" "$WORK/container/results" "$WORK/container/plots" "$WORK/host"
"$VENV_BIN/annsweep" --data-dir "$WORK/datasets" datasets prepare "$DATASET" >/dev/null 2>&1
chown -R "$RUN_UID:$RUN_GID" "$WORK/datasets" "$WORK/container" 2>/dev/null || true
RUN_ARGS=(run --algorithm "$ALGOS" --dataset "$DATASET" --k 10 --runs 3)
"$DOCKER" run --rm --network none --user "$RUN_UID:$RUN_GID" --cpuset-cpus "$CORE" \
  -e ANNSWEEP_IMAGE_ID="$IMAGE_ID" \
  -v "$WORK/datasets:/work/datasets" -v "$WORK/container/results:/work/results" \
  -v "$WORK/container/plots:/work/plots" \
  "$IMAGE" annsweep "${RUN_ARGS[@]}" >"$WORK/container.log" 2>&1 || { cat "$WORK/container.log"; exit 1; }
"$VENV_BIN/annsweep" --data-dir "$WORK/datasets" --results-dir "$WORK/host" "${RUN_ARGS[@]}" --core "$CORE" \
  >"$WORK/host.log" 2>&1 || { cat "$WORK/host.log"; exit 1; }
T3=$(date +%s)

"$VENV_BIN/python" scripts/compare_runs.py "$WORK/container/results" "$WORK/host" \
  --uid "$RUN_UID" --image-id "$IMAGE_ID" --core "$CORE"
echo "engine start + base image: $((T1 - T0)) s; image build: $((T2 - T1)) s; runs: $((T3 - T2)) s;" \
  "image size: $((SIZE / 1000000)) MB ($IMAGE, $IMAGE_ID)"
