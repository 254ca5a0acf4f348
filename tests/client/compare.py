"""Comparing protobuf messages as the server should keep them: by content, Anys included."""

from __future__ import annotations

from google.protobuf import descriptor_pool, message_factory


def normalize_any(pb) -> None:
    """Re-serialize every Any's payload deterministically: a Struct's key order carries no meaning."""
    if pb.DESCRIPTOR.full_name == "google.protobuf.Any":
        if pb.type_url:
            desc = descriptor_pool.Default().FindMessageTypeByName(pb.type_url.rsplit("/", 1)[1])
            inner = message_factory.GetMessageClass(desc)()
            inner.ParseFromString(pb.value)
            normalize_any(inner)
            pb.value = inner.SerializeToString(deterministic=True)
        return
    for fd, value in pb.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is not None:
                for item in value.values():
                    normalize_any(item)
        elif fd.is_repeated:
            for item in value:
                normalize_any(item)
        else:
            normalize_any(value)


def without(pb, fields):
    """A copy of a raw protobuf message with `fields` cleared and its Anys normalized."""
    copy = type(pb)()
    copy.CopyFrom(pb)
    for field in fields:
        copy.ClearField(field)
    normalize_any(copy)
    return copy
