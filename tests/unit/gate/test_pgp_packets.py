"""Bounding what an OpenPGP message inflates to before Sequoia reads it, on GnuPG's output and on bombs."""

from __future__ import annotations

import base64
import bz2
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from pysequoia import ArmorKind, armor

from grafeas_py.gate.pgp_packets import inflates_within

PGP_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pgp"
ROOT = Path(__file__).resolve().parents[3]
MIB = 1 << 20
ZIP, ZLIB, BZIP2 = 1, 2, 3


def packet(tag: int, body: bytes) -> bytes:
    """A packet in the current format, with a five-octet length."""
    return bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body


def literal_header(size: int) -> bytes:
    """The start of a literal data packet of `size` bytes of content (binary, no file name, no date)."""
    return bytes([0xC0 | 11, 0xFF]) + (6 + size).to_bytes(4, "big") + b"b\x00\x00\x00\x00\x00"


def deflated_zeros(prefix: bytes, mib: int) -> bytes:
    """Raw deflate of `prefix` and `mib` MiB of zeros, made without compressing them all: a fully flushed
    block of 1 MiB of zeros needs nothing before it, so it is repeated."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = block.compress(b"\0" * MIB) + block.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH) + zeros * mib + end


def compressed(algorithm: int, content: bytes) -> bytes:
    """A compressed data packet holding `content`."""
    if algorithm == ZIP:
        data = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packet(8, bytes([ZIP]) + data.compress(content) + data.flush())
    return packet(8, bytes([algorithm]) + (zlib.compress(content) if algorithm == ZLIB else bz2.compress(content)))


def zeros_message(mib: int) -> bytes:
    """A message of one compressed literal data packet: `mib` MiB of zeros in about a KB per MiB."""
    return packet(8, bytes([ZIP]) + deflated_zeros(literal_header(mib * MIB), mib))


def headerless_before(bomb: bytes) -> bytes:
    """Armor whose BEGIN line is followed by the bomb's base64 at once, then a blank line and a harmless
    message: read leniently, the bomb's lines are armor headers to skip; Sequoia read them as data."""
    lines = armor(bomb, ArmorKind.Message).encode().splitlines()
    harmless = base64.b64encode(packet(10, b"PGP")).decode()
    body = [line for line in lines[1:-1] if line and not line.startswith(b"=")]
    return b"\n".join([lines[0], *body, b"", harmless.encode(), lines[-1]]) + b"\n"


def two_blocks(bomb: bytes) -> bytes:
    """An armor block of a kind Sequoia does not know, then the bomb's: Sequoia skipped the first and read
    the second."""
    unknown = armor(packet(10, b"PGP"), ArmorKind.Message).encode().replace(b"PGP MESSAGE", b"PGP FOO")
    return unknown + armor(bomb, ArmorKind.Message).encode()


@pytest.mark.parametrize(
    "name",
    ["payload.json.asc", "payload.json.zlib.asc", "expired.backdated.asc", "retired.backdated.asc"],
)
def test_gnupg_signed_messages_inflate_to_what_they_carry(name):
    """GnuPG 2.2's `gpg --armor --sign` (ZIP, its default, and `--compress-algo zlib`): legacy-format
    packets of indeterminate length around a literal packet."""
    message = (PGP_FIXTURES / name).read_bytes()
    payload = (PGP_FIXTURES / "payload.json").read_bytes()
    assert inflates_within(message, len(payload) + 1024)
    assert not inflates_within(message, len(payload) - 1)  # the payload is inside, inflated


@pytest.mark.parametrize("name", ["payload.json.uncompressed.asc", "payload.json.clearsigned.asc", "payload.json.sig"])
def test_messages_without_compression_inflate_to_nothing(name):
    """`--compress-algo none`, `gpg --clearsign` (its text is no packet) and a detached signature."""
    assert inflates_within((PGP_FIXTURES / name).read_bytes(), 0)


def test_a_literal_packet_in_parts_is_read():
    """As gpg writes what it signs from a pipe: a first part of 512 octets or more, then the rest."""
    body = b"b\x00\x00\x00\x00\x00" + b"x" * 1000
    rest = len(body) - 512 - 192  # the last part's two-octet length
    parts = bytes([0xCB, 0xE9]) + body[:512] + bytes([192 + (rest >> 8), rest & 0xFF]) + body[512:]
    assert inflates_within(parts, MIB)


def test_armor_headers_and_crlf_line_ends_are_read():
    message = (PGP_FIXTURES / "payload.json").read_bytes()
    armored = armor(compressed(ZIP, packet(11, b"b\x00\x00\x00\x00\x00" + message)), ArmorKind.Message)
    lines = armored.splitlines()
    with_headers = "\r\n".join([lines[0], "Version: GnuPG v2", "Comment: hand made", *lines[1:]])
    assert inflates_within(with_headers.encode(), len(message) + 64)
    assert not inflates_within(with_headers.encode(), len(message) - 1)


@pytest.mark.parametrize("algorithm", [ZIP, ZLIB, BZIP2])
def test_a_bomb_is_refused_without_inflating_it_whole(algorithm):
    """4 MiB of zeros compress to a few KB with any of the algorithms OpenPGP names."""
    bomb = compressed(algorithm, literal_header(4 * MIB) + b"\0" * (4 * MIB))
    assert len(bomb) < 20_000
    assert not inflates_within(bomb, MIB)
    assert inflates_within(bomb, 5 * MIB)  # refused for its size, not its form


