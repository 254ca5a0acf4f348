"""Signed evidence: attestations from named attestors for every algorithm, and passing test results."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pysequoia import Cert, Sig, SignatureMode, Tsk
from pysequoia import verify as pgp_verify

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE, SIMPLE_SIGNING_PAYLOAD_TYPE, TEST_RESULT_PREDICATE_TYPE, pae
from grafeas_py.errors import InvalidArgument
from grafeas_py.gate import evaluate
from grafeas_py.gate.keys import ALGORITHMS
from grafeas_py.gate.pgp import verifies as pgp_verifies
from grafeas_py.gate.pgp_packets import MAX_SIGNATURES
from tests.unit.gate.builders import (
    DIGEST,
    IMAGE,
    NOW,
    OTHER_DIGEST,
    OTHER_URI,
    URI,
    attestation_occurrence,
    attestor,
    b64,
    binauthz_claims,
    codes,
    compact_jwt,
    dsse_occurrence,
    jwt_occurrence,
    make_policy,
    pgp_signer,
    results_payload,
    signed_attestation,
    signed_dsse,
    signer,
    simple_signing,
    stamp,
    statement,
)

QA_NOTE = "projects/acme/notes/qa"


PROVENANCE = "https://slsa.dev/provenance/v1"  # the predicate of `statement()`


def attestation_policy(*signers, required=("qa",), extra_attestors=(), predicate_types=(PROVENANCE,)):
    return make_policy(
        {"attestations": {"attestors": list(required), "predicateTypes": list(predicate_types)}},
        attestors=[attestor("qa", list(signers)), *extra_attestors],
    )


def decide(policy, occurrences, uri=URI):
    return evaluate(policy, uri, occurrences, NOW)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_attestation_signed_with_each_algorithm(algorithm):
    key = signer(algorithm)
    policy = attestation_policy(key)
    occurrence = signed_attestation(key, QA_NOTE)
    result = decide(policy, [occurrence])
    assert (result.decision, result.violations) == ("ALLOW", [])
    assert result.used_occurrences == [occurrence["name"]]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_dsse_attestation_signed_with_each_algorithm(algorithm):
    key = signer(algorithm)
    result = decide(attestation_policy(key), [signed_dsse(key, QA_NOTE)])
    assert (result.decision, result.violations) == ("ALLOW", [])


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_signature_by_another_key_with_the_same_id_is_invalid(algorithm):
    trusted, impostor = signer(algorithm), signer(algorithm, fresh=True)
    result = decide(attestation_policy(trusted), [signed_attestation(impostor, QA_NOTE)])
    assert (result.decision, codes(result.violations)) == ("DENY", ["SIGNATURE_INVALID"])


def test_tampered_payload_is_invalid():
    key = signer()
    occurrence = signed_attestation(key, QA_NOTE)
    occurrence["attestation"]["serializedPayload"] = b64(simple_signing(OTHER_DIGEST))
    result = decide(attestation_policy(key), [occurrence])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert "key-1" in result.violations[0].message


def test_tampered_dsse_payload_type_is_invalid():
    key = signer()
    occurrence = signed_dsse(key, QA_NOTE)
    occurrence["dsseAttestation"]["envelope"]["payloadType"] = "application/json"
    assert codes(decide(attestation_policy(key), [occurrence]).violations) == ["SIGNATURE_INVALID"]


def test_unknown_key_id_is_invalid():
    key = signer()
    payload = simple_signing()
    occurrence = attestation_occurrence(payload, [("some-other-key", key.sign(payload))], QA_NOTE)
    result = decide(attestation_policy(key), [occurrence])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert "some-other-key" in result.violations[0].message


def test_signature_without_key_id_tries_every_key():
    first, second = signer("ED25519", "k1"), signer("ECDSA_P384_SHA384", "k2")
    payload = statement()
    occurrence = dsse_occurrence(payload, [("", second.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload)))], QA_NOTE)
    assert decide(attestation_policy(first, second), [occurrence]).decision == "ALLOW"


def test_raw_ecdsa_signature_is_accepted():
    key = signer("ECDSA_P256_SHA256")
    payload = simple_signing()
    r, s = decode_dss_signature(key.sign(payload))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    occurrence = attestation_occurrence(payload, [(key.key_id, raw)], QA_NOTE)
    assert decide(attestation_policy(key), [occurrence]).decision == "ALLOW"


def test_unsigned_attestation_is_invalid():
    key = signer()
    occurrence = attestation_occurrence(simple_signing(), [], QA_NOTE)
    result = decide(attestation_policy(key), [occurrence])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert "no signatures" in result.violations[0].message


def test_attestation_for_another_digest_is_a_subject_mismatch():
    key = signer()
    result = decide(attestation_policy(key), [signed_attestation(key, QA_NOTE, simple_signing(OTHER_DIGEST))])
    assert codes(result.violations) == ["SUBJECT_MISMATCH"]
    assert f"sha256:{OTHER_DIGEST}" in result.violations[0].message


def test_dsse_statement_for_another_digest_is_a_subject_mismatch():
    key = signer()
    result = decide(attestation_policy(key), [signed_dsse(key, QA_NOTE, statement(OTHER_DIGEST))])
    assert codes(result.violations) == ["SUBJECT_MISMATCH"]


@pytest.mark.parametrize("version, decision", [("v0.1", "ALLOW"), ("v1", "ALLOW"), ("v2", "DENY")])
def test_dsse_statements_as_cosign_attest_writes_them(version, decision):
    """`cosign attest` writes Statement v0.1 whatever its --type, with an empty keyid; v0.1 was refused."""
    key = signer()
    document = json.loads(statement())
    payload = json.dumps({**document, "_type": f"https://in-toto.io/Statement/{version}"}).encode()
    occurrence = dsse_occurrence(payload, [("", key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload)))], QA_NOTE)
    result = decide(attestation_policy(key), [occurrence])
    assert (result.decision, codes(result.violations)) == (
        decision,
        [] if decision == "ALLOW" else ["OCCURRENCE_MALFORMED"],
    )


def test_an_in_toto_statement_attests_only_with_a_predicate_type_the_rule_lists():
    """A statement reports something; the key that signs a failed test run does not approve the artifact by it.
    Posted on the attestor's note, such a report counted as the attestor's approval."""
    key = signer()
    failed_run = signed_dsse(key, QA_NOTE, results_payload("FAILED"))
    provenance = signed_dsse(key, QA_NOTE, statement())
    for policy in (attestation_policy(key), attestation_policy(key, predicate_types=())):
        result = decide(policy, [failed_run])
        assert codes(result.violations) == ["PREDICATE_NOT_ACCEPTED"]
        assert TEST_RESULT_PREDICATE_TYPE in result.violations[0].message
    assert decide(attestation_policy(key), [failed_run, provenance]).decision == "ALLOW"
    assert codes(decide(attestation_policy(key, predicate_types=()), [provenance]).violations) == [
        "PREDICATE_NOT_ACCEPTED"
    ]
    # Simple signing says only "this digest": it needs no predicate type.
    simple = signed_dsse(key, QA_NOTE, simple_signing(), payload_type=SIMPLE_SIGNING_PAYLOAD_TYPE)
    assert decide(attestation_policy(key, predicate_types=()), [simple]).decision == "ALLOW"


def test_dsse_simple_signing_payload():
    key = signer()
    occurrence = signed_dsse(key, QA_NOTE, simple_signing(), payload_type=SIMPLE_SIGNING_PAYLOAD_TYPE)
    assert decide(attestation_policy(key), [occurrence]).decision == "ALLOW"


def test_attestation_on_another_note_does_not_count():
    key = signer()
    result = decide(attestation_policy(key), [signed_attestation(key, "projects/acme/notes/someone-else")])
    assert codes(result.violations) == ["ATTESTATION_MISSING"]
    assert QA_NOTE in result.violations[0].message


def test_attestation_on_another_artifact_does_not_count():
    key = signer()
    occurrence = signed_attestation(key, QA_NOTE, uri=OTHER_URI)
    assert codes(decide(attestation_policy(key), [occurrence]).violations) == ["ATTESTATION_MISSING"]


def test_every_listed_attestor_is_required():
    qa, security = signer(key_id="qa-key"), signer("ED25519", "sec-key")
    policy = attestation_policy(qa, required=("qa", "security"), extra_attestors=[attestor("security", [security])])
    result = decide(policy, [signed_attestation(qa, QA_NOTE)])
    assert codes(result.violations) == ["ATTESTATION_MISSING"]
    assert "attestor security" in result.violations[0].message
    both = [signed_attestation(qa, QA_NOTE), signed_attestation(security, "projects/acme/notes/security")]
    assert decide(policy, both).decision == "ALLOW"


def test_one_valid_attestation_is_enough():
    key = signer()
    bad = signed_attestation(key, QA_NOTE, simple_signing(OTHER_DIGEST))
    assert decide(attestation_policy(key), [bad, signed_attestation(key, QA_NOTE)]).decision == "ALLOW"


def test_attestation_needs_a_digest_to_check():
    key = signer()
    policy = make_policy(
        {"identity": {"allowTags": True}, "attestations": {"attestors": ["qa"]}}, attestors=[attestor("qa", [key])]
    )
    tagged = "gcr.io/acme/app:1.0"
    result = decide(policy, [signed_attestation(key, QA_NOTE, uri=tagged)], uri=tagged)
    assert codes(result.violations) == ["DIGEST_MISSING"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda o: o["attestation"].update(serializedPayload="***not base64***"), id="bad base64 payload"),
        pytest.param(lambda o: o["attestation"]["signatures"][0].update(signature="%%%"), id="bad base64 signature"),
        pytest.param(lambda o: o["attestation"].update(signatures="x"), id="signatures not a list"),
        pytest.param(lambda o: o.update(attestation=[1]), id="details not an object"),
    ],
)
def test_malformed_attestation_is_a_violation(change):
    key = signer()
    occurrence = signed_attestation(key, QA_NOTE)
    change(occurrence)
    result = decide(attestation_policy(key), [occurrence])
    assert (result.decision, codes(result.violations)) == ("DENY", ["OCCURRENCE_MALFORMED"])
    assert result.violations[0].evidence == [occurrence["name"]]


def test_signed_payload_that_is_not_json_is_a_violation():
    key = signer()
    result = decide(attestation_policy(key), [signed_attestation(key, QA_NOTE, b"\xff not json")])
    assert codes(result.violations) == ["OCCURRENCE_MALFORMED"]


def test_signed_dsse_payload_that_is_not_a_statement_is_a_violation():
    key = signer()
    payload = json.dumps({"subject": [{"digest": {"sha256": DIGEST}}]}).encode()
    result = decide(attestation_policy(key), [signed_dsse(key, QA_NOTE, payload)])
    assert codes(result.violations) == ["OCCURRENCE_MALFORMED"]
    assert "in-toto Statement" in result.violations[0].message


def test_url_safe_unpadded_base64_is_read():
    key = signer()
    occurrence = signed_attestation(key, QA_NOTE)
    payload = base64.b64decode(occurrence["attestation"]["serializedPayload"])
    occurrence["attestation"]["serializedPayload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert decide(attestation_policy(key), [occurrence]).decision == "ALLOW"


# ---- test results ---------------------------------------------------------------------------------------------

CI_NOTE = "projects/acme/notes/ci-tests"


def ci_policy(signed_by=(), allow_warned=False, ci=None):
    rule = {"allowWarned": allow_warned, "signedBy": list(signed_by)}
    return make_policy({"tests": rule}, attestors=[attestor("ci", [ci or signer()])])


def result_occurrence(result="PASSED", by=None, digest=DIGEST, configuration="ci/unit.yaml", age_hours=2):
    payload = results_payload(result, digest, configuration)
    return signed_dsse(by, CI_NOTE, payload, created=NOW - timedelta(hours=age_hours))


@pytest.mark.parametrize(
    "results, allow_warned, decision, violations",
    [
        pytest.param([], False, "DENY", ["TEST_RESULT_MISSING"], id="missing"),
        pytest.param(["PASSED"], False, "ALLOW", [], id="passed"),
        pytest.param(["FAILED"], False, "DENY", ["TEST_FAILED"], id="failed"),
        pytest.param(["WARNED"], False, "DENY", ["TEST_FAILED"], id="warned refused"),
        pytest.param(["WARNED"], True, "ALLOW", [], id="warned allowed"),
        pytest.param(["SKIPPED"], True, "DENY", ["TEST_FAILED"], id="unknown result"),
    ],
)
def test_test_results(results, allow_warned, decision, violations):
    occurrences = [result_occurrence(result) for result in results]
    outcome = decide(ci_policy(allow_warned=allow_warned), occurrences)
    assert (outcome.decision, codes(outcome.violations)) == (decision, violations)


def test_newest_result_of_a_suite_counts():
    rerun = [result_occurrence("FAILED", age_hours=5), result_occurrence("PASSED", age_hours=1)]
    assert decide(ci_policy(), rerun).decision == "ALLOW"
    regressed = [result_occurrence("PASSED", age_hours=5), result_occurrence("FAILED", age_hours=1)]
    assert codes(decide(ci_policy(), regressed).violations) == ["TEST_FAILED"]


def test_an_old_passing_result_posted_again_does_not_outrank_a_later_failure():
    ci = signer("ED25519", "ci-key")
    policy = ci_policy(signed_by=["ci"], ci=ci)
    passed = result_occurrence("PASSED", by=ci, age_hours=5)
    failed = result_occurrence("FAILED", by=ci, age_hours=3)
    replayed = {**passed, "name": "projects/acme/occurrences/replayed", "createTime": stamp(NOW)}
    result = decide(policy, [passed, failed, replayed])
    assert codes(result.violations) == ["TEST_FAILED"]
    assert result.violations[0].evidence == [failed["name"]]
    # A rerun that passes (a payload of its own: here, its run's url) still replaces the failure.
    predicate = {"result": "PASSED", "configuration": [{"uri": "ci/unit.yaml"}], "url": "https://ci.example/run/3"}
    rerun = signed_dsse(ci, CI_NOTE, statement(DIGEST, TEST_RESULT_PREDICATE_TYPE, predicate), created=NOW)
    assert decide(policy, [passed, failed, replayed, rerun]).decision == "ALLOW"


def test_an_unsigned_rerun_repeating_an_earlier_payload_replaces_a_failure():
    # Anyone may write an unsigned result, so its createTime stands: a fixed flaky suite whose rerun
    # reports exactly what a run before the failure did still counts as the newest.
    passed, failed = result_occurrence("PASSED", age_hours=5), result_occurrence("FAILED", age_hours=3)
    rerun = {**passed, "name": "projects/acme/occurrences/rerun", "createTime": stamp(NOW)}
    assert decide(ci_policy(), [passed, failed, rerun]).decision == "ALLOW"


@pytest.mark.parametrize("order", [("PASSED", "FAILED"), ("FAILED", "PASSED")])
def test_results_of_one_time_have_no_order_and_a_failure_wins(order):
    # A batch gives its items one createTime: which came first must not decide.
    same_time = [result_occurrence(result, age_hours=2) for result in order]
    assert codes(decide(ci_policy(), same_time).violations) == ["TEST_FAILED"]


def test_a_failing_suite_is_not_hidden_by_a_passing_one():
    suites = [result_occurrence("PASSED", configuration="unit.yaml"), result_occurrence("FAILED", configuration="e2e")]
    result = decide(ci_policy(), suites)
    assert codes(result.violations) == ["TEST_FAILED"]
    assert result.violations[0].evidence == [suites[1]["name"]]


def test_a_failed_result_whose_configuration_is_not_a_list_still_fails():
    """Read as unreadable, it was outvoted by the passing suite beside it: the decision allowed."""
    predicate = {"result": "FAILED", "configuration": {"uri": "e2e"}}
    failed = signed_dsse(None, CI_NOTE, statement(DIGEST, TEST_RESULT_PREDICATE_TYPE, predicate), created=NOW)
    result = decide(ci_policy(), [result_occurrence("PASSED"), failed])
    assert codes(result.violations) == ["TEST_FAILED"]
    assert result.violations[0].evidence == [failed["name"]]


def test_test_results_for_another_digest_do_not_count():
    result = decide(ci_policy(), [result_occurrence(digest=OTHER_DIGEST)])
    assert codes(result.violations) == ["SUBJECT_MISMATCH"]


def test_other_predicates_are_not_test_results():
    other = signed_dsse(None, CI_NOTE, statement())
    assert codes(decide(ci_policy(), [other]).violations) == ["TEST_RESULT_MISSING"]


def test_signed_test_results():
    ci = signer("ED25519", "ci-key")
    policy = ci_policy(signed_by=["ci"], ci=ci)
    assert decide(policy, [result_occurrence(by=ci)]).decision == "ALLOW"
    unsigned = decide(policy, [result_occurrence()])
    assert codes(unsigned.violations) == ["SIGNATURE_INVALID"]
    forged = decide(policy, [result_occurrence(by=signer("ED25519", "ci-key"))])
    assert codes(forged.violations) == ["SIGNATURE_INVALID"]


def test_a_test_result_left_unverified_by_the_signature_budget_fails_the_rule():
    """Junk envelopes posted first spent the budget, and a signed FAILED result read after them was dropped as
    unreadable while an earlier PASSED counted: ALLOW. What could not be verified may have failed."""
    from grafeas_py.gate.context import MAX_SIGNATURE_CHECKS

    ci = signer("ED25519", "ci-key")
    policy = ci_policy(signed_by=["ci"], ci=ci)
    passed = result_occurrence(by=ci, configuration="ci/unit.yaml", age_hours=3)
    junk = dsse_occurrence(
        results_payload("PASSED", DIGEST, "ci/junk.yaml"),
        [("ci-key", b"\x01" * 64)] * (MAX_SIGNATURE_CHECKS - 1),  # the budget, less what `passed` spends
        CI_NOTE,
    )
    failed = result_occurrence("FAILED", by=ci, configuration="ci/e2e.yaml", age_hours=1)
    assert codes(decide(policy, [passed, failed]).violations) == ["TEST_FAILED"]
    result = decide(policy, [passed, junk, failed])
    assert result.decision == "DENY"
    assert codes(result.violations) == ["OCCURRENCE_MALFORMED"]
    assert f"checks at most {MAX_SIGNATURE_CHECKS}" in result.violations[0].message
    assert failed["name"] in result.violations[0].evidence


def test_unreadable_envelope_is_reported_when_nothing_passes():
    broken = result_occurrence()
    broken["dsseAttestation"]["envelope"]["payload"] = "!!"
    assert codes(decide(ci_policy(), [broken]).violations) == ["OCCURRENCE_MALFORMED"]
    assert decide(ci_policy(), [broken, result_occurrence()]).decision == "ALLOW"


def test_an_unsigned_envelope_nested_too_deep_to_read_is_only_malformed():
    """Anyone who may write an occurrence could post it: it was an EVALUATION_ERROR that denied, even in warn
    mode and with a signed passing result beside it."""
    ci = signer("ED25519", "ci-key")
    deep = dsse_occurrence(b"[" * 5000, [], CI_NOTE)
    assert codes(decide(ci_policy(), [deep]).violations) == ["OCCURRENCE_MALFORMED"]
    for policy, result in [(ci_policy(), result_occurrence()), (ci_policy(["ci"], ci=ci), result_occurrence(by=ci))]:
        assert decide(policy, [deep, result]).decision == "ALLOW"


def test_test_results_need_a_digest():
    policy = make_policy({"identity": {"allowTags": True}, "tests": {}})
    tagged = f"{IMAGE.split('@')[0]}:1.0"
    assert codes(decide(policy, [], uri=tagged).violations) == ["DIGEST_MISSING"]


# ---- JWT attestations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_jwt_attestation_signed_with_each_algorithm(algorithm):
    key = signer(algorithm)
    occurrence = jwt_occurrence([compact_jwt(key)], QA_NOTE)
    result = decide(attestation_policy(key), [occurrence])
    assert (result.decision, result.violations) == ("ALLOW", [])
    assert result.used_occurrences == [occurrence["name"]]


def test_jwt_from_another_key_with_the_same_kid_is_invalid():
    trusted, impostor = signer(), signer(fresh=True)
    result = decide(attestation_policy(trusted), [jwt_occurrence([compact_jwt(impostor)], QA_NOTE)])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert "its kid: key-1; the attestor's key ids: key-1" in result.violations[0].message


def test_jwt_naming_an_unknown_key_is_invalid():
    key = signer()
    result = decide(attestation_policy(key), [jwt_occurrence([compact_jwt(key, kid="someone")], QA_NOTE)])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert "its kid: someone" in result.violations[0].message


def test_jwt_without_kid_tries_every_key():
    first, second = signer("ED25519", "k1"), signer("RSA_PSS_2048_SHA256", "k2")
    occurrence = jwt_occurrence([compact_jwt(second, kid=None)], QA_NOTE)
    assert "kid" not in jwt.get_unverified_header(occurrence["attestation"]["jwts"][0]["compactJwt"])
    assert decide(attestation_policy(first, second), [occurrence]).decision == "ALLOW"


def test_jwt_alg_must_be_the_keys_algorithm():
    declared = signer("RSA_PSS_2048_SHA256")  # PS256; the same private key signs RS256 (PKCS#1 v1.5) below
    token = jwt.encode(binauthz_claims(), declared.private_key, algorithm="RS256", headers={"kid": "key-1"})
    result = decide(attestation_policy(declared), [jwt_occurrence([token], QA_NOTE)])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]


def test_unsigned_jwt_is_invalid():
    token = jwt.encode(binauthz_claims(), None, algorithm="none", headers={"kid": "key-1"})
    result = decide(attestation_policy(signer()), [jwt_occurrence([token], QA_NOTE)])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]


def test_jwt_with_altered_claims_is_invalid():
    key = signer()
    header, _, signature = compact_jwt(key).split(".")
    other_claims = compact_jwt(signer(fresh=True), binauthz_claims(OTHER_DIGEST)).split(".")[1]
    forged = ".".join((header, other_claims, signature))
    assert codes(decide(attestation_policy(key), [jwt_occurrence([forged], QA_NOTE)]).violations) == [
        "SIGNATURE_INVALID"
    ]


def test_jwt_times_are_judged_at_the_decisions_time():
    key = signer()
    hour = timedelta(hours=1)

    def outcome(**claims):
        token = compact_jwt(key, binauthz_claims(**{k: int(v.timestamp()) for k, v in claims.items()}))
        result = decide(attestation_policy(key), [jwt_occurrence([token], QA_NOTE)])
        return codes(result.violations), [v.message for v in result.violations]

    # NOW is in the past of the machine's clock: an exp one hour after it is still good then
    assert outcome(exp=NOW + hour, nbf=NOW - hour, iat=NOW - hour) == ([], [])
    found, [message] = outcome(exp=NOW - hour)
    assert found == ["ATTESTATION_EXPIRED"] and "expired at 2026-06-01T11:00:00Z" in message
    found, [message] = outcome(nbf=NOW + hour)
    assert found == ["ATTESTATION_EXPIRED"] and "is not valid before 2026-06-01T13:00:00Z" in message
    # a time no calendar holds is still reported, in seconds
    token = compact_jwt(key, binauthz_claims(exp=-1e20))
    [violation] = decide(attestation_policy(key), [jwt_occurrence([token], QA_NOTE)]).violations
    assert violation.code == "ATTESTATION_EXPIRED" and "expired at -1e+20 seconds after the epoch" in violation.message


@pytest.mark.parametrize("claim", ["exp", "nbf"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_jwt_time_that_is_no_number_of_seconds_is_malformed(claim, value):
    """The JSON parser reads NaN and Infinity (and 1e400 as inf): an exp of NaN never passed, so a signed
    token meant to expire lasted for ever."""
    key = signer()
    token = compact_jwt(key, binauthz_claims(**{claim: value}))
    [violation] = decide(attestation_policy(key), [jwt_occurrence([token], QA_NOTE)]).violations
    assert violation.code == "OCCURRENCE_MALFORMED" and f"a JWT's {claim} is {value}" in violation.message


def test_jwt_for_another_digest_is_a_subject_mismatch():
    key = signer()
    result = decide(
        attestation_policy(key), [jwt_occurrence([compact_jwt(key, binauthz_claims(OTHER_DIGEST))], QA_NOTE)]
    )
    assert codes(result.violations) == ["SUBJECT_MISMATCH"]
    assert f"is for sha256:{OTHER_DIGEST}" in result.violations[0].message
    no_subject = compact_jwt(key, {"aud": "//binaryauthorization.googleapis.com"})
    result = decide(attestation_policy(key), [jwt_occurrence([no_subject], QA_NOTE)])
    assert codes(result.violations) == ["SUBJECT_MISMATCH"]
    assert "is for no sha256 digest" in result.violations[0].message


@pytest.mark.parametrize(
    "token, message",
    [
        ("not a jwt", "a JWT cannot be read"),
        (None, "critical"),  # crit: no extension is understood here
        ("exp", "a JWT's exp is not a number of seconds"),
    ],
)
def test_unreadable_jwt_is_malformed(token, message):
    key = signer()
    if token is None:
        token = compact_jwt(key, crit=["exp"])
    elif token == "exp":
        token = compact_jwt(key, binauthz_claims(exp="tomorrow"))
    result = decide(attestation_policy(key), [jwt_occurrence([token], QA_NOTE)])
    assert codes(result.violations) == ["OCCURRENCE_MALFORMED"]
    assert message in result.violations[0].message


def test_one_good_jwt_or_signed_payload_is_enough():
    key = signer()
    bad, good = compact_jwt(key, binauthz_claims(OTHER_DIGEST)), compact_jwt(key)
    assert decide(attestation_policy(key), [jwt_occurrence([bad, good], QA_NOTE)]).decision == "ALLOW"
    payload = simple_signing()
    both = jwt_occurrence([bad], QA_NOTE, payload=payload, signatures=[(key.key_id, key.sign(payload))])
    assert decide(attestation_policy(key), [both]).decision == "ALLOW"
    forged = jwt_occurrence([bad], QA_NOTE, payload=payload, signatures=[(key.key_id, b"x" * 64)])
    assert codes(decide(attestation_policy(key), [forged]).violations) == ["SIGNATURE_INVALID"]


# ---- OpenPGP attestations (Kritis, Binary Authorization's PGP keys) ------------------------------------------------

PGP_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pgp"


@pytest.mark.parametrize(
    "mode, armor",
    [
        (SignatureMode.INLINE, True),  # gpg --armor --sign: what gcloud and Kritis record
        (SignatureMode.INLINE, False),
        (SignatureMode.DETACHED, True),
        (SignatureMode.DETACHED, False),
    ],
)
def test_pgp_attestation(mode, armor):
    key = pgp_signer()
    payload = simple_signing()
    occurrence = attestation_occurrence(payload, [(key.key_id, key.sign(payload, mode, armor))], QA_NOTE)
    result = decide(attestation_policy(key), [occurrence])
    assert (result.decision, result.violations) == ("ALLOW", [])


def test_pgp_key_id_is_the_fingerprint_in_any_spelling():
    key = pgp_signer()
    payload = simple_signing()
    policy = attestation_policy(key)
    assert policy.attestors[0].public_keys[0].id == key.fingerprint
    for key_id in (key.fingerprint, key.fingerprint.lower(), f"openpgp4fpr:{key.fingerprint}", ""):
        occurrence = attestation_occurrence(payload, [(key_id, key.sign(payload))], QA_NOTE)
        assert decide(policy, [occurrence]).decision == "ALLOW", key_id
    occurrence = attestation_occurrence(payload, [(key.fingerprint[-16:], key.sign(payload))], QA_NOTE)
    result = decide(policy, [occurrence])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]
    assert key.fingerprint in result.violations[0].message


def test_pgp_signed_message_must_carry_the_serialized_payload():
    """The signature vouches for another digest than the payload beside it claims: only the payload counts."""
    key = pgp_signer()
    signed_elsewhere = key.sign(simple_signing(OTHER_DIGEST))
    occurrence = attestation_occurrence(simple_signing(), [(key.key_id, signed_elsewhere)], QA_NOTE)
    assert codes(decide(attestation_policy(key), [occurrence]).violations) == ["SIGNATURE_INVALID"]


def test_pgp_signature_by_another_key_naming_the_trusted_fingerprint_is_invalid():
    trusted, impostor = pgp_signer(), pgp_signer()
    payload = simple_signing()
    occurrence = attestation_occurrence(payload, [(trusted.key_id, impostor.sign(payload))], QA_NOTE)
    assert codes(decide(attestation_policy(trusted), [occurrence]).violations) == ["SIGNATURE_INVALID"]


@pytest.mark.parametrize(
    "signature", [b"", b"not openpgp", b"-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----"]
)
def test_unreadable_pgp_signature_is_invalid(signature):
    key = pgp_signer()
    occurrence = attestation_occurrence(simple_signing(), [(key.key_id, signature)], QA_NOTE)
    assert codes(decide(attestation_policy(key), [occurrence]).violations) == ["SIGNATURE_INVALID"]


def test_revoked_pgp_key_verifies_nothing():
    key = pgp_signer()
    public = key.tsk.extract_certificate()
    revoked = Cert.from_bytes(bytes(public) + bytes(public.revoke(key.tsk.certifier())))
    payload = simple_signing()
    document = {"name": "qa", "noteName": QA_NOTE, "publicKeys": [{"asciiArmoredPgpPublicKey": str(revoked)}]}
    policy = make_policy({"attestations": {"attestors": ["qa"]}}, attestors=[document])
    occurrence = attestation_occurrence(payload, [(key.fingerprint, key.sign(payload))], QA_NOTE)
    assert decide(attestation_policy(key), [occurrence]).decision == "ALLOW"
    assert codes(decide(policy, [occurrence]).violations) == ["SIGNATURE_INVALID"]


def gnupg_policy(key_file: str):
    """An attestations policy trusting one key of tests/fixtures/pgp (GnuPG 2.2's `gpg --armor --export`)."""
    document = {"name": "qa", "noteName": QA_NOTE, "publicKeys": [{"asciiArmoredPgpPublicKey": ""}]}
    document["publicKeys"][0]["asciiArmoredPgpPublicKey"] = (PGP_FIXTURES / key_file).read_text()
    return make_policy({"attestations": {"attestors": ["qa"]}}, attestors=[document])


@pytest.mark.parametrize(
    "key_file, signature_file",
    [("retired.pub.asc", "retired.backdated.asc"), ("expired.pub.asc", "expired.backdated.asc")],
    ids=["revoked as no longer used", "expired"],
)
def test_a_retired_or_expired_pgp_key_verifies_nothing_whatever_date_its_signature_names(key_file, signature_file):
    """GnuPG 2.2, `--faked-system-time`: a key revoked as no longer used (a soft revocation, gpg's reason 3)
    signs after its revocation under a date before it; a key that expired on 2025-01-02 signs after that under
    a date in its lifetime. Sequoia judges a signature at the date it names, and accepts both."""
    policy = gnupg_policy(key_file)
    cert = policy.attestors[0].public_keys[0].key
    signature = (PGP_FIXTURES / signature_file).read_bytes()
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    assert pgp_verify(bytes=signature, store=lambda _ids: [cert]).valid_sigs  # Sequoia alone says valid
    occurrence = attestation_occurrence(payload, [(cert.fingerprint, signature)], QA_NOTE)
    assert codes(decide(policy, [occurrence]).violations) == ["SIGNATURE_INVALID"]


@pytest.mark.parametrize(
    "key_file, signature_file",
    [
        ("retired-subkey.pub.asc", "payload.json.retired-subkey.asc"),
        ("expired-subkey.pub.asc", "payload.json.expired-subkey.asc"),
        ("expired-subkey.pub.asc", "payload.json.expired-subkey.sig.asc"),
    ],
    ids=["subkey revoked as no longer used", "subkey expired", "subkey expired, detached"],
)
def test_a_retired_or_expired_signing_subkey_verifies_nothing_whatever_date_its_signature_names(
    key_file, signature_file
):
    """GnuPG 2.2, `--faked-system-time`: a certification-only primary key with an Ed25519 signing subkey made on
    2025-01-01, which signed on 2025-01-15 and was revoked as no longer used on 2025-02-01 (gpg's reason 3);
    another whose signing subkey expired on 2025-01-02 and signed on 2025-01-01, inline and detached. Sequoia
    judges a subkey at the date its signature names, and accepted all three."""
    policy = gnupg_policy(key_file)
    cert = policy.attestors[0].public_keys[0].key
    signature = (PGP_FIXTURES / signature_file).read_bytes()
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    if signature_file.endswith(".sig.asc"):
        sequoia = pgp_verify(bytes=payload, store=lambda _ids: [cert], signature=Sig.from_bytes(signature))
    else:
        sequoia = pgp_verify(bytes=signature, store=lambda _ids: [cert])
    assert sequoia.valid_sigs and sequoia.valid_sigs[0].signing_key != cert.fingerprint  # by the subkey
    occurrence = attestation_occurrence(payload, [(cert.fingerprint, signature)], QA_NOTE)
    assert codes(decide(policy, [occurrence]).violations) == ["SIGNATURE_INVALID"]
    in_its_lifetime = datetime(2025, 1, 1, 13, tzinfo=UTC)
    assert pgp_verifies(cert, signature, payload, in_its_lifetime) == ("expired" in key_file)


def test_a_huge_signed_message_from_anyone_does_not_veto_a_valid_attestation():
    """`gpg --sign` by another key over 32 MiB of zeros (44 KB compressed), posted on the attestor's note
    naming its key: past Sequoia's buffer its verifier raises OSError, which made the rule an evaluation
    error that denied the artifact its valid attestation."""
    policy = gnupg_policy("attestor.pub.asc")
    fingerprint = policy.attestors[0].public_keys[0].id
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    junk = attestation_occurrence(
        payload, [(fingerprint, (PGP_FIXTURES / "another-key.32MiB.asc").read_bytes())], QA_NOTE
    )
    valid = attestation_occurrence(payload, [(fingerprint, (PGP_FIXTURES / "payload.json.asc").read_bytes())], QA_NOTE)
    assert codes(decide(policy, [junk]).violations) == ["SIGNATURE_INVALID"]
    assert decide(policy, [junk, valid]).decision == "ALLOW"


def test_a_pgp_key_with_a_packet_of_an_unknown_tag_is_refused_clearly():
    """The attestor's exported key with a packet of tag 60 appended: reading its tag raised outside the checks (500)."""
    with pytest.raises(InvalidArgument, match="asciiArmoredPgpPublicKey.*not an OpenPGP public key"):
        gnupg_policy("attestor-and-tag60.pub.asc")


@pytest.mark.parametrize(
    "signature_file", ["payload.json.zlib.asc", "payload.json.uncompressed.asc", "payload.json.clearsigned.asc"]
)
def test_gnupg_signed_messages_compressed_any_way_or_clearsigned(signature_file):
    """GnuPG 2.2 with signer.secret.asc's Ed25519 key: `gpg --armor --sign --compress-algo zlib` and
    `--compress-algo none`, and `gpg --clearsign`; each is framed and bounded before Sequoia reads it."""
    public = Tsk.from_bytes((PGP_FIXTURES / "signer.secret.asc").read_bytes()).extract_certificate()
    document = {"name": "qa", "noteName": QA_NOTE, "publicKeys": [{"asciiArmoredPgpPublicKey": str(public)}]}
    policy = make_policy({"attestations": {"attestors": ["qa"]}}, attestors=[document])
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    signature = (PGP_FIXTURES / signature_file).read_bytes()
    occurrence = attestation_occurrence(payload, [(public.fingerprint, signature)], QA_NOTE)
    assert decide(policy, [occurrence]).decision == "ALLOW"
    tampered = attestation_occurrence(payload.replace(b"acme", b"evil"), [(public.fingerprint, signature)], QA_NOTE)
    assert codes(decide(policy, [tampered]).violations) == ["SIGNATURE_INVALID"]


@pytest.mark.parametrize("form", ["detached", "clearsigned", "signed"])
def test_gnupg_signatures_of_two_signers_verify_by_either(form):
    """GnuPG 2.2, `gpg -u OTHER -u SIGNER` with `--armor --detach-sign`, `--clearsign` and `--armor --sign`:
    the attestor's signature comes second. Sequoia reads only the first signature of a signature block, so
    detached and cleartext signatures of several signers were refused unless the attestor's came first."""
    public = Tsk.from_bytes((PGP_FIXTURES / "signer.secret.asc").read_bytes()).extract_certificate()
    document = {"name": "qa", "noteName": QA_NOTE, "publicKeys": [{"asciiArmoredPgpPublicKey": str(public)}]}
    policy = make_policy({"attestations": {"attestors": ["qa"]}}, attestors=[document])
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    signature = (PGP_FIXTURES / f"payload.json.two-signers.{form}.asc").read_bytes()
    occurrence = attestation_occurrence(payload, [(public.fingerprint, signature)], QA_NOTE)
    assert decide(policy, [occurrence]).decision == "ALLOW"
    tampered = attestation_occurrence(payload.replace(b"acme", b"evil"), [(public.fingerprint, signature)], QA_NOTE)
    assert codes(decide(policy, [tampered]).violations) == ["SIGNATURE_INVALID"]


def test_detached_signatures_of_many_signers_are_bounded():
    """Each signature packet of a block is verified apart, so a block holds at most MAX_SIGNATURES of them."""
    trusted, others = pgp_signer(), [pgp_signer() for _ in range(MAX_SIGNATURES)]
    payload = simple_signing()
    policy = attestation_policy(trusted)
    theirs = b"".join(o.sign(payload, SignatureMode.DETACHED, armor=False) for o in others[1:])
    ours = trusted.sign(payload, SignatureMode.DETACHED, armor=False)
    within = attestation_occurrence(payload, [(trusted.key_id, theirs + ours)], QA_NOTE)
    assert decide(policy, [within]).decision == "ALLOW"
    extra = others[0].sign(payload, SignatureMode.DETACHED, armor=False)
    beyond = attestation_occurrence(payload, [(trusted.key_id, extra + theirs + ours)], QA_NOTE)
    assert codes(decide(policy, [beyond]).violations) == ["SIGNATURE_INVALID"]


def test_pgp_and_pkix_keys_in_one_attestor():
    pkix, openpgp = signer("ED25519", "pkix-key"), pgp_signer()
    policy = attestation_policy(pkix, openpgp)
    for by in (pkix, openpgp):
        assert decide(policy, [signed_attestation(by, QA_NOTE)]).decision == "ALLOW"


def test_pgp_detached_signature_of_a_dsse_envelope():
    key = pgp_signer()
    payload = statement()
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), SignatureMode.DETACHED)
    occurrence = dsse_occurrence(payload, [(key.fingerprint, signature)], QA_NOTE)
    assert decide(attestation_policy(key), [occurrence]).decision == "ALLOW"


