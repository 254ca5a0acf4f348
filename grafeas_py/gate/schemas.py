"""Marshmallow schemas for the policy document: camelCase keys in, `model` dataclasses out.

Unknown keys are errors (a misspelt rule must not silently check nothing). Cross-references,
such as rules naming attestors, are checked on the raw document so that they are reported
together with every other problem.
"""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, OneOf, Range

from grafeas_py.errors import InvalidArgument
from grafeas_py.names import check_id, parse_note_name
from grafeas_py.wire.grafeas_types import REGISTRY

from . import pgp, rego
from .artifacts import canonical_pattern, canonical_source_pattern
from .keys import ALGORITHMS, ALIASES, algorithm_named, default_key_id, load_public_key
from .licences import denied_licence
from .model import (
    MODES,
    RULE_NAMES,
    THRESHOLDS,
    ArtifactRule,
    AttestationRule,
    Attestor,
    ComplianceRule,
    CveExemption,
    DeniedPackage,
    Exemption,
    IdentityRule,
    PackageRule,
    Policy,
    ProvenanceRule,
    PublicKey,
    RegoRule,
    Rules,
    ScanRule,
    SecretRule,
    TestResultRule,
    VulnerabilityRule,
)
from .patterns import compile_pattern
from .timeutil import parse_duration, parse_timestamp

# The kinds of secret Grafeas names (grafeas.v1.SecretKind), as the allowKinds of a secrets rule take them.
SECRET_KINDS = [name for name in REGISTRY.enums["grafeas.v1.SecretKind"].numbers if name != "SECRET_KIND_UNSPECIFIED"]


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be empty")


class _ValueField(fields.Field):
    """A field whose value is built by `convert`, whose ValueError becomes the field's error."""

    def convert(self, value):
        raise NotImplementedError

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.convert(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class PatternField(_ValueField):
    def convert(self, value):
        if not isinstance(value, str):
            raise ValueError("must be a pattern (text)")
        return compile_pattern(value)


class ArtifactPatternField(PatternField):
    """A pattern of artifact URIs, matched in the canonical form artifacts are (`artifacts.canonical_pattern`)."""

    canonical = staticmethod(canonical_pattern)

    def convert(self, value):
        if not isinstance(value, str):
            raise ValueError("must be a pattern (text)")
        return compile_pattern(value, self.canonical(value))


class SourcePatternField(ArtifactPatternField):
    """A pattern of source URIs, matched in the canonical form they are (`artifacts.canonical_source_pattern`)."""

    canonical = staticmethod(canonical_source_pattern)


class VersionPatternField(PatternField):
    """A version pattern: a glob over one version, never a range, which would match no version at all."""

    def convert(self, value):
        pattern = super().convert(value)
        if re.search(r"\s|^[<>=!~^]|[\[\](),|]", value):
            raise ValueError(
                f"{value!r} looks like a version range; versions are patterns of one version (such as 2.14.1 or "
                "2.1*, with * and ** as in every pattern): list each version or prefix the range holds"
            )
        return pattern


class LicenceField(_ValueField):
    def convert(self, value):
        if not isinstance(value, str):
            raise ValueError("must be an SPDX licence id (text)")
        return denied_licence(value)


class TimestampField(_ValueField):
    def convert(self, value):
        return parse_timestamp(value)


class DurationField(_ValueField):
    def convert(self, value):
        return parse_duration(value)


class NoteNameField(_ValueField):
    def convert(self, value):
        if not isinstance(value, str):
            raise ValueError("must be a note name (text)")
        try:
            return parse_note_name(value).name
        except InvalidArgument:
            raise ValueError('must be in the form "projects/[PROJECT_ID]/notes/[NOTE_ID]"') from None


def _text(**kwargs) -> fields.String:
    # The pattern says in the OpenAPI spec what _not_blank checks.
    return fields.String(validate=_not_blank, metadata={"pattern": r"\S"}, **kwargs)


def _mode() -> fields.String:
    return fields.String(load_default="enforce", validate=OneOf(MODES))


class _Flag(fields.Boolean):
    """Only JSON/YAML booleans: "no" or 0 meaning false is a surprise in a security policy (and 1 is True
    to a set of truthy values)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class _Number(fields.Float):
    """A JSON number: marshmallow's Float also reads text ("7"), which was stored as text."""

    def _validated(self, value):
        if isinstance(value, str | bool):
            raise self.make_error("invalid")
        return super()._validated(value)


def _flag(**kwargs) -> fields.Boolean:
    return _Flag(load_default=False, **kwargs)


def _patterns(field: type[PatternField] = PatternField, **kwargs) -> fields.List:
    return fields.List(field(), load_default=(), **kwargs)


def _tuples(data: dict) -> dict:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}


class _RuleSchema(Schema):
    """A schema whose loaded dict becomes an instance of `model`."""

    model: type

    @post_load
    def make(self, data, **kwargs):
        return self.model(**_tuples(data))


