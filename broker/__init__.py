"""The Celery broker on SQS: kombu's transport with SNS fanout, and its monitoring queues."""