def test_jwt_never_verifies_with_a_pgp_key():
    key = pgp_signer()
    token = compact_jwt(signer(), kid=key.fingerprint)
    result = decide(attestation_policy(key), [jwt_occurrence([token], QA_NOTE)])
    assert codes(result.violations) == ["SIGNATURE_INVALID"]


@pytest.mark.parametrize("signature_file", ["payload.json.asc", "payload.json.sig"])
def test_gnupg_signatures(signature_file):
    """Made with GnuPG 2.2 and an RSA-3072 key, as Binary Authorization's guide does:
    `gpg --armor --export`, `gpg --armor --sign payload.json` and `gpg --detach-sign payload.json`."""
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    signature = (PGP_FIXTURES / signature_file).read_bytes()
    document = {"name": "qa", "noteName": QA_NOTE, "publicKeys": [{"asciiArmoredPgpPublicKey": ""}]}
    document["publicKeys"][0]["asciiArmoredPgpPublicKey"] = (PGP_FIXTURES / "attestor.pub.asc").read_text()
    policy = make_policy({"attestations": {"attestors": ["qa"]}}, attestors=[document])
    fingerprint = policy.attestors[0].public_keys[0].id
    assert fingerprint == "E9652C72F9727A67810B1A4BC09C5CD952031607"
    occurrence = attestation_occurrence(payload, [(fingerprint, signature)], QA_NOTE)
    assert decide(policy, [occurrence]).decision == "ALLOW"
    elsewhere = attestation_occurrence(payload, [(fingerprint, signature)], QA_NOTE, uri=OTHER_URI)
    assert codes(decide(policy, [elsewhere], uri=OTHER_URI).violations) == ["SUBJECT_MISMATCH"]
    tampered = attestation_occurrence(payload.replace(b"acme", b"evil"), [(fingerprint, signature)], QA_NOTE)
    assert codes(decide(policy, [tampered]).violations) == ["SIGNATURE_INVALID"]


def test_a_decision_verifies_a_bounded_number_of_signatures():
    """Anyone who may write attestations made one evaluation verify 20,000 signatures (15 s of CPU, more
    with more occurrences): past the budget, an attestation is not verified, and counts for nothing."""
    from grafeas_py.gate.context import MAX_SIGNATURE_CHECKS

    key = signer("ECDSA_P256_SHA256")
    policy = attestation_policy(key)
    payload = simple_signing()
    junk = attestation_occurrence(payload, [(key.key_id, b"\x01" * 64)] * (MAX_SIGNATURE_CHECKS - 1), QA_NOTE)
    good = signed_attestation(key, QA_NOTE)
    assert decide(policy, [junk, good]).decision == "ALLOW"  # within the budget, the good one still counts

    flood = attestation_occurrence(payload, [(key.key_id, b"\x01" * 64)] * MAX_SIGNATURE_CHECKS, QA_NOTE)
    result = decide(policy, [flood, good])
    assert result.decision == "DENY"  # fails closed: what was not verified vouches for nothing
    assert f"checks at most {MAX_SIGNATURE_CHECKS}" in " ".join(v.message for v in result.violations)
