"""DSSE envelopes and in-toto statements: reading them, and writing them as Grafeas messages.

An envelope's bytes are kept exactly: Grafeas holds payload and signatures as bytes, which the
canonical form writes in standard base64 (DSSE also allows URL-safe base64, which decodes to the
same bytes). A statement's Grafeas form, InTotoStatement, carries its type, subjects and predicate
type; its predicate only when it is one of the provenance kinds Grafeas models. Predicates and
statements are read the in-toto way, ignoring members Grafeas does not know, since in-toto
consumers must ignore unknown fields.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES
from grafeas_py.errors import InvalidArgument
from grafeas_py.wire.codec import DecodeError
from grafeas_py.wire.grafeas_types import CODEC, REGISTRY
from grafeas_py.wire.schema import Message

from . import reading as r
from .plan import compact

SLSA_ZERO_TWO = "https://slsa.dev/provenance/v0.2"
# Predicates InTotoStatement can hold, by predicate type: (its member, its message).
STATEMENT_PREDICATES = {
    SLSA_ZERO_TWO: ("slsaProvenanceZeroTwo", "grafeas.v1.SlsaProvenanceZeroTwo"),
    "https://slsa.dev/provenance/v0.1": ("slsaProvenance", "grafeas.v1.SlsaProvenance"),
    "https://in-toto.io/Provenance/v0.1": ("provenance", "grafeas.v1.InTotoProvenance"),
}


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    type: str
    subjects: tuple[tuple[str, dict[str, str]], ...]  # (name, digest set)
    predicate_type: str
    predicate: dict


def unwrap_bundle(doc: dict) -> tuple[dict, str]:
    """A Sigstore bundle's DSSE envelope and the path to it (`gh attestation download` and
    actions/attest-build-provenance write bundles); any other document as it is, at the root."""
    if "dsseEnvelope" in doc:
        return r.obj(doc, "dsseEnvelope", "", required=True), "dsseEnvelope"
    if "messageSignature" in doc:
        r.fail("messageSignature", "this Sigstore bundle signs a blob, not an attestation: it holds no DSSE envelope")
    return doc, ""


def read_statement(doc: dict) -> tuple[Statement, Envelope | None, str]:
    """The in-toto statement a document is or carries (in a DSSE envelope, or a Sigstore bundle holding
    one), the envelope (None for a bare statement), and the prefix of paths into the statement: errors
    inside an envelope point into its decoded payload."""
    doc, at = unwrap_bundle(doc)
    if not (at or is_envelope(doc)):
        return parse_statement(doc), None, ""
    envelope = parse_envelope(doc, at)
    return statement_payload(envelope, r.join(at, "payload")), envelope, r.join(at, "payload.")


def is_envelope(doc: dict) -> bool:
    """Whether a parsed document is a DSSE envelope rather than a bare statement."""
    return "payloadType" in doc and "payload" in doc


def parse_envelope(doc: dict, path: str = "") -> Envelope:
    """Read a DSSE envelope `{payloadType, payload, signatures: [{keyid, sig}]}`."""
    return Envelope(
        payload_type=r.text(doc, "payloadType", path, required=True),
        payload=_base64(r.text(doc, "payload", path, required=True), r.join(path, "payload")),
        signatures=tuple(
            Signature(r.text(s, "keyid", spath), _base64(r.text(s, "sig", spath, required=True), f"{spath}.sig"))
            for spath, s in r.objects(doc, "signatures", path)
        ),
    )


def _base64(value: str, path: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as DSSE readers accept."""
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        r.fail(path, "not valid base64")


def envelope_message(envelope: Envelope) -> dict:
    """The Grafeas Envelope message."""
    return compact(
        payload=base64.b64encode(envelope.payload).decode(),
        payloadType=envelope.payload_type,
        signatures=[compact(sig=base64.b64encode(s.sig).decode(), keyid=s.keyid) for s in envelope.signatures],
    )


