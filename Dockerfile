# annsweep in a container, for runs that another machine can reproduce.
#
#   make docker                                   # docker build --network host -t annsweep .
#   docker build --build-arg EXTRAS=lucene -t annsweep .    # optional groups: lucene, embed, dense, engines, sparse
#   docker build --build-arg ENVIRONMENTS= -t annsweep .     # skip the adapters' own virtualenvs (diskann)
#   docker run --rm --user "$(id -u):$(id -g)" --cpuset-cpus 1 \
#       -v "$PWD/datasets:/work/datasets" -v "$PWD/results:/work/results" -v "$PWD/plots:/work/plots" \
#       annsweep annsweep run --algorithm hnswlib --dataset random-xs-dense
#
# The default command runs the default sweep (random-xs-dense, every adapter) and writes the report.
# Runs pin to the highest core the container may use (--cpuset-cpus), as outside.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ARG EXTRAS=""
# Adapters with pins of their own (config.yml `environment:`, e.g. diskann) get their virtualenvs at
# image build time, since a container may run without network: "all", a comma list, or "" for none.
ARG ENVIRONMENTS=all
ARG PYSERINI=pyserini==1.6.0
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# Optional corporate / interception CAs: every certs/*.crt of the build context is trusted by apt
# (appended to the bundle before the first download) and by pip (PIP_CERT, rebuilt bundle).
COPY certs/ /tmp/certs/
RUN set -eu; \
    mkdir -p /etc/ssl/certs /usr/local/share/ca-certificates; \
    for crt in /tmp/certs/*.crt; do [ -f "$crt" ] || continue; \
        cp "$crt" /usr/local/share/ca-certificates/; cat "$crt" >> /etc/ssl/certs/ca-certificates.crt; done; \
    apt-get update -q; \
    apt-get install -y -q --no-install-recommends ca-certificates python3 python3-venv python3-dev gcc g++ make; \
    update-ca-certificates; \
    rm -rf /var/lib/apt/lists/* /tmp/certs

# The project with its pinned dependencies, installed as `make install` does (editable: the blocked
# index's C extension is built in place, next to its adapter).
WORKDIR /opt/annsweep
COPY pyproject.toml setup.py README.md ./
COPY harness/ harness/
COPY algorithms/ algorithms/
RUN set -eu; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --quiet --upgrade pip; \
    /opt/venv/bin/pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"; \
    case ",$EXTRAS," in *,lucene,*) /opt/venv/bin/pip install --quiet --no-deps "$PYSERINI";; esac; \
    /opt/venv/bin/python -c "import algorithms._blocked, hnswlib, faiss"; \
    case "$ENVIRONMENTS" in "") ;; all) ANNSWEEP_ENVIRONMENTS_DIR=/opt/envs /opt/venv/bin/annsweep algorithms --build-environments;; \
        *) ANNSWEEP_ENVIRONMENTS_DIR=/opt/envs /opt/venv/bin/annsweep algorithms --build-environments $(echo "$ENVIRONMENTS" | tr , " ");; esac

# Any --user can run it: nothing under /opt is written at run time; HOME and caches go to /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    ANNSWEEP_ALGORITHMS_DIR=/opt/annsweep/algorithms \
    ANNSWEEP_ENVIRONMENTS_DIR=/opt/envs \
    ANNSWEEP_DATA_DIR=/work/datasets \
    ANNSWEEP_RESULTS_DIR=/work/results \
    ANNSWEEP_SOURCE_DIR=/work/datasets/sources \
    ANNSWEEP_MODEL_DIR=/work/datasets/models
WORKDIR /work
CMD ["sh", "-c", "annsweep run --dataset random-xs-dense --k 10 --runs 3; status=$?; annsweep report || exit 1; exit $status"]
