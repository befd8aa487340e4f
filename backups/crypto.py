"""Encryption at rest for backup files: AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar,
Rogaway, Vizár 2015), so files of any size are encrypted and decrypted in constant memory.

Layout: MAGIC (8 bytes) | nonce prefix (7 random bytes) | chunks. Each chunk is at most CHUNK
plaintext bytes sealed with nonce = prefix ‖ counter (4 bytes, big-endian) ‖ last-flag (1 byte)
and the header as associated data. The counter stops chunks being reordered, the last-flag
stops a file being truncated at a chunk boundary, and the tag authenticates every byte.

The key (32 bytes, base64) comes from EDC_BACKUP_ENCRYPTION_KEY or the file named by
EDC_BACKUP_ENCRYPTION_KEY_FILE — never from the database it protects. No ORM here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backups.exceptions import ChecksumMismatch, EncryptionKeyMissing

MAGIC = b"EDCBAK1\n"
PREFIX_LEN = 7
CHUNK = 1024 * 1024
TAG = 16
SCHEME = "AES-256-GCM-STREAM"


def parse_key(text: str) -> bytes:
    """A 32-byte key from its base64 text (standard or URL-safe alphabet)."""
    text = text.strip()
    try:
        key = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EncryptionKeyMissing("EDC_BACKUP_ENCRYPTION_KEY: must be base64 of 32 bytes; it is not base64") from exc
    if len(key) != 32:
        raise EncryptionKeyMissing(f"EDC_BACKUP_ENCRYPTION_KEY: must be base64 of 32 bytes, got {len(key)} bytes")
    return key


def load_key(key_text: str = "", key_file: str = "") -> bytes | None:
    if key_text:
        return parse_key(key_text)
    if key_file:
        path = Path(key_file)
        if not path.is_file():
            raise EncryptionKeyMissing(f"EDC_BACKUP_ENCRYPTION_KEY_FILE: no file at {path}")
        return parse_key(path.read_text())
    return None


def key_id(key: bytes) -> str:
    """Names the key in the manifest without revealing it (which key to fetch for a restore)."""
    return hashlib.sha256(b"edc-backup-key-id" + key).hexdigest()[:16]


def sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, b"edc-backup-manifest" + data, hashlib.sha256).hexdigest()


def signature_ok(key: bytes, data: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, data), signature.strip())


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class Encryptor:
    """Push plaintext with update(); each returns the ciphertext ready so far; finish() seals
    the last chunk."""

    def __init__(self, key: bytes):
        self._aes = AESGCM(key)
        self._prefix = os.urandom(PREFIX_LEN)
        self._header = MAGIC + self._prefix
        self._buffer = bytearray()
        self._counter = 0
        self._started = False

    def _seal(self, data: bytes, last: bool) -> bytes:
        out = self._aes.encrypt(_nonce(self._prefix, self._counter, last), bytes(data), self._header)
        self._counter += 1
        return out

    def update(self, data: bytes) -> bytes:
        out = bytearray()
        if not self._started:
            out += self._header
            self._started = True
        self._buffer += data
        # Keep at least one byte back: the chunk that ends the file must carry the last-flag.
        while len(self._buffer) > CHUNK:
            out += self._seal(self._buffer[:CHUNK], last=False)
            del self._buffer[:CHUNK]
        return bytes(out)

    def finish(self) -> bytes:
        head = b"" if self._started else self._header
        self._started = True
        out = head + self._seal(self._buffer, last=True)
        self._buffer = bytearray()
        return out


def decrypt_stream(key: bytes, read, name: str = "file") -> Iterator[bytes]:
    """Yield the plaintext of an encrypted file, chunk by chunk, from read(n) of its bytes.

    Raises ChecksumMismatch if any chunk was altered, reordered, dropped or the file cut short.
    """
    header = _read_exact(read, len(MAGIC) + PREFIX_LEN)
    if header[: len(MAGIC)] != MAGIC:
        raise ChecksumMismatch(f"{name}: not an encrypted backup file (wrong header)")
    prefix = header[len(MAGIC):]
    aes = AESGCM(key)
    counter = 0
    current = _read_exact(read, CHUNK + TAG)
    while True:
        following = _read_exact(read, CHUNK + TAG) if len(current) == CHUNK + TAG else b""
        last = not following
        try:
            yield aes.decrypt(_nonce(prefix, counter, last), current, header)
        except InvalidTag as exc:
            raise ChecksumMismatch(
                f"{name}: chunk {counter} does not authenticate with this key (altered, truncated or "
                "encrypted with another key)") from exc
        if last:
            return
        counter += 1
        current = following


def _read_exact(read, n: int) -> bytes:
    parts = []
    while n > 0:
        block = read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    return b"".join(parts)
