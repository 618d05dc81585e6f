# Flower, the operators' dashboard, on the SQS broker (docs/flower.md):
#   celery --app worker.flower:app flower --port=5555
# Give it FLOWER_BASIC_AUTH=user:password (or the FLOWER_OAUTH2_* variables)
# and the workers' AWS_REGION and QUEUE_PREFIX. Build from the repository root:
#   docker build -f docker/flower.Dockerfile -t jobsys-flower .

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY docker/requirements/ /tmp/requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements/flower.lock

FROM python:3.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    LOG_FORMAT=json \
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
COPY autoscaler/ autoscaler/
RUN useradd --create-home --uid 10001 app
USER 10001
EXPOSE 5555
CMD ["celery", "--app", "worker.flower:app", "flower", "--port=5555"]
