"""The rules that read signed occurrences: attestations from named attestors, and passing test results.

ATTESTATION occurrences carry `serializedPayload`, a simple-signing JSON document whose
`critical.image.docker-manifest-digest` names the artifact, and detached `signatures` over that
payload, each naming its key by `publicKeyId`. DSSE_ATTESTATION occurrences carry an `envelope`
whose signatures cover `attestations.pae(payloadType, payload)`, each naming its key by `keyid`;
the payload is an in-toto Statement (its `subject[].digest.sha256` names the artifact) or, with
the cosign simple-signing payload type, a simple-signing document. Only the signed payload is
trusted: the occurrence's decoded `statement` field is ignored. A signature without a key id is
tried with every key of the attestor. ATTESTATION occurrences may instead (or as well) carry `jwts`,
read by `jwt_attestations`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from grafeas_py.attestations import (
    IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT_TYPES,
    SIMPLE_SIGNING_PAYLOAD_TYPE,
    TEST_RESULT_PREDICATE_TYPE,
    pae,
)

from .context import Context, Finding, Unverified, malformed
from .jwt_attestations import key_id, out_of_date, subject_digest, verified_claims
from .model import AttestationRule, Attestor, TestResultRule
from .occurrences import Malformed, decode_bytes, decode_json_object, get, get_list, get_time


@dataclass(frozen=True)
class Signed:
    """A signed payload read from an attestation occurrence."""

    name: str
    payload_type: str  # the DSSE payload type; "" for an ATTESTATION occurrence (simple signing)
    payload: bytes
    signed_bytes: bytes  # what the signatures cover
    signatures: tuple[tuple[str, bytes], ...]  # (key id, signature)


def read_signed(occurrence: dict) -> Signed:
    """The payload and signatures of an ATTESTATION or DSSE_ATTESTATION occurrence; raises Malformed."""
    name = occurrence["name"]
    if occurrence.get("kind") == "ATTESTATION":
        payload = decode_bytes(get(occurrence, "attestation.serializedPayload", str, ""), "serializedPayload")
        signatures = tuple(
            (get(item, "publicKeyId", str, ""), decode_bytes(get(item, "signature", str, ""), "signature"))
            for item in get_list(occurrence, "attestation.signatures")
        )
        return Signed(name, "", payload, payload, signatures)
    envelope = get(occurrence, "dsseAttestation.envelope", dict, {})
    payload_type = get(envelope, "payloadType", str, "")
    payload = decode_bytes(get(envelope, "payload", str, ""), "envelope.payload")
    signatures = tuple(
        (get(item, "keyid", str, ""), decode_bytes(get(item, "sig", str, ""), "envelope.signatures.sig"))
        for item in get_list(envelope, "signatures")
    )
    return Signed(name, payload_type, payload, pae(payload_type, payload), signatures)


def signed_by(signed: Signed, attestor: Attestor, now: datetime) -> bool:
    """Whether some signature verifies with one of the attestor's keys, judged at `now`."""
    return any(
        key.verifies(signature, signed.signed_bytes, now)
        for key_id, signature in signed.signatures
        for key in attestor.keys_for(key_id)
    )


def subject_digests(signed: Signed) -> set[str]:
    """The sha256 digests (lowercase hex) the signed payload names; raises Malformed."""
    return what_it_attests(signed)[0]


def what_it_attests(signed: Signed) -> tuple[set[str], str | None]:
    """The sha256 digests (lowercase hex) the signed payload names, and its predicateType if it is an in-toto
    statement (None for simple signing); raises Malformed."""
    document = decode_json_object(signed.payload, "payload")
    if signed.payload_type in ("", SIMPLE_SIGNING_PAYLOAD_TYPE):
        digest = get(document, "critical.image.docker-manifest-digest", str, "")
        return ({digest.removeprefix("sha256:")} if digest.startswith("sha256:") else set()), None
    if signed.payload_type == IN_TOTO_PAYLOAD_TYPE:
        _require_statement(document)
        digests = {digest for item in get_list(document, "subject") if (digest := get(item, "digest.sha256", str))}
        return digests, get(document, "predicateType", str, "")
    raise Malformed(f"payload type {signed.payload_type!r} is neither in-toto nor simple signing")


def _require_statement(document: dict) -> None:
    if get(document, "_type", str) not in IN_TOTO_STATEMENT_TYPES:
        raise Malformed(f"payload is not an in-toto Statement ({' or '.join(IN_TOTO_STATEMENT_TYPES)})")


# ---- attestations ---------------------------------------------------------------------------------------------


def check_attestations(rule: AttestationRule, ctx: Context) -> list[Finding]:
    findings = []
    for name in rule.attestors:
        findings.extend(_attested_by(ctx.attestors[name], rule, ctx))
    return findings


