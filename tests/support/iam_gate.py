"""An IAM gate in front of the emulator: every AWS request a process makes is
decided against the policies of the role that process runs under, as AWS would.

Each process gets an access key that names its principal; the gate reads what the
request asks for (``tests.support.aws_calls``), has each check decided by a real
IAM policy evaluator (``@cloud-copilot/iam-simulate``, run by Node from
``tests/support/iam``), answers ``AccessDenied`` as the service would when a check
fails, and forwards the rest to the emulator unchanged. Every decision is kept,
so a test can name the process, action and resource of a denial, and replay the
calls without one statement of a policy.
"""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.aws_calls import ACCOUNT, Call, Check, Request, Unmapped, describe

EVALUATOR = Path(__file__).with_name("iam")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Principal:
    """A process's identity: its name, the role it assumes and that role's policies."""

    name: str
    role_arn: str
    policies: tuple = ()

    def documents(self) -> list[dict]:
        return [{"name": name, "policy": doc} for name, doc in self.policies]


@dataclass
class Decision:
    """One authorization the gate made."""

    process: str
    action: str
    resource: str
    outcome: str
    context: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.process}: {self.action} on {self.resource} -> {self.outcome}"


class Evaluator:
    """A long-lived Node process deciding IAM requests, one JSON line each."""

    def __init__(self):
        node = shutil.which("node")
        if not node or not (EVALUATOR / "node_modules").is_dir():
            raise RuntimeError("the IAM evaluator is not installed: run scripts/bootstrap.sh --test "
                               "(Node.js and `npm ci` in tests/support/iam)")
        self.child = subprocess.Popen([node, str(EVALUATOR / "evaluate.mjs")], cwd=EVALUATOR,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.cache: dict[str, dict] = {}

    def decide(self, principal: Principal, check: Check) -> dict:
        """``{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", ...}``."""
        request = json.dumps({"principal": principal.role_arn, "policies": principal.documents(),
                              "action": check.action, "resource": check.resource,
                              "account": ACCOUNT, "context": check.context}, sort_keys=True)
        with self.lock:
            if request not in self.cache:
                self.child.stdin.write(request + "\n")
                self.child.stdin.flush()
                self.cache[request] = json.loads(self.child.stdout.readline())
            return self.cache[request]

    def close(self) -> None:
        self.child.stdin.close()
        self.child.wait(10)


class Gate:
    """The gate on 127.0.0.1:``port`` in front of ``upstream``, until ``close()``."""

    def __init__(self, upstream: str, evaluator: Evaluator):
        self.upstream = urlsplit(upstream)
        self.evaluator = evaluator
        self.principals: dict[str, Principal] = {}
        #: SES identities verified in the account (the operator's job before a deploy).
        self.verified_identities: set[str] = set()
        self.decisions: list[Decision] = []
        self.requests: list[tuple[str, Call, bytes]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def admit(self, key_id: str, principal: Principal) -> dict:
        """Credentials for a process acting as ``principal``."""
        self.principals[key_id] = principal
        return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": f"secret-of-{key_id}"}

    def denials(self) -> list[Decision]:
        with self.lock:
            return [d for d in self.decisions if d.outcome != "Allowed"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- deciding --------------------------------------------------------------------

    def authorize(self, request: Request) -> tuple[Call | None, str | None]:
        """The call and, when it must be refused, why (in AWS's words)."""
        try:
            call = describe(request)
        except Unmapped as exc:
            self._record(Decision("?", "?", str(exc), "Unmapped"))
            return None, f"the gate cannot tell what this request asks for: {exc}"
        principal = self.principals.get(call.key_id or "")
        if principal is None:
            self._record(Decision(call.key_id or "anonymous", call.operation, "", "UnknownKey"))
            return call, f"The security token included in the request is invalid ({call.key_id})"
        refusal = None
        for check in self._checks(call):
            answer = self.evaluator.decide(principal, check)
            self._record(Decision(principal.name, check.action, answer.get("resource", ""),
                                  answer["decision"], check.context))
            if answer["decision"] != "Allowed" and refusal is None:
                refusal = (f"User: {principal.role_arn} is not authorized to perform: "
                           f"{check.action} on resource: {answer.get('resource')} "
                           f"({answer['decision']}{': ' + json.dumps(answer['detail']) if 'detail' in answer else ''})")
        if refusal is None and call.limit_error:
            self._record(Decision(principal.name, call.operation, "", "OverLimit",
                                  {"limit": call.limit_error}))
            refusal = call.limit_error
        with self.lock:
            self.requests.append((principal.name, call, request.body if call.service == "ses"
                                  else b""))
        return call, refusal

    def _checks(self, call: Call) -> list[Check]:
        if call.service != "ses":
            return call.checks
        # SES authorizes a send against the identity that covers the sender: the address
        # itself when it is verified, else its domain.
        return call.checks[:1] if self.verified(call.checks[0].resource) else call.checks[1:]

    def verified(self, identity_arn: str) -> bool:
        return identity_arn.rsplit("/", 1)[-1] in self.verified_identities

    def _record(self, decision: Decision) -> None:
        with self.lock:
            self.decisions.append(decision)

    def forward(self, request: Request) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                                timeout=120)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            headers["Host"] = self.upstream.netloc
            connection.request(request.method, request.url, body=request.body or None,
                               headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()


def refusal_body(call: Call | None, message: str) -> tuple[int, dict, bytes]:
    """An ``AccessDenied`` answer in the protocol the client speaks."""
    protocol = call.protocol if call else "rest-xml"
    if protocol == "json":
        body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException",
                           "message": message}).encode()
        return 400, {"Content-Type": "application/x-amz-json-1.0",
                     "x-amzn-query-error": "AccessDenied;Sender"}, body
    if protocol == "rest-json":
        return 403, {"Content-Type": "application/json",
                     "x-amzn-ErrorType": "AccessDeniedException"}, \
            json.dumps({"message": message}).encode()
    if protocol == "query":
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{_xml(message)}</Message></Error></ErrorResponse>").encode()
        return 403, {"Content-Type": "text/xml"}, body
    body = f"<Error><Code>AccessDenied</Code><Message>{_xml(message)}</Message></Error>".encode()
    return 403, {"Content-Type": "application/xml"}, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _handler(gate: Gate):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self):
            request = Request(self.command, self.path, dict(self.headers.items()), self._body())
            call, refusal = gate.authorize(request)
            if refusal:
                status, headers, body = refusal_body(call, refusal)
                headers = list(headers.items())
            else:
                status, headers, body = gate.forward(request)
            self.send_response(status)
            length = str(len(body))
            for key, value in headers:
                if key.lower() == "content-length" and self.command == "HEAD":
                    length = value
                elif key.lower() not in _HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler
