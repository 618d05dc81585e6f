# The worker: `python -m worker` (Celery on SQS) with WeasyPrint's libraries,
# HarfBuzz's subsetter (without it Japanese PDFs render ~30x slower) and the
# Japanese fonts. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t jobsys-worker .
# ECS runs it with a stop timeout of 120 s (a worker finishes its task on
# SIGTERM) and `python -m worker.health` as the container health check.
# A pool on Lambda runs the same image as a function (deploy/template.yaml sets
# its command): entry point `python -m awslambdaric`, command
# `worker.lambda_pool.handler`.

FROM python:3.11-slim-bookworm AS build
# Compilers only here, in case a package has no wheel for the target platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY docker/requirements/ /tmp/requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements/worker.lock

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    LOG_FORMAT=json \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY core/ core/
COPY store/ store/
COPY service/ service/
COPY broker/ broker/
COPY webapp/ webapp/
COPY tasks/ tasks/
COPY broker/ broker/
COPY worker/ worker/
COPY datasets/ datasets/
# For `python -m autoscaler` in local mode (docker/compose.yaml's autoscaler profile).
COPY autoscaler/ autoscaler/
RUN useradd --create-home --uid 10001 app
USER 10001
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-m", "worker.health"]
CMD ["python", "-m", "worker"]
