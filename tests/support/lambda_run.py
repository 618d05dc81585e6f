"""Run a Lambda handler once, as the Lambda runtime would: ``python -m
tests.support.lambda_run <module.function>`` with the event as JSON on stdin;
prints the handler's answer as JSON on stdout (exit 1 with the error otherwise)."""
from __future__ import annotations

import importlib
import json
import sys
import traceback


def main(argv: list[str]) -> int:
    module, _, function = argv[1].rpartition(".")
    event = json.loads(sys.stdin.read() or "{}")
    try:
        answer = getattr(importlib.import_module(module), function)(event, None)
    except Exception:
        traceback.print_exc()
        return 1
    print(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
