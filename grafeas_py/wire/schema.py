"""Message tables compiled once from protobuf descriptors: the schema behind every conversion.

The Grafeas message definitions that the official `grafeas` package ships are the source of truth.
A `Message` here is a plain, precomputed view of a descriptor, shaped for fast JSON conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

# Scalar kinds by protobuf field type.
_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "int64",
    FieldDescriptor.TYPE_SFIXED64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_FIXED64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_SINT32: "int32",
    FieldDescriptor.TYPE_SFIXED32: "int32",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_FIXED32: "uint32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
}

# Well-known types with their own JSON forms (protobuf's proto3 JSON mapping).
WELL_KNOWN = {
    "google.protobuf.Timestamp": "timestamp",
    "google.protobuf.Duration": "duration",
    "google.protobuf.Any": "any",
    "google.protobuf.Struct": "struct",
    "google.protobuf.Value": "value",
    "google.protobuf.ListValue": "list",
    "google.protobuf.FieldMask": "fieldmask",
    "google.protobuf.Empty": None,
    "google.protobuf.DoubleValue": "double",
    "google.protobuf.FloatValue": "float",
    "google.protobuf.Int64Value": "int64",
    "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32",
    "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "bytes",
}


@dataclass(eq=False)
class Enum:
    """An enum: canonical names by number and numbers by any accepted name."""

    full_name: str
    names: dict[int, str]
    numbers: dict[str, int]


@dataclass(eq=False)
class Field:
    """One field of a message, as the JSON mapping sees it."""

    name: str
    json_name: str
    number: int
    kind: str  # a scalar kind, "enum" or "message"
    repeated: bool = False
    oneof: str | None = None
    enum: Enum | None = None
    message: Message | None = None
    map_key: Field | None = None
    map_value: Field | None = None
    deprecated: bool = False
    # Kept when at its default: a member of a oneof, or a proto3 `optional` field.
    presence: bool = False

    def __post_init__(self) -> None:
        self.presence = self.presence or self.oneof is not None

    @property
    def is_map(self) -> bool:
        return self.map_value is not None


@dataclass(eq=False)
class Message:
    """A message: its fields in declaration order, looked up by JSON or proto name."""

    full_name: str
    fields: list[Field] = field(default_factory=list)
    by_key: dict[str, Field] = field(default_factory=dict)
    by_json: dict[str, Field] = field(default_factory=dict)
    oneofs: dict[str, list[Field]] = field(default_factory=dict)
    well_known: str | None = None
    decoder: object = None  # set by Codec on first use

    def add(self, f: Field, aliases: tuple[str, ...] = ()) -> None:
        """Add a field, reachable by its JSON name, proto name and any alias."""
        self.fields.append(f)
        self.by_json[f.json_name] = f
        for key in (f.json_name, f.name, *aliases):
            self.by_key[key] = f
        if f.oneof:
            self.oneofs.setdefault(f.oneof, []).append(f)

    @property
    def short_name(self) -> str:
        return self.full_name.rsplit(".", 1)[-1]


class Registry:
    """Compiles descriptors into `Message` and `Enum` tables, once each."""

    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.enums: dict[str, Enum] = {}

    def enum(self, desc: EnumDescriptor) -> Enum:
        """The table for an enum descriptor."""
        found = self.enums.get(desc.full_name)
        if found is None:
            names: dict[int, str] = {}
            for v in desc.values:  # the first name declared for a number is canonical
                names.setdefault(v.number, v.name)
            numbers = {v.name: v.number for v in desc.values}
            found = self.enums[desc.full_name] = Enum(desc.full_name, names, numbers)
        return found

    def message(self, desc: Descriptor) -> Message:
        """The table for a message descriptor (recursively, cycles allowed)."""
        found = self.messages.get(desc.full_name)
        if found is not None:
            return found
        msg = self.messages[desc.full_name] = Message(desc.full_name)
        if desc.full_name in WELL_KNOWN:
            msg.well_known = WELL_KNOWN[desc.full_name] or "empty"
        for fd in desc.fields:
            msg.add(self.field(fd), aliases=_aliases(desc, fd))
        return msg

    def field(self, fd: FieldDescriptor) -> Field:
        """The table entry for one field descriptor."""
        oneof = fd.containing_oneof
        f = Field(
            name=fd.name,
            json_name=fd.json_name,
            number=fd.number,
            kind="message",
            repeated=fd.is_repeated,
            # proto3 `optional` is a synthetic oneof: it only gives presence.
            oneof=oneof.name if oneof is not None and not _synthetic(oneof) else None,
            deprecated=fd.GetOptions().deprecated,
            presence=oneof is not None,
        )
        if fd.type == FieldDescriptor.TYPE_ENUM:
            f.kind, f.enum = "enum", self.enum(fd.enum_type)
        elif fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
            mt = fd.message_type
            if mt.GetOptions().map_entry:
                f.map_key = self.field(mt.fields_by_name["key"])
                f.map_value = self.field(mt.fields_by_name["value"])
            else:
                f.message = self.message(mt)
        else:
            f.kind = _SCALARS[fd.type]
        return f


def _synthetic(oneof) -> bool:
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def _aliases(desc: Descriptor, fd: FieldDescriptor) -> tuple[str, ...]:
    """Extra accepted spellings: the in-toto `_type` that proto-plus renamed to `type_`."""
    if fd.name == "type_":
        return ("_type",)
    return ()
