"""Sealing the audit trail in the background: recorded entries join the hash chain within a second."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class AuditSealer:
    """Calls `seal` every `interval` seconds in a daemon thread until stopped.

    Every worker of every instance runs one; sealers take turns on the database, and one that finds
    nothing to seal costs a single indexed read."""

    def __init__(self, seal: Callable[[], int], interval: float) -> None:
        self._seal, self._interval = seal, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> AuditSealer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stopped.wait(self._interval):
            try:
                sealed = self._seal()
            except Exception as exc:  # the database may be away or not migrated yet: the next round retries
                if not failing:  # once per outage, not once a second; the driver's message, without the SQL
                    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                    log.warning("sealing the audit trail failed, retrying every %ss: %s", self._interval, reason)
                failing = True
            else:
                # Only sealing proves it: with nothing pending (another instance sealed it all) the chain's
                # head is not even read, so a process whose GRAFEAS_AUDIT_KEY is wrong would seem to recover.
                if failing and sealed:
                    log.warning("sealing the audit trail works again")
                    failing = False
