"""The worker process: a Celery worker on SQS that keeps long tasks' messages
invisible while they run, releases a dead child's job at once, and fails the
jobs whose messages reach a dead-letter queue. Run it with ``python -m worker``."""
