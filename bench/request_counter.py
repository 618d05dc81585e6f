"""A counting HTTP proxy in front of the AWS emulator: every request a process
makes is counted by (who, service, action, kind), kind being the use of the
queue or topic it names (a task queue, or a monitoring role).

Used by bench/flower_cost.py; give each process its own proxy as its
AWS_ENDPOINT_URL to attribute each request to its sender.
"""
from __future__ import annotations

import collections
import contextlib
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from broker import monitoring


class Tally:
    """Requests counted by (who, service, action, kind)."""

    def __init__(self, prefix: str):
        self.prefix, self.counts = prefix, collections.Counter()
        self._lock = threading.Lock()

    def add(self, who: str, headers, body: bytes) -> None:
        key = (who, *classify(headers, body, self.prefix))
        with self._lock:
            self.counts[key] += 1

    def take(self) -> collections.Counter:
        with self._lock:
            taken, self.counts = self.counts, collections.Counter()
        return taken


def classify(headers, body: bytes, prefix: str) -> tuple[str, str, str]:
    """(service, action, kind) of one AWS request; kind is the queue's or topic's use."""
    scope = re.search(r"/([a-z0-9-]+)/aws4_request", headers.get("Authorization", ""))
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target", "")
    if target:
        action, fields = target.rsplit(".", 1)[-1], json.loads(body or b"{}")
    else:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action, fields = form.get("Action", "?"), form
    where = (fields.get("QueueUrl") or fields.get("QueueName") or fields.get("TopicArn")
             or fields.get("SubscriptionArn") or "")
    name = re.split(r"[/:]", where)[-1] if where else ""
    if service == "sns":
        kind = "events" if "celeryev" in where else "control" if "pidbox" in where else "-"
    else:
        kind = (monitoring.role_of_sqs_name(name, prefix) or "task queue") if name else "-"
    return service, action, kind


def relay(host: str, port: int, method: str, path: str, headers, body: bytes):
    """Send one request upstream; returns (status, headers to pass on, body)."""
    upstream = http.client.HTTPConnection(host, port, timeout=60)
    try:
        upstream.request(method, path, body, {k: v for k, v in headers.items()
                                              if k.lower() not in ("connection", "expect")})
        answer = upstream.getresponse()
        data = answer.read()
    finally:
        upstream.close()
    passed = [(k, v) for k, v in answer.getheaders()
              if k.lower() not in ("transfer-encoding", "connection", "content-length")]
    return answer.status, passed, data


class _Proxy(BaseHTTPRequestHandler):
    """Counts a request, relays it to the emulator and its answer back."""

    protocol_version = "HTTP/1.1"

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host, port, who, tally = self.server.upstream
        tally.add(who, self.headers, body)
        try:
            status, headers, data = relay(host, port, self.command, self.path,
                                          self.headers, body)
        except (OSError, http.client.HTTPException) as exc:
            tally.add(f"{who} failed ({type(exc).__name__})", self.headers, body)
            status, headers, data = 502, [], b""
        try:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client stopped while its long poll was out (a process stopping)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-request is a process stopping


def start_proxy(stack: contextlib.ExitStack, target: str, who: str, tally: Tally) -> str:
    """A counting HTTP proxy to ``target`` for one process; returns its URL."""
    server = _Server(("127.0.0.1", 0), _Proxy)
    server.upstream = (urlsplit(target).hostname, urlsplit(target).port, who, tally)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_port}"
