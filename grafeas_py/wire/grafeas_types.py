"""The Grafeas v1 message tables: the `grafeas` package's descriptors plus what it lacks.

grafeas 1.25.0 (the newest on PyPI) predates the AI_SKILL_ANALYSIS kind (upstream, 2026-03); its
messages are declared here in a private descriptor pool and grafted onto Note and Occurrence.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import error_details_pb2
from grafeas.grafeas_v1.types import common, grafeas  # noqa: F401  (registers the descriptors)

from .codec import Codec
from .schema import WELL_KNOWN, Enum, Field, Message, Registry

_DEFAULT_POOL = descriptor_pool.Default()


def _ai_skill_pool() -> descriptor_pool.DescriptorPool:
    """Declare AISkillAnalysisNote/Occurrence (upstream `proto/v1/ai_skill_analysis.proto`)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="grafeas_py/ai_skill_analysis.proto", package="grafeas.v1", syntax="proto3"
    )
    fdp.message_type.add(name="AISkillAnalysisNote")
    occ = fdp.message_type.add(name="AISkillAnalysisOccurrence")
    finding = occ.nested_type.add(name="Finding")
    string = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    for number, name in enumerate(
        ["rule_id", "category", "severity", "title", "description", "file_path", "snippet"], 1
    ):
        finding.field.add(name=name, number=number, type=string, label=optional, json_name=_camel(name))
    occ.field.add(name="skill_name", number=1, type=string, label=optional, json_name="skillName")
    occ.field.add(
        name="findings",
        number=2,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".grafeas.v1.AISkillAnalysisOccurrence.Finding",
        label=repeated,
        json_name="findings",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return pool


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _build() -> Registry:
    registry = Registry()
    note = registry.message(_DEFAULT_POOL.FindMessageTypeByName("grafeas.v1.Note"))
    occurrence = registry.message(_DEFAULT_POOL.FindMessageTypeByName("grafeas.v1.Occurrence"))
    registry.message(_DEFAULT_POOL.FindMessageTypeByName("google.rpc.Status"))
    # What an Any may hold besides Grafeas's own messages: the types every process running the
    # official client can resolve (it reads responses with protobuf's json_format, which fails on
    # any other), as upstream's protojson does. The codec refuses types outside the registry.
    for full_name in WELL_KNOWN:
        registry.message(_DEFAULT_POOL.FindMessageTypeByName(full_name))
    for detail in error_details_pb2.DESCRIPTOR.message_types_by_name.values():
        registry.message(detail)
    if "aiSkillAnalysis" not in note.by_json:
        pool = _ai_skill_pool()
        kind_enum = registry.enums["grafeas.v1.NoteKind"]
        kind_enum.names.setdefault(14, "AI_SKILL_ANALYSIS")
        kind_enum.numbers.setdefault("AI_SKILL_ANALYSIS", 14)
        for owner, number, type_name in (
            (note, 23, "AISkillAnalysisNote"),
            (occurrence, 22, "AISkillAnalysisOccurrence"),
        ):
            msg = registry.message(pool.FindMessageTypeByName("grafeas.v1." + type_name))
            oneof = "type" if owner is note else "details"
            owner.add(Field("ai_skill_analysis", "aiSkillAnalysis", number, "message", oneof=oneof, message=msg))
    return registry


def _in_default_pool(full_name: str) -> bool:
    try:
        _DEFAULT_POOL.FindMessageTypeByName(full_name)
    except KeyError:
        return False
    return True


REGISTRY = _build()
NOTE: Message = REGISTRY.messages["grafeas.v1.Note"]
OCCURRENCE: Message = REGISTRY.messages["grafeas.v1.Occurrence"]
NOTE_KIND: Enum = REGISTRY.enums["grafeas.v1.NoteKind"]
SEVERITY: Enum = REGISTRY.enums["grafeas.v1.Severity"]
# An Any may hold only what the official client can resolve: not the messages declared above for it.
CODEC = Codec({name: msg for name, msg in REGISTRY.messages.items() if _in_default_pool(name)})

# Every kind's oneof member, by kind name. VULNERABILITY_ASSESSMENT has a note type only.
NOTE_TYPE_BY_KIND: dict[str, str] = {}
OCCURRENCE_DETAILS_BY_KIND: dict[str, str] = {}
for _f in NOTE.oneofs["type"]:
    NOTE_TYPE_BY_KIND[_f.name.upper()] = _f.json_name
for _f in OCCURRENCE.oneofs["details"]:
    OCCURRENCE_DETAILS_BY_KIND[_f.name.upper()] = _f.json_name
KIND_BY_NOTE_TYPE = {v: k for k, v in NOTE_TYPE_BY_KIND.items()}
KIND_BY_OCCURRENCE_DETAILS = {v: k for k, v in OCCURRENCE_DETAILS_BY_KIND.items()}
assert set(NOTE_TYPE_BY_KIND) == set(NOTE_KIND.numbers) - {"NOTE_KIND_UNSPECIFIED"}, NOTE_TYPE_BY_KIND
