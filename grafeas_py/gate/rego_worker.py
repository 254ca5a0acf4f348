"""The process that runs regopy for `rego`: one per server process, killed and replaced when it overruns.

Why a process: regopy is a native call that cannot be interrupted, so a runaway module (a
quadratic comprehension over a large input) would hold a server thread for as long as it runs.
The worker is started on first use, answers one JSON-lines request at a time (a lock serialises
the threads of one server process), and is killed when a request exceeds its time limit; a new
one is started at once in the background, so that the next request need not wait for it to
start. Compiled modules are cached in the worker by source text.
Measured on a shared 2-vCPU machine with 200 occurrences: about 30 ms per evaluation, half of it
regopy's conversion of the input (`Interpreter.set_input`); starting a worker costs about 0.2 s.

regopy's failures come in three forms, all reported as one RegoFailure: `RegoError` (syntax and
compile errors, with file:line:col), output that is not JSON (an undefined function, recursion;
the Python wrapper raises `json.JSONDecodeError`) and `Output.ok() == False` (a builtin that failed,
or conflicting values of a complete rule; regopy says neither, so `_failure` tells them apart).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time

START_TIMEOUT = 30.0  # seconds, for a new worker to import regopy
MODULE_FILE = "gate.rego"


class RegoFailure(Exception):
    """Rego could not give an answer: the module failed to compile or run, or ran too long."""


def call(request: dict, timeout: float) -> object:
    """Evaluate `{"module", "input"}` in this process's worker: the value of `data.gate` (None when undefined)."""
    return _worker().call(request, timeout)


# ---- the parent's side of the worker --------------------------------------------------------------------------


class _Worker:
    """One regopy worker process, spoken to in JSON lines over its stdin and stdout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._buffer = b""

    def call(self, request: dict, timeout: float) -> object:
        """Send one request and wait up to `timeout` seconds; the worker is replaced if it overruns."""
        try:
            line = json.dumps(request).encode() + b"\n"
        except (TypeError, ValueError) as error:
            raise RegoFailure(f"the Rego input is not JSON: {error}") from None
        with self._lock:
            process = self._running()
            try:
                process.stdin.write(line)
                process.stdin.flush()
            except OSError:
                self._replace()
                raise RegoFailure("the Rego worker exited unexpectedly") from None
            answer = self._read_line(timeout)
            if answer is None:
                self._replace()
                raise RegoFailure(f"Rego evaluation took longer than {timeout:g} s and was stopped")
            try:
                response = json.loads(answer)
            except ValueError:
                self._replace()
                raise RegoFailure("the Rego worker answered something that is not JSON") from None
        if not response["ok"]:
            raise RegoFailure(response["error"])
        return response["value"]

    def stop(self) -> None:
        """Kill the worker, if running; the next call starts a new one."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                stream.close()
        self._process, self._buffer = None, b""

    def _replace(self) -> None:
        """Kill the worker and start the next one in the background (the caller holds the lock)."""
        # Started by the next request instead, it took that request's time: about 0.2 s, 1 s on a busy machine.
        self.stop()
        threading.Thread(target=self._start, name="rego-worker-start", daemon=True).start()

    def _start(self) -> None:
        """Start a worker, if none is running, once the lock is free; a failure is left to the next request."""
        with self._lock:
            try:
                self._running()
            except RegoFailure:  # the next request tries again, and reports why
                pass

    def _running(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=_worker_environment(),
        )
        ready = self._read_line(START_TIMEOUT)
        if ready is None or json.loads(ready) != {"ready": True}:
            self.stop()
            raise RegoFailure(f"the Rego worker did not start: {(ready or b'no answer').decode()[:200]}")
        return self._process

    def _read_line(self, timeout: float) -> bytes | None:
        """The next line from the worker, or None when it did not come in time or the worker exited."""
        deadline = time.monotonic() + timeout
        descriptor = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
                return None
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


_WORKER: _Worker | None = None
_WORKER_LOCK = threading.Lock()


def _worker() -> _Worker:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = _Worker()
        return _WORKER


def _forget_worker() -> None:
    # A forked child must not share its parent's worker (or a lock the parent may hold): it starts its own.
    global _WORKER, _WORKER_LOCK
    _WORKER, _WORKER_LOCK = None, threading.Lock()


def _stop_worker() -> None:
    if _WORKER is not None:
        _WORKER.stop()


os.register_at_fork(after_in_child=_forget_worker)
atexit.register(_stop_worker)


# ---- the worker process ---------------------------------------------------------------------------------------