class PublicKeySchema(Schema):
    """A PKIX key (`publicKeyPem` with its `algorithm`) or an OpenPGP key (`asciiArmoredPgpPublicKey`)."""

    id = _text()
    algorithm = fields.String(validate=OneOf([*ALGORITHMS, *ALIASES]))
    public_key_pem = fields.String(data_key="publicKeyPem")
    pgp_public_key = fields.String(data_key="asciiArmoredPgpPublicKey")

    @validates_schema
    def _one_form(self, data, **kwargs):
        if ("public_key_pem" in data) == ("pgp_public_key" in data):
            raise ValidationError("give either publicKeyPem (with algorithm) or asciiArmoredPgpPublicKey")
        if "public_key_pem" in data and "algorithm" not in data:
            raise ValidationError("a PKIX key needs its algorithm", field_name="algorithm")
        if "pgp_public_key" in data and "algorithm" in data:
            message = "an OpenPGP key names its own algorithm; leave algorithm out"
            raise ValidationError(message, field_name="algorithm")

    @post_load
    def make(self, data, **kwargs):
        if "pgp_public_key" in data:
            return _pgp_key(data.get("id"), data["pgp_public_key"])
        algorithm = algorithm_named(data["algorithm"])
        try:
            key = load_public_key(data["public_key_pem"], algorithm)
        except ValueError as error:
            raise ValidationError(str(error), field_name="publicKeyPem") from None
        return PublicKey(data.get("id") or default_key_id(key), algorithm, data["public_key_pem"], key)


def _pgp_key(given_id: str | None, text: str) -> PublicKey:
    """An OpenPGP key, whose id is its fingerprint, as Binary Authorization computes it."""
    try:
        cert = pgp.load_pgp_key(text)
    except ValueError as error:
        raise ValidationError(str(error), field_name="asciiArmoredPgpPublicKey") from None
    fingerprint = pgp.fingerprint(cert)
    if given_id and pgp.normalize_key_id(given_id) != fingerprint:
        message = f"an OpenPGP key's id is its fingerprint, {fingerprint}; leave id out or give that"
        raise ValidationError(message, field_name="id")
    return PublicKey(fingerprint, None, text, cert)


class AttestorSchema(Schema):
    name = _text(required=True)
    note_name = NoteNameField(required=True, data_key="noteName")
    public_keys = fields.List(
        fields.Nested(PublicKeySchema),
        required=True,
        data_key="publicKeys",
        validate=Length(min=1, error="an attestor needs at least one public key"),
    )

    @post_load
    def make(self, data, **kwargs):
        seen: set[str] = set()
        for index, key in enumerate(data["public_keys"]):
            if key.id in seen:
                raise ValidationError({"publicKeys": {index: {"id": [f"duplicate key id {key.id!r}"]}}})
            seen.add(key.id)
        return Attestor(data["name"], data["note_name"], tuple(data["public_keys"]))


class ArtifactRuleSchema(_RuleSchema):
    model = ArtifactRule
    mode = _mode()
    allow_patterns = _patterns(ArtifactPatternField, data_key="allowPatterns")
    deny_patterns = _patterns(ArtifactPatternField, data_key="denyPatterns")


class IdentityRuleSchema(_RuleSchema):
    model = IdentityRule
    mode = _mode()
    allow_tags = _flag(data_key="allowTags")


class CveExemptionSchema(_RuleSchema):
    model = CveExemption
    cve = _text(required=True)
    justification = _text(required=True)
    expires = TimestampField(load_default=None)


class VulnerabilityRuleSchema(_RuleSchema):
    model = VulnerabilityRule
    mode = _mode()
    maximum_fixable_severity = fields.String(data_key="maximumFixableSeverity", validate=OneOf(THRESHOLDS))
    maximum_unfixable_severity = fields.String(data_key="maximumUnfixableSeverity", validate=OneOf(THRESHOLDS))
    maximum_cvss_score = _Number(data_key="maximumCvssScore", allow_nan=False, validate=Range(0, 10))
    exemptions = fields.List(fields.Nested(CveExemptionSchema), load_default=())

    @validates_schema
    def check_thresholds(self, data, **kwargs):
        limits = ("maximum_fixable_severity", "maximum_unfixable_severity", "maximum_cvss_score")
        if not any(name in data for name in limits):
            raise ValidationError(
                "set at least one of maximumFixableSeverity, maximumUnfixableSeverity or maximumCvssScore"
            )


class ScanRuleSchema(_RuleSchema):
    model = ScanRule
    mode = _mode()
    max_age = DurationField(required=True, data_key="maxAge")


class ProvenanceRuleSchema(_RuleSchema):
    model = ProvenanceRule
    mode = _mode()
    builder_ids = _patterns(data_key="builderIds")
    source_uris = _patterns(SourcePatternField, data_key="sourceUris")


class TestResultRuleSchema(_RuleSchema):
    __test__ = False
    model = TestResultRule
    mode = _mode()
    allow_warned = _flag(data_key="allowWarned")
    signed_by = fields.List(_text(), load_default=(), data_key="signedBy")


