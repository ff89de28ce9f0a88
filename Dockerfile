# syntax=docker/dockerfile:1
#
# tsunagu production image: the official Airflow image plus the tsunagu project
# installed with the dependency versions locked in uv.lock.
#
#   docker compose build            # uses this file (see docker-compose.yaml)
#
# AIRFLOW_VERSION must equal the apache-airflow version in uv.lock; the build
# stops if it does not (tests/test_compose.py checks the same thing offline).

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

############################################################################
# Stage 1: turn uv.lock into a hashed requirements file and build the wheel
############################################################################
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS build

ARG AIRFLOW_VERSION
# The uv that wrote uv.lock (lock revision 5); bump together with the lock.
ARG UV_VERSION=0.13.9

USER root
RUN mkdir -p /tmp/tsunagu && chown airflow:0 /tmp/tsunagu
USER airflow
WORKDIR /tmp/tsunagu

# A throwaway venv for uv so that the Airflow environment of this stage is untouched.
RUN python -m venv /tmp/uv-venv \
 && /tmp/uv-venv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Locked runtime dependencies only (no dev group, not the project itself), with hashes.
COPY --chown=airflow:0 pyproject.toml uv.lock ./
RUN /tmp/uv-venv/bin/uv export --frozen --no-dev --no-emit-project --format requirements-txt \
        --output-file /tmp/tsunagu/requirements.txt \
 && if ! grep -q "^apache-airflow==${AIRFLOW_VERSION} " /tmp/tsunagu/requirements.txt; then \
        echo "uv.lock does not pin apache-airflow==${AIRFLOW_VERSION}; align AIRFLOW_VERSION and the lock" >&2; \
        exit 1; \
    fi

# The project wheel (package `tsunagu` from src/).
COPY --chown=airflow:0 README.md ./
COPY --chown=airflow:0 src/ ./src/
RUN /tmp/uv-venv/bin/uv build --wheel --out-dir /tmp/tsunagu/dist

# DAGs, plugins and include/ (config, SQL, templates). plugins/ may be empty and
# then absent from a clone, so gather the tree here where a missing folder is harmless.
COPY --chown=airflow:0 . /tmp/tsunagu/context/
RUN mkdir -p /tmp/tsunagu/tree \
 && for d in dags plugins include; do \
        mkdir -p "/tmp/tsunagu/tree/$d"; \
        if [ -d "/tmp/tsunagu/context/$d" ]; then cp -R "/tmp/tsunagu/context/$d/." "/tmp/tsunagu/tree/$d/"; fi; \
    done \
 && find /tmp/tsunagu/tree -name __pycache__ -prune -exec rm -rf {} +

############################################################################
# Stage 2: the runtime image
############################################################################
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION

LABEL org.opencontainers.image.title="tsunagu" \
      org.opencontainers.image.description="tsunagu data pipeline on Apache Airflow ${AIRFLOW_VERSION}"

# Where tsunagu keeps state (a named volume in docker-compose.yaml) and reads include/ from.
ENV TSUNAGU_HOME=/opt/tsunagu/var \
    TSUNAGU_INCLUDE=/opt/airflow/include \
    TSUNAGU_LANDING=/opt/tsunagu/landing \
    TSUNAGU_PUBLISH_DIR=/opt/tsunagu/published

USER root
# Group 0 owns everything so the image also runs under an arbitrary UID (as the official image does).
RUN mkdir -p /opt/tsunagu/var /opt/tsunagu/landing /opt/tsunagu/published /opt/airflow/include \
 && chown -R airflow:0 /opt/tsunagu /opt/airflow/include \
 && chmod -R g+rwX /opt/tsunagu

# As the official image docs require: pip install as the airflow user, with the image's
# apache-airflow version pinned (requirements.txt pins apache-airflow==${AIRFLOW_VERSION}
# with hashes, checked in the build stage), then the project itself without re-resolving.
USER airflow
COPY --from=build /tmp/tsunagu/requirements.txt /tmp/tsunagu-build/requirements.txt
COPY --from=build /tmp/tsunagu/dist/ /tmp/tsunagu-build/dist/
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/tsunagu-build/requirements.txt \
 && pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/tsunagu-build/dist/*.whl \
 && python -c "import importlib.metadata as m, sys; v = m.version('apache-airflow'); sys.exit(0 if v == '${AIRFLOW_VERSION}' else f'apache-airflow {v} != ${AIRFLOW_VERSION}')" \
 && python -c "import tsunagu, airflow.providers.celery"

COPY --from=build --chown=airflow:0 /tmp/tsunagu/tree/dags/ /opt/airflow/dags/
COPY --from=build --chown=airflow:0 /tmp/tsunagu/tree/plugins/ /opt/airflow/plugins/
COPY --from=build --chown=airflow:0 /tmp/tsunagu/tree/include/ /opt/airflow/include/