def statement_payload(envelope: Envelope, path: str = "payload") -> Statement:
    """The in-toto statement an in-toto envelope carries; the path names the payload in errors."""
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        r.fail("payloadType", f"expected {IN_TOTO_PAYLOAD_TYPE!r}, got {envelope.payload_type!r}")
    try:
        doc = r.load_json(envelope.payload)
    except InvalidArgument as exc:
        r.fail(path, f"the decoded payload is {exc.message}")
    return parse_statement(doc, path)


def _subject_digests(subject: dict, path: str) -> dict[str, str]:
    """A subject's digest set, which in-toto requires to hold one digest at least."""
    digests = r.string_map(subject, "digest", path)
    if not any(digests.values()):
        r.fail(r.join(path, "digest"), "is required: a subject is named by its digests (sha256 for an image)")
    return digests


def parse_statement(doc, path: str = "") -> Statement:
    """Read an in-toto statement (v1, or v0.1 as older tools write)."""
    doc = r.as_object(doc, path)
    statement_type = r.text(doc, "_type", path, required=True)
    if statement_type not in IN_TOTO_STATEMENT_TYPES:
        expected = ", ".join(IN_TOTO_STATEMENT_TYPES)
        r.fail(r.join(path, "_type"), f"unknown value {statement_type!r}; expected one of {expected}")
    subjects = tuple(
        (r.text(s, "name", spath), _subject_digests(s, spath))
        for spath, s in r.objects(doc, "subject", path, required=True)
    )
    if not subjects:  # about nothing, it would be read as about whatever it is posted for
        r.fail(r.join(path, "subject"), "is empty: an in-toto statement names at least one subject")
    return Statement(
        type=statement_type,
        subjects=subjects,
        predicate_type=r.text(doc, "predicateType", path, required=True),
        predicate=r.obj(doc, "predicate", path),
    )


def statement_message(statement: Statement, path: str = "predicate") -> dict:
    """The Grafeas InTotoStatement: header always, predicate when Grafeas models its type."""
    out = compact(
        type=statement.type,
        subject=[compact(name=name, digest=digest) for name, digest in statement.subjects],
        predicateType=statement.predicate_type,
    )
    known = STATEMENT_PREDICATES.get(statement.predicate_type)
    if known and statement.predicate:
        member, message = known
        predicate = statement.predicate
        if statement.predicate_type == SLSA_ZERO_TWO:
            predicate = _grafeas_spelling(predicate, path)
        out[member] = to_message(message, predicate, path)
    return out


def _grafeas_spelling(predicate: dict, path: str) -> dict:
    """SLSA v0.2 writes `metadata.buildInvocationID`, a field Grafeas's SlsaMetadata spells `buildInvocationId`."""
    metadata = predicate.get("metadata")
    if type(metadata) is not dict or "buildInvocationID" not in metadata:
        return predicate
    invocation = r.text(metadata, "buildInvocationID", r.join(path, "metadata"))  # errors name it as written
    rest = {key: value for key, value in metadata.items() if key != "buildInvocationID"}
    return {**predicate, "metadata": {**rest, "buildInvocationId": invocation}}


def to_message(message: str, data: dict, path: str) -> dict:
    """Decode JSON into a Grafeas message's canonical form, dropping members the message does not have."""
    msg = REGISTRY.messages[message]
    try:
        return CODEC.decode(msg, _known_members(msg, data))
    except DecodeError as exc:
        r.fail(r.join(path, exc.path) if exc.path else path, exc.reason)


def _known_members(msg: Message, data):
    if type(data) is not dict:
        return data  # the codec reports the wrong type, with its path
    out = {}
    for key, value in data.items():
        f = msg.by_key.get(key)
        if f is None:
            continue
        inner = (f.map_value or f).message
        if inner is not None and not inner.well_known:
            if f.map_value is not None and type(value) is dict:
                value = {k: _known_members(inner, v) for k, v in value.items()}
            elif f.repeated and f.map_value is None and type(value) is list:
                value = [_known_members(inner, v) for v in value]
            elif not f.repeated:
                value = _known_members(inner, value)
        out[key] = value
    return out
