"""Policy documents: validation errors that name their fields, keys checked on upload, JSON and YAML text."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate import load_policy_text, parse_policy
from grafeas_py.gate.keys import ALGORITHMS
from grafeas_py.gate.licences import Licence
from tests.unit.gate.builders import attestor, pgp_signer, signer

POLICY_DOC = Path(__file__).parents[3] / "docs" / "policy.md"


def problems(doc) -> dict[str, str]:
    """field path -> description, from the InvalidArgument parse_policy raises."""
    with pytest.raises(InvalidArgument) as caught:
        parse_policy(doc)
    (details,) = caught.value.details
    assert details["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    found = {v["field"]: v["description"] for v in details["fieldViolations"]}
    assert caught.value.message.startswith("invalid policy: ")
    for field, description in found.items():
        assert f"{field}: {description}" in caught.value.message
    return found


def rules(**rule_docs) -> dict:
    return {"rules": rule_docs}


ED = signer("ED25519")
P256 = signer("ECDSA_P256_SHA256")
P256_OTHER = signer("ECDSA_P256_SHA256", fresh=True)
RSA2048 = signer("RSA_SIGN_PKCS1_2048_SHA256")


@pytest.mark.parametrize(
    "doc, field, says",
    [
        (
            rules(vulnerabilities={"maximumFixableSeverity": "SEVERE"}),
            "rules.vulnerabilities.maximumFixableSeverity",
            "must be one of: MINIMAL, LOW, MEDIUM, HIGH, CRITICAL, BLOCK_ALL, ALLOW_ALL",
        ),
        (rules(vulnerabilities={}), "rules.vulnerabilities", "set at least one of"),
        (
            rules(vulnerabilities={"maximumCvssScore": 11}),
            "rules.vulnerabilities.maximumCvssScore",
            "less than or equal to 10",
        ),
        (
            rules(vulnerabilities={"maximumCvssScore": "high"}),
            "rules.vulnerabilities.maximumCvssScore",
            "not a valid number",
        ),
        (
            rules(vulnerabilities={"maximumFixableSeverity": "LOW", "exemptions": [{"cve": "CVE-1"}]}),
            "rules.vulnerabilities.exemptions[0].justification",
            "is required",
        ),
        (
            rules(
                vulnerabilities={
                    "maximumFixableSeverity": "LOW",
                    "exemptions": [{"cve": "CVE-1", "justification": "j", "expires": "2026-01-01T00:00:00"}],
                }
            ),
            "rules.vulnerabilities.exemptions[0].expires",
            "must include a time zone",
        ),
        (
            rules(
                vulnerabilities={
                    "maximumFixableSeverity": "LOW",
                    "exemptions": [{"cve": "CVE-1", "justification": "j", "expires": "soon"}],
                }
            ),
            "rules.vulnerabilities.exemptions[0].expires",
            "RFC 3339",
        ),
        (rules(vulnz={}), "rules.vulnz", "is not a field of this policy format"),
        (rules(scan={"mode": "audit", "maxAge": "1d"}), "rules.scan.mode", "must be one of: enforce, warn, dryrun"),
        (rules(scan={}), "rules.scan.maxAge", "is required"),
        (rules(scan={"maxAge": "1 week"}), "rules.scan.maxAge", "must be a duration such as 24h"),
        (rules(scan={"maxAge": "0h"}), "rules.scan.maxAge", "longer than zero"),
        (rules(identity={"allowTags": "yes"}), "rules.identity.allowTags", "not a valid boolean"),
        (rules(identity={"allowTags": 1}), "rules.identity.allowTags", "not a valid boolean"),  # 1 == True
        (rules(vulnerabilities={"maximumCvssScore": "7"}), "rules.vulnerabilities.maximumCvssScore", "number"),
        (rules(artifacts={"allowPatterns": ["gcr.io/***"]}), "rules.artifacts.allowPatterns[0]", "not `***`"),
        (
            rules(artifacts={"denyPatterns": ["gcr.io/" + "**a" * 33]}),
            "rules.artifacts.denyPatterns[0]",
            "holds 33 wildcards; a pattern may hold at most 32",
        ),
        (rules(artifacts={"denyPatterns": [""]}), "rules.artifacts.denyPatterns[0]", "must not be empty"),
        (rules(provenance={"builderIds": "https://builder"}), "rules.provenance.builderIds", "not a valid list"),
        (rules(attestations={"attestors": []}), "rules.attestations.attestors", "list at least one attestor"),
        (
            rules(attestations={"attestors": ["qa"]}),
            "rules.attestations.attestors[0]",
            "unknown attestor 'qa'; declare it under attestors",
        ),
        (rules(tests={"signedBy": ["ci"]}), "rules.tests.signedBy[0]", "unknown attestor 'ci'"),
        (
            rules(compliance={"noteNames": ["cis"]}),
            "rules.compliance.noteNames[0]",
            'must be in the form "projects/[PROJECT_ID]/notes/[NOTE_ID]"',
        ),
        (
            rules(secrets={"allowKinds": ["AWS_KEY"]}),
            "rules.secrets.allowKinds[0]",
            "must be one of: SECRET_KIND_UNKNOWN,",
        ),
        (rules(secrets={"allowKinds": ["SECRET_KIND_UNSPECIFIED"]}), "rules.secrets.allowKinds[0]", "must be one of"),
        (rules(packages={}), "rules.packages", "set denyPackages or denyLicenses"),
        (
            rules(packages={"denyPackages": [{"versions": ["1.*"]}]}),
            "rules.packages.denyPackages[0].name",
            "is required",
        ),
        # entries that could match no package's licence, or no version, deny nothing: refused, saying why
        (
            rules(packages={"denyLicenses": ["MIT", "AGPL-*"]}),
            "rules.packages.denyLicenses[1]",
            "'AGPL-*' is not an SPDX licence id (such as AGPL-3.0-only) or <licence> WITH <exception>: "
            "denyLicenses takes no globs",
        ),
        *(
            (rules(packages={"denyLicenses": [entry]}), "rules.packages.denyLicenses[0]", "takes no expressions")
            for entry in ["GPL-3.0-or-later OR AGPL-3.0-only", "(AGPL-3.0-only)", "MIT AND", "OR", "GPL-2.0 WITH"]
        ),
        (rules(packages={"denyLicenses": [" "]}), "rules.packages.denyLicenses[0]", "must not be empty"),
        (rules(packages={"denyLicenses": [3]}), "rules.packages.denyLicenses[0]", "must be an SPDX licence id"),
        *(
            (
                rules(packages={"denyPackages": [{"name": "mongo", "versions": ["2.*", version]}]}),
                "rules.packages.denyPackages[0].versions[1]",
                f"{version!r} looks like a version range; versions are patterns of one version",
            )
            for version in [">=1.0 <9.0", "[1.0,9.0)", "<9", "~1.2", "^1.2", "1.0 || 2.0", "=1.0", "!=1.0"]
        ),
        ({"rules": []}, "rules", "invalid input type"),
        (
            {"exemptions": [{"artifact": "**", "rule": "vulns", "justification": "j"}]},
            "exemptions[0].rule",
            "must be one of: artifacts, identity",
        ),
        (
            {"exemptions": [{"artifact": "**", "rule": "scan", "justification": " "}]},
            "exemptions[0].justification",
            "must not be empty",
        ),
        (
            {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": []}]},
            "attestors[0].publicKeys",
            "at least one public key",
        ),
        (
            {
                "attestors": [
                    {
                        "name": "qa",
                        "noteName": "projects/a/notes/qa",
                        "publicKeys": [{"algorithm": "ED25519", "publicKeyPem": "garbage"}],
                    }
                ]
            },
            "attestors[0].publicKeys[0].publicKeyPem",
            "is not a PEM public key",
        ),
        (
            {
                "attestors": [
                    {
                        "name": "qa",
                        "noteName": "projects/a/notes/qa",
                        "publicKeys": [{"algorithm": "DSA_1024", "publicKeyPem": "x"}],
                    }
                ]
            },
            "attestors[0].publicKeys[0].algorithm",
            "must be one of: ED25519",
        ),
        (
            {"attestors": [attestor("qa", [ED]), attestor("qa", [P256])]},
            "attestors[1].name",
            "duplicate attestor name 'qa'",
        ),
        ({"attestors": [attestor("qa", [ED, ED])]}, "attestors[0].publicKeys[1].id", "duplicate key id 'key-1'"),
        ({"description": 5}, "description", "not a valid string"),
        ({"rego": 5}, "rego", "must be a Rego module (text) or an object"),
    ],
)
def test_problem_names_its_field(doc, field, says):
    found = problems(doc)
    assert field in found, found
    assert says in found[field]


@pytest.mark.parametrize(
    "key, algorithm, says",
    [
        (P256, "RSA_SIGN_PKCS1_2048_SHA256", "is an EC key on curve secp256r1, which does not fit algorithm RSA_SIGN"),
        (P256, "ECDSA_P384_SHA384", "is an EC key on curve secp256r1"),
        (RSA2048, "RSA_PSS_4096_SHA512", "is a 2048-bit RSA key, which does not fit algorithm RSA_PSS_4096_SHA512"),
        (RSA2048, "ED25519", "is a 2048-bit RSA key"),
        (ED, "ECDSA_P256_SHA256", "is an Ed25519 key"),
    ],
)
def test_key_must_fit_its_algorithm(key, algorithm, says):
    declared = {"id": "k", "algorithm": algorithm, "publicKeyPem": key.public_pem}
    doc = {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": [declared]}]}
    assert says in problems(doc)["attestors[0].publicKeys[0].publicKeyPem"]


def test_a_pem_of_two_keys_is_refused():
    """Only the first was loaded: whoever declared both believed the second trusted too."""
    declared = {"id": "k", "algorithm": "ECDSA_P256_SHA256", "publicKeyPem": P256.public_pem + P256_OTHER.public_pem}
    doc = {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": [declared]}]}
    assert problems(doc)["attestors[0].publicKeys[0].publicKeyPem"] == "holds 2 PEM blocks; give one key per entry"


PGP = pgp_signer()
PGP_PUBLIC = PGP.public_key()["asciiArmoredPgpPublicKey"]
EMPTY_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.mark.parametrize(
    "declared, field, says",
    [
        ({"id": "k"}, "attestors[0].publicKeys[0]", "give either publicKeyPem (with algorithm) or asciiArmored"),
        (
            {"publicKeyPem": ED.public_pem, "asciiArmoredPgpPublicKey": PGP_PUBLIC, "algorithm": "ED25519"},
            "attestors[0].publicKeys[0]",
            "give either",
        ),
        ({"publicKeyPem": ED.public_pem}, "attestors[0].publicKeys[0].algorithm", "a PKIX key needs its algorithm"),
        (
            {"asciiArmoredPgpPublicKey": PGP_PUBLIC, "algorithm": "ED25519"},
            "attestors[0].publicKeys[0].algorithm",
            "an OpenPGP key names its own algorithm",
        ),
        (
            {"asciiArmoredPgpPublicKey": PGP_PUBLIC, "id": "key-1"},
            "attestors[0].publicKeys[0].id",
            "an OpenPGP key's id is its fingerprint, {fingerprint}; leave id out",
        ),
        (
            {"asciiArmoredPgpPublicKey": str(PGP.tsk)},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "holds secret key material; give the public key only",
        ),
        (
            {"asciiArmoredPgpPublicKey": ED.public_pem},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "is a PEM key, not an OpenPGP key; give a PKIX key as publicKeyPem",
        ),
        (
            {"asciiArmoredPgpPublicKey": base64.b64encode(b"some other bytes").decode()},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "is not an OpenPGP public key: ",
        ),
        ({"asciiArmoredPgpPublicKey": " "}, "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey", "must not be empty"),
        (
            {"asciiArmoredPgpPublicKey": EMPTY_ARMOR},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "is not an OpenPGP public key: it holds no key",
        ),
        (
            {"asciiArmoredPgpPublicKey": "not a key"},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "is neither an ASCII-armored OpenPGP key nor base64 of one",
        ),
        (
            {"asciiArmoredPgpPublicKey": PGP_PUBLIC + pgp_signer().public_key()["asciiArmoredPgpPublicKey"]},
            "attestors[0].publicKeys[0].asciiArmoredPgpPublicKey",
            "holds 2 keys; give one key per entry",
        ),
    ],
)
def test_pgp_key_problems(declared, field, says):
    doc = {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": [declared]}]}
    found = problems(doc)
    assert says.format(fingerprint=PGP.fingerprint) in found[field], found


def test_pgp_key_as_kritis_stores_it():
    """Kritis's AttestationAuthority holds base64 of the armored key; its id may be given as the fingerprint."""
    encoded = base64.b64encode(PGP_PUBLIC.encode()).decode()
    for declared in (
        {"asciiArmoredPgpPublicKey": encoded},
        {"asciiArmoredPgpPublicKey": PGP_PUBLIC, "id": f"openpgp4fpr:{PGP.fingerprint.lower()}"},
    ):
        doc = {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": [declared]}]}
        (key,) = parse_policy(doc).attestors[0].public_keys
        assert (key.id, key.is_pgp) == (PGP.fingerprint, True)


def test_every_problem_is_listed_at_once():
    doc = {
        "rules": {"scan": {"maxAge": "soon"}, "vulnerabilities": {"maximumFixableSeverity": "X"}},
        "attestors": [{"name": "qa"}],
        "exemptions": [{}],
        "colour": "blue",
    }
    assert set(problems(doc)) == {
        "rules.scan.maxAge",
        "rules.vulnerabilities.maximumFixableSeverity",
        "attestors[0].noteName",
        "attestors[0].publicKeys",
        "exemptions[0].artifact",
        "exemptions[0].rule",
        "exemptions[0].justification",
        "colour",
    }


def test_policy_must_be_an_object():
    with pytest.raises(InvalidArgument, match="a policy must be an object"):
        parse_policy(["rules"])


def test_parsed_policy():
    doc = {
        "description": "prod",
        "attestors": [attestor("qa", [ED, signer("EC_SIGN_P256_SHA256", "alias")])],
        "rules": {
            "vulnerabilities": {
                "maximumFixableSeverity": "MEDIUM",
                "exemptions": [{"cve": "CVE-1", "justification": "j", "expires": "2026-07-01T00:00:00+02:00"}],
            },
            "scan": {"maxAge": "1d12h", "mode": "warn"},
            "attestations": {"attestors": ["qa"]},
            "packages": {"denyLicenses": ["agpl-3.0-only"]},
        },
        "exemptions": [{"artifact": "gcr.io/**", "rule": "scan", "justification": "j", "expires": "2026-07-01"}],
    }
    policy = parse_policy(doc)
    vulns = policy.rules.vulnerabilities
    assert (vulns.mode, vulns.maximum_fixable_severity, vulns.maximum_unfixable_severity) == (
        "enforce",
        "MEDIUM",
        "ALLOW_ALL",
    )
    assert vulns.exemptions[0].expires == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert (policy.rules.scan.mode, policy.rules.scan.max_age) == ("warn", timedelta(days=1, hours=12))
    assert policy.rules.identity.allow_tags is False and policy.rules.provenance is None
    assert policy.rules.packages.deny_licenses == (Licence("AGPL-3.0-only", text="agpl-3.0-only"),)
    assert policy.exemptions[0].expires == datetime(2026, 7, 1, tzinfo=UTC)
    qa = policy.attestors_by_name["qa"]
    assert [k.algorithm.name for k in qa.public_keys] == ["ED25519", "ECDSA_P256_SHA256"]


def test_key_id_defaults_to_a_digest_of_the_key():
    declared = {"algorithm": "ED25519", "publicKeyPem": ED.public_pem}
    doc = {"attestors": [{"name": "qa", "noteName": "projects/a/notes/qa", "publicKeys": [declared]}]}
    (key,) = parse_policy(doc).attestors[0].public_keys
    assert re.fullmatch(r"ni:///sha-256;[A-Za-z0-9_-]{43}", key.id)


def test_note_names_are_stored_in_the_short_form():
    doc = {"rules": {"compliance": {"noteNames": ["projects/a/locations/global/notes/cis"]}}}
    assert parse_policy(doc).rules.compliance.note_names == ("projects/a/notes/cis",)


def test_algorithm_names():
    assert sorted(ALGORITHMS) == sorted(
        ["ED25519", "ECDSA_P256_SHA256", "ECDSA_P384_SHA384", "ECDSA_P521_SHA512"]
        + [f"RSA_SIGN_PKCS1_{bits}_SHA256" for bits in (2048, 3072, 4096)]
        + [f"RSA_PSS_{bits}_SHA256" for bits in (2048, 3072, 4096)]
        + ["RSA_SIGN_PKCS1_4096_SHA512", "RSA_PSS_4096_SHA512"]
    )


# ---- text -----------------------------------------------------------------------------------------------------

YAML_POLICY = """\
description: prod gate
rules:
  vulnerabilities:
    maximumFixableSeverity: MEDIUM
    exemptions:
      - cve: CVE-2023-1234
        justification: not reachable
        expires: 2026-07-01T00:00:00Z
  scan:
    maxAge: 24h
exemptions:
  - artifact: gcr.io/acme/legacy/**
    rule: scan
    justification: TICKET-9
    expires: 2026-08-01
"""


@pytest.mark.parametrize("content_type", ["application/yaml", "application/x-yaml", "text/yaml; charset=utf-8"])
def test_yaml_policy(content_type):
    doc = load_policy_text(YAML_POLICY, content_type)
    # YAML timestamps and dates come back as JSON text, so that the document can be stored as JSON.
    assert doc["rules"]["vulnerabilities"]["exemptions"][0]["expires"] == "2026-07-01T00:00:00Z"
    assert doc["exemptions"][0]["expires"] == "2026-08-01"
    json.dumps(doc)
    policy = parse_policy(doc)
    assert policy.rules.vulnerabilities.exemptions[0].expires == datetime(2026, 7, 1, tzinfo=UTC)


def test_json_policy():
    text = json.dumps({"rules": {"scan": {"maxAge": "7d"}}})
    assert load_policy_text(text, "application/json") == {"rules": {"scan": {"maxAge": "7d"}}}


def test_a_key_written_beside_a_yaml_merge_overrides_it():
    """It was refused as a key found twice, at a line where it appears once."""
    text = "rules:\n  vulnerabilities:\n    <<: {maximumFixableSeverity: CRITICAL, mode: warn}\n    mode: enforce\n"
    assert load_policy_text(text, "application/yaml") == {
        "rules": {"vulnerabilities": {"maximumFixableSeverity": "CRITICAL", "mode": "enforce"}}
    }
    # Merged from two maps, one of the values would be dropped unseen: still refused.
    both = "rules:\n  vulnerabilities:\n    <<: [{maximumFixableSeverity: LOW}, {maximumFixableSeverity: HIGH}]\n"
    with pytest.raises(InvalidArgument) as caught:
        load_policy_text(both, "application/yaml")
    assert "found the key 'maximumFixableSeverity' twice" in caught.value.message


@pytest.mark.parametrize(
    "text, content_type, says",
    [
        ('{"rules": {\n  "scan": }', "application/json", "the policy is not valid JSON: line 2, column 11"),
        ("rules:\n  scan: [1,\n  maxAge: }", "application/yaml", "the policy is not valid YAML: line 3, column 11"),
        (
            "rules: {}\nrules: {}\n",
            "application/yaml",
            "the policy is not valid YAML: line 2, column 1: found the key 'rules' twice",
        ),
        ('{"rules": {}, "rules": {}}', "application/json", "the key rules appears twice"),
        ("- rules", "application/yaml", "a policy must be an object (a mapping), got list"),
        ("[]", "application/json", "a policy must be an object (a mapping), got list"),
        ("rules: {}", "text/plain", "a policy must be sent as one of application/json, application/yaml"),
        ("{1: x}", "application/yaml", "invalid policy: policy: key 1 must be text"),
        ("a: !!binary aGk=", "application/yaml", "invalid policy: a: a bytes is not a JSON value"),
        ('{"a": NaN}', "application/json", "invalid policy: a: nan is not a JSON number"),
        ('{"a": {"b": [1, NaN]}}', "application/json", "invalid policy: a.b[1]: nan is not a JSON number"),
        ("a: [{b: {1: x}}]", "application/yaml", "invalid policy: a[0].b: key 1 must be text"),
        # a long key is cut short in the path, not echoed whole
        (f'{{"{"k" * 100}": [NaN]}}', "application/json", f"invalid policy: {'k' * 40}...[0]: nan is not"),
        ("a: !!python/object:os.system x", "application/yaml", "could not determine a constructor"),
    ],
)
def test_bad_text(text, content_type, says):
    with pytest.raises(InvalidArgument) as caught:
        load_policy_text(text, content_type)
    assert says in caught.value.message


def test_yaml_timestamp_without_zone_is_named():
    doc = load_policy_text(
        "rules:\n  vulnerabilities:\n    maximumFixableSeverity: LOW\n    exemptions:\n"
        "      - {cve: CVE-1, justification: j, expires: 2026-01-01 10:00:00}\n",
        "application/yaml",
    )
    assert "must include a time zone" in problems(doc)["rules.vulnerabilities.exemptions[0].expires"]


def test_documented_example_policy_is_valid():
    """The example in docs/policy.md parses, so the reference cannot drift from the code."""
    blocks = re.findall(r"```yaml\n(.*?)```", POLICY_DOC.read_text(), re.DOTALL)
    example = load_policy_text(blocks[0], "application/yaml")
    pytest.importorskip("regopy")
    policy = parse_policy(example)
    assert policy.rules.vulnerabilities is not None and policy.rego is not None


def test_yaml_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(InvalidArgument, match="more than 100000 values"):
        load_policy_text("\n".join(lines), "application/yaml")


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_deep_nesting_is_refused(content_type):
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        load_policy_text("[" * 100_000 + "]" * 100_000, content_type)


def test_bytes_must_be_utf8():
    assert load_policy_text(b'{"description": "caf\xc3\xa9"}', "application/json") == {"description": "café"}
    with pytest.raises(InvalidArgument, match="UTF-8"):
        load_policy_text(b'{"description": "\xff"}', "application/json")
