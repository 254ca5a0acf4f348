"""Bounds on how long the server waits for PostgreSQL, so that a database that stops answering costs
requests a 503 within seconds instead of holding every worker thread for as long as it lasts.

A server that is alive but slow is bounded by its own `statement_timeout`. A stall in which nothing
answers at all (a paused proxy or VM, a hung host behind a load balancer) is invisible to TCP: the
far kernel acknowledges every byte, so keepalives and `tcp_user_timeout` never fire, and no server
timeout can cancel a statement the server never received. Only the client can bound that wait:

- `connect_timeout` bounds a new connection (libpq's rule: whole seconds, at least 2);
- a `Watchdog` shuts down the socket of a connection whose wait for an answer outlasts the
  statement timeout plus a grace, so the waiting thread fails at once and the pool drops it;
- a `ConnectGate`: once the database has failed to answer, one thread at a time tries to connect
  again while the others fail at once, so a stall does not park every thread in a connect.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import psycopg

# Longer than the statement timeout, so that a server that is alive cancels its own statement first
# (the connection stays usable) and the watchdog only acts on silence.
GRACE_SECONDS = 1.0
# A watchdog thread with nothing to watch for this long ends; the next wait starts another.
_IDLE_SECONDS = 30.0


class Watchdog:
    """Shuts down the socket of any watched wait that outlasts `limit` seconds."""

    def __init__(self, limit: float, on_cut=lambda: None) -> None:
        self.limit = limit
        self._on_cut = on_cut
        self._waits: dict[int, tuple[float, int]] = {}  # token: (deadline, socket fd)
        self._tokens = iter(range(1, 1 << 62))
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def enter(self, fd: int) -> int:
        """Watch a wait on socket `fd`; the token goes to `leave` when the wait ends."""
        with self._cond:
            token = next(self._tokens)
            idle = not self._waits
            self._waits[token] = (time.monotonic() + self.limit, fd)
            # A forked child inherits the thread object but not the thread.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            elif idle:  # the thread sleeps without a deadline; every later wait ends after this one
                self._cond.notify()
        return token

    def leave(self, token: int) -> bool:
        """End watching; False if the watchdog cut the connection meanwhile."""
        with self._cond:
            return self._waits.pop(token, None) is not None

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                expired = [token for token, (deadline, _fd) in self._waits.items() if deadline <= now]
                for token in expired:
                    _shut_down(self._waits.pop(token)[1])
                if expired:
                    self._on_cut()
                if self._waits:
                    self._cond.wait(min(deadline for deadline, _fd in self._waits.values()) - now)
                elif not self._cond.wait(_IDLE_SECONDS) and not self._waits:
                    self._thread = None
                    return


def _shut_down(fd: int) -> None:
    """Shut the socket down under its owner's feet: its poll returns, and libpq reads end-of-file.

    Called with the watchdog's lock held, while the owner is still inside its wait, so `fd` is
    still that connection's socket."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class WatchedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server (statements, fetches, COPY, commit,
    rollback) is watched by `watchdog`.

    psycopg funnels all of them through `Connection.wait`; its parameters have changed across
    versions, so they are passed on as they come."""

    watchdog: Watchdog | None = None

    def wait(self, gen, *args, **kwargs):
        dog = self.watchdog
        if dog is None:
            return super().wait(gen, *args, **kwargs)
        token = dog.enter(self.pgconn.socket)
        try:
            return super().wait(gen, *args, **kwargs)
        except psycopg.OperationalError as exc:
            if not dog.leave(token):
                raise psycopg.OperationalError(
                    f"the database gave no answer within {dog.limit:g}s; the connection was closed"
                ) from exc
            raise
        finally:
            dog.leave(token)


class ConnectGate:
    """After a connection attempt failed or a watched wait was cut, one thread at a time tries to
    connect; the others fail at once until one succeeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing = False
        self._trying = False

    def trip(self) -> None:
        with self._lock:
            self._failing = True

    def connect(self, make):
        with self._lock:
            trial = self._failing
            if trial and self._trying:
                raise psycopg.OperationalError("the database is not answering; another attempt to connect is under way")
            if trial:
                self._trying = True
        ok = False
        try:
            conn = make()
            ok = True
            return conn
        finally:
            with self._lock:
                self._failing = not ok
                if trial:
                    self._trying = False
