"""Just enough OpenPGP packet framing (RFC 9580 §4.2, §5.6, §6.2) to bound what a message inflates to.

Sequoia inflates a compressed message in full before it can tell that it is not the message expected,
and pysequoia sets no limit: a 265 KB occurrence of compressed zeros took 424 MB of memory per gate
evaluation, and a megabyte of it over 1 GB. The gate knows how large an honest signed message is (the
payload it must carry and a little framing), so it first walks the packets, inflating at most that,
and the gate then hands Sequoia the packets it walked (armored again, see pgp.verifies), never the text
it was given: Sequoia reads armor more leniently (text before it, several blocks, a missing blank line),
and anything it read that the walk had not would be unbounded again.

`inflates_within` is `frame` as a yes or no, for tests and callers that need no packets.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import zlib
from dataclasses import dataclass

_SIGNATURE, _ONE_PASS, _COMPRESSED, _MARKER, _LITERAL, _PADDING = 2, 4, 8, 10, 11, 21
# What a signed message is made of; anything else (encrypted data, keys) no signer of a payload writes.
_SIGNED_MESSAGE_TAGS = frozenset({_SIGNATURE, _ONE_PASS, _COMPRESSED, _MARKER, _LITERAL, _PADDING})
# The data packets, the only ones whose length may come in parts or run to the end (RFC 9580 §4.2.1.4).
_STREAMED_TAGS = frozenset({_COMPRESSED, _LITERAL})
_MAX_NESTING = 4  # gpg writes one compressed packet; Sequoia itself gives up on deep nesting
_ZLIB_WBITS = {1: -15, 2: 15}  # ZIP is raw deflate, ZLIB has its header and checksum
_BZIP2 = 3
# gpg writes one signature per signer (`-u A -u B`); each is verified apart, so their number is bounded.
MAX_SIGNATURES = 16


class _Refused(Exception):
    """The message inflates past the budget, or cannot be framed at all."""


@dataclass(frozen=True)
class Framed:
    """A message's binary packets, walked: `signatures` when they are signatures alone (a detached
    signature, or a cleartext signature's block), each packet apart, to be verified over the payload."""

    packets: bytes
    signatures: tuple[bytes, ...] = ()


def frame(message: bytes, budget: int) -> Framed | None:
    """The packets of `message` (binary, ASCII-armored or a cleartext signature), if they are those of a
    signed message or signature and its compressed packets, nested ones included, inflate to at most
    `budget` bytes in all; else None."""
    try:
        packets = _binary(message)
        tags = _walk(packets, [budget], 0)
        if not tags:
            return None
        if tags <= {_SIGNATURE}:
            return Framed(packets, _signature_packets(packets))
    except (_Refused, IndexError):
        return None
    return Framed(packets)


def inflates_within(message: bytes, budget: int) -> bool:
    """Whether `message` frames as a signed message inflating to at most `budget` bytes (see `frame`)."""
    return frame(message, budget) is not None


def _binary(message: bytes) -> bytes:
    """The packets of a message, binary or armored (one armor block and nothing around it but white
    space); of a cleartext signature (`gpg --clearsign`), those of its signature block."""
    text = message.strip()
    if not text.startswith(b"-----BEGIN PGP"):
        return message
    if text.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
        # The signed text is not needed: the block's signatures are checked over the payload itself.
        # Dash-escaping keeps the text's own lines from starting with five dashes.
        at = text.find(b"\n-----BEGIN PGP SIGNATURE-----")
        if at < 0:
            raise _Refused
        text = text[at + 1 :]
    return _dearmored(text)


