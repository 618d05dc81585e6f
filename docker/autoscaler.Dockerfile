# The autoscaler Lambda: the `autoscaler` package, core's environment reader and EMF
# writer (`core/env.py`, `core/metrics.py`, standard library only) and boto3, nothing
# else (docs/autoscaler.md).
# Handler `autoscaler.lambda_handler.handler`.
# Build from the repository root:
#   docker build -f docker/autoscaler.Dockerfile -t jobsys-autoscaler .

FROM public.ecr.aws/lambda/python:3.11
ENV LOG_FORMAT=json
COPY docker/requirements/autoscaler.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.lock
COPY autoscaler/ ${LAMBDA_TASK_ROOT}/autoscaler/
COPY core/__init__.py core/env.py core/metrics.py ${LAMBDA_TASK_ROOT}/core/
CMD ["autoscaler.lambda_handler.handler"]