def test_compressed_packets_share_one_budget_nested_or_side_by_side():
    content = literal_header(600 * 1024) + b"\0" * (600 * 1024)
    nested = compressed(ZLIB, compressed(ZIP, content))
    assert inflates_within(nested, MIB)
    assert not inflates_within(compressed(ZIP, content) * 2, MIB)
    deep = content
    for _ in range(5):
        deep = compressed(ZIP, deep)
    assert not inflates_within(deep, 100 * MIB)  # deeper than any signer writes


@pytest.mark.parametrize(
    "message",
    [
        b"not openpgp",
        b"\xa3",  # a legacy header with no body
        packet(8, b"")[:-1] + b"\x00",  # a five-octet length promising more than there is
        packet(8, b"\x09" + b"x" * 10),  # an unknown compression algorithm
        packet(8, bytes([ZLIB]) + b"not zlib"),
        packet(8, bytes([ZLIB]) + zlib.compress(literal_header(1) + b"\0") * 2),  # a second stream after the first
        packet(8, bytes([BZIP2]) + bz2.compress(literal_header(1) + b"\0") * 2),
        b"-----BEGIN PGP MESSAGE-----\n\n!!!\n-----END PGP MESSAGE-----\n",
        b"-----BEGIN PGP MESSAGE-----\n\nowE=\n",  # no end line
        b"\x83\n" + armor(zeros_message(8), ArmorKind.Message).encode(),  # binary before the armor
        headerless_before(zeros_message(8)),
        two_blocks(zeros_message(8)),
        packet(1, b"x" * 20),  # a public-key encrypted session key: no signed message holds one
        b"",
        b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}\n",  # no signature block
        # RFC 9580's framing, which Sequoia holds to and reads otherwise where it is broken:
        packet(10, b"PGPX"),  # a marker's body is "PGP"
        b"\xab" + b"PGP",  # nor of indeterminate length (legacy format): only data packets may run to the end
        packet(4, b"\x03" + b"x" * 11),  # a version 3 one-pass signature has 13 octets
        packet(4, b"\x05" + b"x" * 12),  # and there is no version 5
        bytes([0xC2, 0xE9]) + b"x" * 512 + b"\x00",  # partial lengths are for data packets only
        bytes([0xCB, 0xE8]) + b"b" * 256 + b"\x00",  # and their first part has 512 octets at least
    ],
)
def test_what_cannot_be_framed_is_refused(message):
    """Sequoia could not verify these either; refusing them first keeps the bound from being sidestepped."""
    assert not inflates_within(message, MIB)


@pytest.mark.parametrize(
    "wrapped",
    [
        lambda bomb: bomb,
        lambda bomb: b"\x83\n" + armor(bomb, ArmorKind.Message).encode(),  # text before the armor
        headerless_before,
        two_blocks,
        # A marker packet of indeterminate length holding the armored bomb: valid framing, but Sequoia finds
        # the header invalid, reads the binary as armor and finds the bomb inside the packet's body.
        lambda bomb: b"\xab\n" + armor(bomb, ArmorKind.Message).encode(),
    ],
    ids=["binary", "text before the armor", "no blank line after BEGIN", "two armor blocks", "armor in a marker"],
)
def test_verifying_a_compression_bomb_stays_within_memory(tmp_path, wrapped):
    """Sequoia inflated a signed message whole before finding it was not the payload: 265 KB of compressed
    zeros took 424 MB. Given only 256 MiB more address space than the interpreter holds, a 512 MiB bomb
    (half a megabyte) ran out of memory; it is now refused unread. Sequoia reads armor more leniently
    than the framing did, so the armored forms got past it until Sequoia was given the walked packets."""
    bomb = tmp_path / "bomb.gpg"
    bomb.write_bytes(wrapped(zeros_message(512)))
    script = textwrap.dedent(
        """
        import datetime, resource, sys
        from pysequoia import Tsk
        from grafeas_py.gate.pgp import verifies

        cert = Tsk.generate("attestor <attestor@example.org>").extract_certificate()
        status = open("/proc/self/status").read()
        held = int(status.split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (held + (256 << 20), resource.RLIM_INFINITY))
        print(verifies(cert, open(sys.argv[1], "rb").read(), b"{}", datetime.datetime.now(datetime.UTC)))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert (run.returncode, run.stdout.strip()) == (0, "False"), run.stderr[-2000:]


def test_sequoia_errors_carry_no_rust_backtrace():
    """RUST_BACKTRACE=1 in the environment made each failed check capture a backtrace (the first loading 50 MB
    of debug symbols); the gate turns that off for pysequoia's errors."""
    script = textwrap.dedent(
        """
        import grafeas_py.gate
        from pysequoia import verify
        try:
            verify(bytes=b"not openpgp", store=lambda _ids: [])
        except Exception as exc:
            print("backtrace" if "backtrace" in str(exc) else "none")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "RUST_LIB_BACKTRACE"} | {"RUST_BACKTRACE": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert (run.returncode, run.stdout.strip()) == (0, "none"), run.stderr[-2000:]