def _attested_by(attestor: Attestor, rule: AttestationRule, ctx: Context) -> list[Finding]:
    """Nothing when one occurrence on the attestor's note is validly signed for this digest; else every reason."""
    candidates = ctx.of_kind("ATTESTATION", "DSSE_ATTESTATION", note_name=attestor.note_name)
    who = f"attestor {attestor.name}"
    if not candidates:
        message = f"{ctx.uri} has no attestation from {who} (no attestation occurrence on {attestor.note_name})"
        return [Finding("ATTESTATION_MISSING", message)]
    if ctx.artifact.digest is None:
        message = f"the attestations of {who} cannot be checked: {ctx.uri} carries no sha256 digest for them to name"
        return [Finding("DIGEST_MISSING", message, _names(candidates))]
    problems = []
    for occurrence in candidates:
        problem = _attestation_problem(occurrence, attestor, rule, ctx)
        if problem is None:
            return []
        problems.append(problem)
    return problems


def _attestation_problem(occurrence: dict, attestor: Attestor, rule: AttestationRule, ctx: Context) -> Finding | None:
    name = occurrence["name"]
    consequence = f"it cannot count as an attestation from attestor {attestor.name}"
    try:
        jwts = get_list(occurrence, "attestation.jwts") if occurrence.get("kind") == "ATTESTATION" else []
        if jwts:
            problem = _jwt_problem(occurrence, jwts, attestor, ctx, consequence)
            # An occurrence may carry both forms; a detached signature over its payload may still count.
            if problem is None or not get(occurrence, "attestation.serializedPayload", str):
                return problem
        signed = read_signed(occurrence)
        ctx.spend_signature_checks(len(signed.signatures))
        if not signed_by(signed, attestor, ctx.now):
            return _unsigned(signed, attestor, f"attestation {name}")
        digests, predicate = what_it_attests(signed)
    except Malformed as error:
        return malformed(occurrence, error, consequence)
    if ctx.artifact.digest not in digests:
        return _mismatch(name, digests, ctx, f"attestation {name} from attestor {attestor.name}")
    # A statement reports something (a build, a scan, a test run that failed); which reports vouch for
    # the artifact is the policy's to say. A simple-signing payload says only "this digest", by design.
    if predicate is not None and predicate not in rule.predicate_types:
        accepted = ", ".join(rule.predicate_types) or "none: the rule lists no predicateTypes"
        message = (
            f"attestation {name} from attestor {attestor.name} is an in-toto statement of predicateType "
            f"{predicate!r}, which this rule does not take as an attestation (its predicateTypes: {accepted})"
        )
        return Finding("PREDICATE_NOT_ACCEPTED", message, (name,))
    return None


def _jwt_problem(occurrence: dict, jwts: list, attestor: Attestor, ctx: Context, consequence: str) -> Finding | None:
    """None when one of the JWTs is the attestor's, in date and for this digest; else the first reason."""
    name = occurrence["name"]
    what = f"the JWT of attestation {name} from attestor {attestor.name}"
    problems = []
    for item in jwts:
        try:
            token = get(item, "compactJwt", str, "")
            ctx.spend_signature_checks(1)
            claims = verified_claims(token, attestor)
            if claims is None:
                known = ", ".join(key.id for key in attestor.public_keys)
                message = (
                    f"attestation {name} has a JWT that verifies with no key of attestor {attestor.name} "
                    f"(its kid: {key_id(token) or '(none)'}; the attestor's key ids: {known})"
                )
                problems.append(Finding("SIGNATURE_INVALID", message, (name,)))
                continue
            stale = out_of_date(claims, ctx.now)
        except Malformed as error:
            problems.append(malformed(occurrence, error, consequence))
            continue
        digest = subject_digest(claims)
        if stale:
            problems.append(Finding("ATTESTATION_EXPIRED", f"{what} {stale}", (name,)))
        elif digest != ctx.artifact.digest:
            problems.append(_mismatch(name, {digest} if digest else set(), ctx, what))
        else:
            return None
    return problems[0]


def _unsigned(signed: Signed, attestor: Attestor, what: str) -> Finding:
    if not signed.signatures:
        return Finding("SIGNATURE_INVALID", f"{what} carries no signatures", (signed.name,))
    ids = ", ".join(sorted({key_id or "(none)" for key_id, _ in signed.signatures}))
    known = ", ".join(key.id for key in attestor.public_keys)
    message = (
        f"{what} has no signature that verifies with a key of attestor {attestor.name} "
        f"(signature key ids: {ids}; the attestor's key ids: {known})"
    )
    return Finding("SIGNATURE_INVALID", message, (signed.name,))


