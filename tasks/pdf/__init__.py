"""PDF documents: Jinja2 templates rendered by a warm WeasyPrint, and the batch job.

``render`` and ``fetcher`` are the renderer (no Celery, no Flask); ``batch``
holds the Celery tasks that plan a batch, render its chunks and archive it.
"""