class AttestationRuleSchema(_RuleSchema):
    model = AttestationRule
    mode = _mode()
    attestors = fields.List(_text(), required=True, validate=Length(min=1, error="list at least one attestor"))
    predicate_types = fields.List(_text(), load_default=(), data_key="predicateTypes")


class ComplianceRuleSchema(_RuleSchema):
    model = ComplianceRule
    mode = _mode()
    note_names = fields.List(
        NoteNameField(), required=True, data_key="noteNames", validate=Length(min=1, error="list at least one note")
    )


class SecretRuleSchema(_RuleSchema):
    model = SecretRule
    mode = _mode()
    allow_kinds = fields.List(fields.String(validate=OneOf(SECRET_KINDS)), load_default=(), data_key="allowKinds")


class DeniedPackageSchema(_RuleSchema):
    model = DeniedPackage
    name = PatternField(required=True)
    versions = fields.List(VersionPatternField(), load_default=())


class PackageRuleSchema(_RuleSchema):
    model = PackageRule
    mode = _mode()
    deny_packages = fields.List(fields.Nested(DeniedPackageSchema), load_default=(), data_key="denyPackages")
    deny_licenses = fields.List(LicenceField(), load_default=(), data_key="denyLicenses")

    @validates_schema
    def check_something_denied(self, data, **kwargs):
        if not data.get("deny_packages") and not data.get("deny_licenses"):
            raise ValidationError("set denyPackages or denyLicenses")


class RulesSchema(_RuleSchema):
    model = Rules
    artifacts = fields.Nested(ArtifactRuleSchema)
    identity = fields.Nested(IdentityRuleSchema)
    vulnerabilities = fields.Nested(VulnerabilityRuleSchema)
    scan = fields.Nested(ScanRuleSchema)
    provenance = fields.Nested(ProvenanceRuleSchema)
    tests = fields.Nested(TestResultRuleSchema)
    attestations = fields.Nested(AttestationRuleSchema)
    compliance = fields.Nested(ComplianceRuleSchema)
    secrets = fields.Nested(SecretRuleSchema)
    packages = fields.Nested(PackageRuleSchema)


class ExemptionSchema(_RuleSchema):
    model = Exemption
    artifact = ArtifactPatternField(required=True)
    rule = fields.String(required=True, validate=OneOf(RULE_NAMES))
    justification = _text(required=True)
    expires = TimestampField(load_default=None)


class RegoRuleSchema(_RuleSchema):
    model = RegoRule
    module = fields.String(required=True)
    mode = _mode()


class RegoField(fields.Field):
    """`rego` is a module's source text, or `{module, mode}`; the module is compiled and smoke-tested here."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            rule, where = RegoRule(value), None
        elif isinstance(value, dict):
            rule, where = RegoRuleSchema().load(value), "module"
        else:
            raise ValidationError("must be a Rego module (text) or an object with module and mode")
        problems = rego.check_module(rule.module)
        if problems:
            raise ValidationError({where: problems} if where else problems)
        return rule


def _project_id(value: str) -> None:
    if value == "*":  # no project can be named so: it would read nothing, silently
        raise ValidationError("'*' is not a wildcard here: name each project whose occurrences count")
    try:
        check_id("a project id", value)
    except InvalidArgument as exc:
        raise ValidationError(exc.message) from None


class PolicySchema(Schema):
    description = fields.String(load_default="")
    attestors = fields.List(fields.Nested(AttestorSchema), load_default=())
    rules = fields.Nested(RulesSchema, load_default=Rules())
    exemptions = fields.List(fields.Nested(ExemptionSchema), load_default=())
    rego = RegoField(load_default=None)
    # Projects whose occurrences on the artifact count besides the policy's own (a scanner's, say).
    occurrenceProjects = fields.List(fields.String(validate=_project_id), load_default=())

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def check_references(self, data, original, **kwargs):
        errors: dict = {}
        declared = _attestor_names(original, errors)
        rules = original.get("rules") if isinstance(original.get("rules"), dict) else {}
        for rule, key in (("attestations", "attestors"), ("tests", "signedBy")):
            section = rules.get(rule)
            names = section.get(key) if isinstance(section, dict) else None
            for index, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str) and name.strip() and name not in declared:
                    problem = [f"unknown attestor {name!r}; declare it under attestors"]
                    errors.setdefault("rules", {}).setdefault(rule, {}).setdefault(key, {})[index] = problem
        if errors:
            raise ValidationError(errors)

    @post_load
    def make(self, data, **kwargs):
        return Policy(
            rules=data["rules"],
            attestors=tuple(data["attestors"]),
            exemptions=tuple(data["exemptions"]),
            rego=data["rego"],
            description=data["description"],
        )


def _attestor_names(original: dict, errors: dict) -> set[str]:
    """The attestor names the raw document declares; duplicates are recorded in `errors`."""
    names: set[str] = set()
    attestors = original.get("attestors")
    for index, attestor in enumerate(attestors if isinstance(attestors, list) else []):
        name = attestor.get("name") if isinstance(attestor, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            errors.setdefault("attestors", {})[index] = {"name": [f"duplicate attestor name {name!r}"]}
        names.add(name)
    return names
