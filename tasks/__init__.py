"""Celery tasks. Each takes a job id; the job row holds everything else."""
