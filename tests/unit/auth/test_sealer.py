"""The background sealer: runs on its interval, survives a database outage saying so once, and stops."""

import logging
import time

from grafeas_py.auth.sealer import AuditSealer


def run_rounds(seal, calls: list, rounds: int = 10) -> None:
    """Run a sealer every 0.01 s until `seal` has been called `rounds` times (at most 5 s), then stop it."""
    sealer = AuditSealer(seal, 0.01).start()
    deadline = time.monotonic() + 5
    while len(calls) < rounds and time.monotonic() < deadline:
        time.sleep(0.01)
    sealer.stop()


def test_seals_repeatedly_reports_an_outage_once_and_stops(caplog):
    calls = []

    def seal() -> int:
        calls.append(time.monotonic())
        if len(calls) <= 5:  # the database is away for the first five rounds
            raise RuntimeError("connection refused\n[SQL: SELECT ...]")
        return 3 if len(calls) == 8 else 0  # entries written meanwhile, sealed at the eighth round

    with caplog.at_level(logging.WARNING, logger="grafeas_py.auth.sealer"):
        run_rounds(seal, calls)
    stopped_at = len(calls)
    time.sleep(0.05)
    assert stopped_at >= 10 and len(calls) == stopped_at  # it ran on, through the failures, until stopped
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "sealing the audit trail failed, retrying every 0.01s: connection refused",
        "sealing the audit trail works again",
    ]


def test_a_round_with_nothing_to_seal_does_not_say_sealing_works_again(caplog):
    """Another instance sealed everything: this one never read the chain's head, so its key (wrong, say)
    was never checked, and it must not claim to have recovered."""
    calls = []

    def seal() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("the chain's head does not verify with this process's GRAFEAS_AUDIT_KEY")
        return 0

    with caplog.at_level(logging.WARNING, logger="grafeas_py.auth.sealer"):
        run_rounds(seal, calls)
    assert [r.getMessage() for r in caplog.records] == [
        "sealing the audit trail failed, retrying every 0.01s: the chain's head does not verify with this"
        " process's GRAFEAS_AUDIT_KEY"
    ]