def _mismatch(name: str, digests: set[str], ctx: Context, what: str) -> Finding:
    found = ", ".join(f"sha256:{digest}" for digest in sorted(digests)) or "no sha256 digest"
    message = f"{what} is for {found}, not for {ctx.uri} (sha256:{ctx.artifact.digest})"
    return Finding("SUBJECT_MISMATCH", message, (name,))


def _names(occurrences: Iterable[dict]) -> tuple[str, ...]:
    return tuple(occurrence["name"] for occurrence in occurrences)


# ---- test results ---------------------------------------------------------------------------------------------


def check_tests(rule: TestResultRule, ctx: Context) -> list[Finding]:
    """Passing test results for the artifact's digest: for each test configuration, the newest result counts,
    a signed result dating from the first time its payload was posted.

    A result counts when its envelope is in-toto with the test-result predicate, names the digest,
    and (with signedBy) verifies with every listed attestor. Results are grouped by the predicate's
    `configuration`, so a rerun replaces an earlier result of the same suite, while a failing suite
    is not hidden by a passing one.
    """
    envelopes = ctx.of_kind("DSSE_ATTESTATION")
    if ctx.artifact.digest is None:
        message = f"test results cannot be checked: {ctx.uri} carries no sha256 digest for them to name"
        return [Finding("DIGEST_MISSING", message, _names(envelopes))]
    accepted = ("PASSED", "WARNED") if rule.allow_warned else ("PASSED",)
    results = []
    problems = []
    unverified = []  # results that may have failed: the rule cannot pass with them unread
    for occurrence in envelopes:
        try:
            found = _test_result(occurrence, rule, ctx)
        except Unverified as error:
            unverified.append(malformed(occurrence, error, "it may be a failing test result, so the rule fails"))
            continue
        except Malformed as error:
            problems.append(malformed(occurrence, error, "it cannot count as a test result"))
            continue
        if isinstance(found, Finding):
            problems.append(found)
        elif found is not None:
            results.append((*found, occurrence["name"]))
    # A signed result dates from the first post of its payload: posted again later, an old PASSED
    # envelope would otherwise outrank the FAILED run that came after it. Unsigned results can be
    # written afresh by anyone who could replay one, and a rerun may repeat its payload exactly.
    first_posted: dict[bytes, float] = {}
    for _, created, _, payload, _ in results:
        first_posted[payload] = min(created, first_posted.get(payload, created))
    newest: dict[str, tuple] = {}
    for configuration, created, result, payload, name in results:
        if rule.signed_by:
            created = first_posted[payload]
        kept = newest.get(configuration)
        # Results made at one time (a batch shares its createTime) have no order: a failure wins.
        if kept is None or created > kept[0] or (created == kept[0] and result not in accepted):
            newest[configuration] = (created, result, name)
    failing = [
        Finding(
            "TEST_FAILED",
            f"the newest test results {name} for {ctx.uri} say {result}, not {' or '.join(accepted)}",
            (name,),
        )
        for _, result, name in sorted(newest.values(), key=lambda entry: entry[2])
        if result not in accepted
    ]
    if failing or unverified:
        return failing + unverified
    if newest:
        return []
    missing = Finding(
        "TEST_RESULT_MISSING",
        f"{ctx.uri} has no passing test results (a DSSE_ATTESTATION occurrence whose in-toto statement has "
        f"predicateType {TEST_RESULT_PREDICATE_TYPE} and names the artifact's digest)",
    )
    return problems or [missing]


def _test_result(occurrence: dict, rule: TestResultRule, ctx: Context):
    """(configuration key, create time, result, payload) for a valid test result; a Finding when it is not; None
    otherwise."""
    signed = read_signed(occurrence)
    if signed.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return None
    statement = decode_json_object(signed.payload, "envelope.payload")
    if get(statement, "predicateType", str) != TEST_RESULT_PREDICATE_TYPE:
        return None
    _require_statement(statement)
    for name in rule.signed_by:
        attestor = ctx.attestors[name]
        ctx.spend_signature_checks(len(signed.signatures))
        if not signed_by(signed, attestor, ctx.now):
            return _unsigned(signed, attestor, f"test results {signed.name}")
    digests = subject_digests(signed)
    if ctx.artifact.digest not in digests:
        return _mismatch(signed.name, digests, ctx, f"test results {signed.name}")
    result = get(statement, "predicate.result", str, "")
    # The spec's configuration is a list; any other JSON still names a group, so that a FAILED result
    # written so is a failure rather than an unreadable occurrence the passing ones outvote.
    configuration = json.dumps(
        get(statement, "predicate.configuration", (list, dict, str, int, float), []), sort_keys=True
    )
    created = get_time(occurrence, "createTime")
    return configuration, created.timestamp() if created else 0.0, result, signed.payload