def _serve() -> None:
    """Answer requests `{"module", "input"}` with `{"ok": true, "value": <data.gate or null>}` or an error."""
    # rego-cpp prints compile errors on standard output; keep the protocol on a private copy of it.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        import regopy  # noqa: F401
    except ImportError as error:
        protocol.write(json.dumps({"ready": False, "error": str(error)}) + "\n")
        return
    protocol.write(json.dumps({"ready": True}) + "\n")
    interpreters: dict[str, object] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            response = {"ok": True, "value": _query(interpreters, request["module"], request["input"])}
        except RegoFailure as error:
            response = {"ok": False, "error": str(error)}
        except Exception as error:  # anything regopy raises is a failure of this module, not of the worker
            response = {"ok": False, "error": f"Rego evaluation failed: {type(error).__name__}: {error}"}
        protocol.write(json.dumps(response) + "\n")


def _query(interpreters: dict, module: str, input_doc: dict) -> object:
    from regopy import Interpreter, RegoError

    interpreter = interpreters.get(module)
    if interpreter is None:
        interpreter = Interpreter()
        # A builtin that fails (a division by zero, a bad regex) is an error, not an undefined rule:
        # undefined, a deny rule would quietly not deny.
        interpreter.strict_built_in_errors = True
        try:
            interpreter.add_module(MODULE_FILE, module)
        except RegoError as error:
            raise RegoFailure(_describe_error(str(error), module)) from None
        if len(interpreters) >= 32:
            interpreters.clear()
        interpreters[module] = interpreter
    interpreter.set_input(input_doc)
    try:
        output = interpreter.query("data.gate")
    except RegoError as error:
        raise RegoFailure(_describe_error(str(error), module)) from None
    except json.JSONDecodeError:
        raise RegoFailure(_raw_error(interpreter, module)) from None
    if not output.ok():
        raise RegoFailure(_failure(interpreter))
    text = str(output)
    return None if text == "undefined" else json.loads(text)["expressions"][0]


def _failure(interpreter) -> str:
    """What made a query fail, as far as can be told: a builtin, or something else."""
    # regopy's failed output carries no message. Asked again with builtins' errors ignored, a query that
    # then answers failed in a builtin; the answer itself is dropped: a failed builtin stays an error.
    interpreter.strict_built_in_errors = False
    try:
        builtin_failed = interpreter.query("data.gate").ok()
    finally:
        interpreter.strict_built_in_errors = True
    if builtin_failed:
        return (
            "Rego evaluation failed: a builtin function failed (regopy does not say which; for example a "
            "division by zero, a bad regular expression, or time.parse_rfc3339_ns given a time ending in Z, "
            'which regopy refuses: use input.nowNs, or replace(t, "Z", "+00:00"))'
        )
    return "Rego evaluation failed (for example, a complete rule with conflicting values)"


def _raw_error(interpreter, module: str) -> str:
    """The error text regopy's wrapper failed to parse as JSON (an undefined function, recursion ...)."""
    try:
        from regopy.rego_shared import rego_free_output, rego_output_string, rego_query

        raw = rego_query(interpreter._impl, "data.gate")
        try:
            return _describe_error(rego_output_string(raw), module)
        finally:
            rego_free_output(raw)
    except Exception:  # the private API moved: fall back to a generic message
        return "Rego evaluation failed (for example, a call to an undefined function, or recursion)"


# All the worker needs of the server's environment. Rego's `opa.runtime().env` hands a module the
# whole environment of its process: inherited, that was GRAFEAS_DATABASE_URL (with its password),
# GRAFEAS_AUDIT_KEY and GRAFEAS_SECRET_KEY, readable by anyone allowed to write a policy.
_WORKER_ENVIRONMENT = ("PATH", "PYTHONPATH", "PYTHONHOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")


def _worker_environment() -> dict[str, str]:
    return {key: os.environ[key] for key in _WORKER_ENVIRONMENT if key in os.environ}


def _describe_error(text: str, module: str) -> str:
    """`file:line:col: message` lines from rego-cpp's error tree."""
    found = []
    for match in re.finditer(r"\(error \d+:([^|\n]*)\|(\d+)\|\d+\s*\(errormsg (\d+):", text):
        message = text[match.end() : match.end() + int(match.group(3))]
        offset = int(match.group(2))
        line = module.count("\n", 0, offset) + 1
        column = offset - (module.rfind("\n", 0, offset) + 1) + 1
        found.append(f"{match.group(1) or MODULE_FILE}:{line}:{column}: {message}")
    if not found:
        for match in re.finditer(r"\(errormsg (\d+):", text):
            found.append(text[match.end() : match.end() + int(match.group(1))])
    return "; ".join(found) or f"Rego error: {text.strip()[:300]}"


if __name__ == "__main__":
    _serve()
