"""``celery -A worker worker -Q …``: the queues named on Celery's command line decide
which queues (and so which task code) the worker's app is built for."""
import pytest

from worker.celery import queues_from_argv


@pytest.mark.parametrize("argv, queues", [
    (["celery", "-A", "worker", "worker", "-Q", "pdf,default"], ("pdf", "default")),
    (["celery", "-A", "worker", "worker", "--queues", "imports"], ("imports",)),
    (["celery", "-A", "worker", "worker", "--queues=exports,default"], ("exports", "default")),
    (["celery", "-A", "worker", "worker", "-Qpdf"], ("pdf",)),
    (["celery", "-A", "worker", "worker", "--concurrency", "2"], None),
    (["celery", "-A", "worker", "worker", "-Q"], None),
])
def test_the_queues_come_from_q_or_queues(argv, queues):
    assert queues_from_argv(argv) == queues
