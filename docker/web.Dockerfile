# The web app: gunicorn serving 'webapp:create_app()' on port 8000. No
# WeasyPrint: the web app sends tasks by name. The same image runs the
# container-image Lambdas (deploy/template.yaml sets their command):
#   entry point `python -m awslambdaric`, command `lambdas.import_upload.handler`
# Migrations: `flask --app webapp db upgrade -d webapp/migrations`.
# Build from the repository root:
#   docker build -f docker/web.Dockerfile -t jobsys-web .

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY docker/requirements/ /tmp/requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements/web.lock

FROM python:3.11-slim-bookworm
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
COPY lambdas/ lambdas/
# webapp/queues.py reads queue depths with the autoscaler's SQS adapter.
COPY autoscaler/ autoscaler/
COPY datasets/ datasets/
# gunicorn's own lines in LOG_FORMAT too (webapp/serving.py).
COPY gunicorn.conf.py .
RUN useradd --create-home --uid 10001 app
USER 10001
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--access-logfile", "-", "webapp:create_app()"]
