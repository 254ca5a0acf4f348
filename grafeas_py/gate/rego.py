"""Optional Rego rules through regopy (the `rego` extra), evaluated in a worker process with a time limit.

Contract for a policy's module: it declares `package gate` and uses Rego v1 syntax. Its input is
`{"resourceUri": ..., "resourceUriAsWritten": ..., "occurrences": [...], "notes": {name: note},
"now": "<RFC 3339>", "nowNs": <nanoseconds since the epoch>}`, the resource URI in the canonical
form patterns see (`artifacts.canonical_uri`) and as the caller wrote it, the occurrences being
those on the artifact and the notes those of them that exist, in canonical Grafeas JSON, and the
time as text and as nanoseconds (regopy cannot parse the text's `Z`). It answers through two sets,
`data.gate.deny` and `data.gate.warn`, of messages: strings, or objects `{"msg": ..., "code": ...,
"evidence": [...]}` with `code` and `evidence` (occurrence names) optional. `rego_worker` runs the
modules.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass

from .rego_worker import RegoFailure, call

INSTALL_HINT = (
    "Rego policies need regopy: install grafeas-py[rego] (regopy 1.5.2; Linux x86_64 or aarch64 with glibc 2.34+)"
)
EVALUATION_TIMEOUT = 1.0  # seconds, per evaluation; well inside Kubernetes' 10 s webhook default
CHECK_TIMEOUT = 5.0  # seconds, for compiling and smoke-testing a module when a policy is uploaded

_PACKAGE = re.compile(r"^\s*package\s+gate\s*(#.*)?$", re.MULTILINE)
_V0_RULE = re.compile(r"^\s*(deny|warn)\s*\[[^\]]*\]\s*(\{|if\b)", re.MULTILINE)
# A rule head for `deny` or `warn` that the smoke test may not see: a complete rule undefined on its input.
_RULE_HEAD = re.compile(r"^[ \t]*(?:default[ \t]+)?(?:deny|warn)\b", re.MULTILINE)


# What a decision cannot hold: a lone surrogate (a Rego string may spell one, "\ud800", which UTF-8
# cannot encode) and NUL (which PostgreSQL cannot store).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """Text with what a decision cannot hold replaced by U+FFFD: the message still denies, and reads."""
    return _UNSTORABLE.sub("\ufffd", text)


@dataclass(frozen=True)
class RegoMessage:
    """One member of `data.gate.deny` or `data.gate.warn`."""

    message: str
    code: str | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegoResult:
    deny: tuple[RegoMessage, ...] = ()
    warn: tuple[RegoMessage, ...] = ()


def available() -> bool:
    """Whether regopy is installed."""
    return importlib.util.find_spec("regopy") is not None


def check_module(source: str) -> list[str]:
    """Problems that make a module unusable (empty when it is fine): compiled and run once on an empty input."""
    if not available():
        return [INSTALL_HINT]
    problems = []
    if not _PACKAGE.search(source):
        problems.append("the module must declare `package gate`")
    v0 = _V0_RULE.search(source)
    if v0:
        name = v0.group(1)
        problems.append(
            f"line {source.count(chr(10), 0, v0.start(1)) + 1}: `{name}[...]` is Rego v0 syntax, which builds an "
            f"object; write the Rego v1 partial set `{name} contains msg if {{ ... }}`"
        )
    if problems:
        return problems
    empty = {
        "resourceUri": "",
        "resourceUriAsWritten": "",
        "occurrences": [],
        "now": "1970-01-01T00:00:00Z",
        "nowNs": 0,
    }
    try:
        gate = call({"module": source, "input": empty}, CHECK_TIMEOUT)
        to_result(gate)
    except RegoFailure as error:
        return [str(error)]
    if isinstance(gate, dict) and ("deny" in gate or "warn" in gate) or _RULE_HEAD.search(source):
        return []
    # Uploaded, a module of other rules (Gatekeeper's `violation`, say) would allow everything.
    others = (
        f" (it defines {', '.join(f'`{name}`' for name in sorted(gate))})" if isinstance(gate, dict) and gate else ""
    )
    return [
        f"the module defines no `deny` or `warn` rule, so it could never deny: the gate reads only those two{others}"
    ]


def evaluate_module(source: str, input_doc: dict, timeout: float | None = None) -> RegoResult:
    """Evaluate a checked module on one input (default timeout: EVALUATION_TIMEOUT); raises RegoFailure."""
    if not available():
        raise RegoFailure(INSTALL_HINT)
    request = {"module": source, "input": input_doc}
    return to_result(call(request, EVALUATION_TIMEOUT if timeout is None else timeout))


def to_result(gate: object) -> RegoResult:
    """Read the value of `data.gate` (None when undefined) into messages, refusing any other shape."""
    if gate is None:
        return RegoResult()
    if not isinstance(gate, dict):
        raise RegoFailure("data.gate must be a package of rules")
    return RegoResult(_messages(gate.get("deny"), "deny"), _messages(gate.get("warn"), "warn"))


def _messages(value: object, name: str) -> tuple[RegoMessage, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        raise RegoFailure(
            f"data.gate.{name} is an object, not a set: write `{name} contains msg if {{ ... }}` (Rego v1), "
            f"not `{name}[msg] {{ ... }}` (Rego v0)"
        )
    if not isinstance(value, list):
        raise RegoFailure(f"data.gate.{name} must be a set of messages, got {json.dumps(value)[:80]}")
    messages = [_message(item, name) for item in value]
    return tuple(sorted(messages, key=lambda m: (m.code or "", m.message)))


def _message(item: object, name: str) -> RegoMessage:
    if isinstance(item, str):
        return RegoMessage(_storable(item))
    if isinstance(item, dict) and isinstance(item.get("msg"), str):
        code = item.get("code")
        evidence = item.get("evidence", [])
        if (code is None or isinstance(code, str)) and isinstance(evidence, list):
            if all(isinstance(entry, str) for entry in evidence):
                code = None if code is None else _storable(code)
                return RegoMessage(_storable(item["msg"]), code, tuple(_storable(entry) for entry in evidence))
    raise RegoFailure(
        f"each member of data.gate.{name} must be a string or an object with a string msg (and optionally a "
        f"string code and a list of occurrence names as evidence), got {json.dumps(item)[:80]}"
    )
