"""python -m autoscaler: the local loop until Ctrl-C or SIGTERM.

Reads the same settings as the Lambda (docs/autoscaler.md); in local mode it
starts and stops ``python -m worker`` processes and stops them all when it ends.
Wake signals on ``<QUEUE_PREFIX>wake.fifo``, when that queue exists, make it
decide at once; workers' reports on it are folded into the next round.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from botocore.exceptions import ClientError

from autoscaler import logformat
from autoscaler.bootstrap import build, make_clients
from autoscaler.config import load
from autoscaler.errors import ConfigurationError
from autoscaler.loop import LocalLoop
from autoscaler.wake import SqsWakeListener, wake_queue_name

log = logging.getLogger("autoscaler")


def main(argv: list[str] | None = None, environ=None) -> int:
    """Run the local loop; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m autoscaler")
    parser.add_argument("--log-dir", type=Path, help="local workers' logs go here")
    args = parser.parse_args(argv)
    environ = dict(os.environ if environ is None else environ)
    try:
        config = load(environ)
    except ConfigurationError as exc:
        logformat.configure("text")
        log.error("%s", exc)
        return 2
    logformat.configure(config.log_format)
    clients = make_clients(config)
    autoscaler = build(config, clients, environ=environ, log_dir=args.log_dir,
                       cwd=os.getcwd())
    loop = LocalLoop(autoscaler, config.interval)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: loop.stop())
    _listen_for_wakes(clients.sqs, config.queue_prefix, loop)
    try:
        loop.run()
    finally:
        for pool in autoscaler.pools:
            pool.scaler.close()
    return 0


def _listen_for_wakes(sqs, prefix: str, loop: LocalLoop) -> None:
    name = wake_queue_name(prefix)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError:
        log.info("no wake queue %s: deciding every interval only", name)
        return
    listener = SqsWakeListener(sqs, url, loop.wake, wait_seconds=5)
    threading.Thread(target=listener.run, args=(loop.stopped,), name="autoscaler-wake",
                     daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