def _dearmored(text: bytes) -> bytes:
    """The binary data of ASCII armor: header lines up to the first blank line, base64, a checksum line."""
    lines = text.strip().splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith(b"-----END PGP")), None)
    if end is None or end != len(lines) - 1:  # nothing after the block: a second one would go unread
        raise _Refused
    body = [line.strip() for line in lines[1:end]]
    if b"" in body:  # armor headers (Version:, Comment:, ...) end at the first blank line
        headers, body = body[: body.index(b"")], body[body.index(b"") + 1 :]
        if not all(b": " in header for header in headers):
            raise _Refused
    if body and body[-1].startswith(b"=") and len(body[-1]) == 5:  # the CRC-24 checksum
        body = body[:-1]
    try:
        return base64.b64decode(b"".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise _Refused from None


def _walk(data: bytes, budget: list[int], depth: int) -> set[int]:
    """The tags of the packets of `data`, inflating each compressed one (within the budget left) and
    walking that too."""
    tags, at = set(), 0
    while at < len(data):
        tag, body, at = _packet(data, at)
        if tag not in _SIGNED_MESSAGE_TAGS or not _well_formed(tag, body):
            raise _Refused
        tags.add(tag)
        if tag == _COMPRESSED:
            if depth == _MAX_NESTING:
                raise _Refused
            _walk(_inflated(body, budget), budget, depth + 1)
    return tags


def _signature_packets(data: bytes) -> tuple[bytes, ...]:
    """Each packet of `data`, header and all: Sequoia reads only the first signature of several, and the
    attestor's may be any of them."""
    packets, at = [], 0
    while at < len(data):
        start = at
        _, _, at = _packet(data, at)
        packets.append(data[start:at])
    if len(packets) > MAX_SIGNATURES:
        raise _Refused
    return tuple(packets)


def _well_formed(tag: int, body: bytes) -> bool:
    """Whether a marker or one-pass signature packet has the body RFC 9580 gives it (§5.8, §5.4): Sequoia
    reads one that has not as something else, and the walk would not have read what it reads."""
    if tag == _MARKER:
        return body == b"PGP"
    if tag == _ONE_PASS:
        if body[:1] == b"\x03":
            return len(body) == 13
        return body[:1] == b"\x06" and len(body) >= 5 and len(body) == 38 + body[4]
    return True


def _packet(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, body, offset after it) of the packet at `at`; a length in parts or to the end of the data only
    for a data packet, and a first part of at least 512 octets (RFC 9580 §4.2)."""
    first = data[at]
    if not first & 0x80:
        raise _Refused
    at += 1
    if first & 0x40:  # the current format: lengths of one, two or five octets, or partial lengths
        tag, chunks = first & 0x3F, []
        while True:
            length, at, partial = _new_length(data, at)
            if partial and (tag not in _STREAMED_TAGS or (not chunks and length < 512)):
                raise _Refused
            chunks.append(_take(data, at, length))
            at += length
            if not partial:
                return tag, b"".join(chunks), at
    tag, kind = (first >> 2) & 0x0F, first & 0x03  # the legacy format
    if kind == 3:  # indeterminate: the rest of the data
        if tag not in _STREAMED_TAGS:
            raise _Refused
        return tag, data[at:], len(data)
    size = (1, 2, 4)[kind]
    length = int.from_bytes(_take(data, at, size), "big")
    at += size
    return tag, _take(data, at, length), at + length


def _new_length(data: bytes, at: int) -> tuple[int, int, bool]:
    """(length, offset after it, whether it is a partial length) of a current-format length at `at`."""
    first = _take(data, at, 1)[0]
    if first < 192:
        return first, at + 1, False
    if first < 224:
        return ((first - 192) << 8) + _take(data, at + 1, 1)[0] + 192, at + 2, False
    if first == 255:
        return int.from_bytes(_take(data, at + 1, 4), "big"), at + 5, False
    return 1 << (first & 0x1F), at + 1, True


def _take(data: bytes, at: int, length: int) -> bytes:
    if at + length > len(data):
        raise _Refused  # truncated
    return data[at : at + length]


def _inflated(body: bytes, budget: list[int]) -> bytes:
    """A compressed packet's content, inflating no more than the budget left, which it then takes."""
    if not body:
        raise _Refused
    algorithm, compressed = body[0], body[1:]
    if algorithm == 0:
        content, rest = compressed, b""
    elif algorithm in _ZLIB_WBITS or algorithm == _BZIP2:
        inflater = zlib.decompressobj(_ZLIB_WBITS[algorithm]) if algorithm in _ZLIB_WBITS else bz2.BZ2Decompressor()
        try:
            content = inflater.decompress(compressed, budget[0] + 1)
        except (zlib.error, OSError, EOFError):
            raise _Refused from None
        rest = inflater.unused_data
    else:
        raise _Refused
    # Data after the compressed stream would go unread here; a decompressor that reads on would not stop.
    if len(content) > budget[0] or rest:
        raise _Refused
    budget[0] -= len(content)
    return content
