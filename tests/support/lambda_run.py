"""Run a Lambda handler as the Lambda runtime would, with a context like Lambda's.

    python -m tests.support.lambda_run <module.function>
        one invocation: the event as JSON on stdin, the answer as JSON on stdout's last
        line (exit 1 with the error otherwise)
    python -m tests.support.lambda_run <module.function> --serve FD
        a warm execution environment: one event per line on stdin, one result per line
        on file descriptor FD ({"answer": …} or {"error": …}), until stdin closes

The context's deadline is the function's timeout (``AWS_LAMBDA_FUNCTION_TIMEOUT``,
which this runner reads and Lambda keeps to itself) from the start of each invocation.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    """What Lambda passes a handler as its second argument."""

    def __init__(self, environ=os.environ):
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        region = environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = (f"arn:aws:lambda:{region}:123456789012:function:"
                                     f"{self.function_name}")
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", 3))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def invoke(handler, event: dict) -> dict:
    """``{"answer": …}``, or ``{"error": …}`` with the traceback, as Lambda reports it."""
    try:
        return {"answer": handler(event, Context())}
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.lambda_run")
    parser.add_argument("handler")
    parser.add_argument("--serve", type=int, metavar="FD")
    args = parser.parse_args(argv[1:])
    module, _, function = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module), function)
    if args.serve is None:
        result = invoke(handler, json.loads(sys.stdin.read() or "{}"))
        if "error" in result:
            return 1
        print(json.dumps(result["answer"], default=str))
        return 0
    with os.fdopen(args.serve, "w") as results:
        for line in sys.stdin:
            results.write(json.dumps(invoke(handler, json.loads(line)), default=str) + "\n")
            results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
