"""The job system's core: settings, job kinds, statuses and AWS plumbing.

Imports boto3 at most, never Flask, Celery or WeasyPrint, so every part
(the web app, the workers, the autoscaler Lambda) can use it.
"""
