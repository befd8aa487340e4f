"""Pure parts of the backups app: streamed encryption, retention, manifest, migration state."""

import io
import os
from datetime import UTC, datetime, timedelta

import pytest

from backups import crypto, retention
from backups.exceptions import ChecksumMismatch, EncryptionKeyMissing, ManifestInvalid
from backups.manifest import FileEntry, Manifest, migration_difference

KEY = os.urandom(32)


def encrypt(data: bytes, key=KEY) -> bytes:
    enc = crypto.Encryptor(key)
    out = bytearray()
    for i in range(0, len(data), 300_000):  # pushed in odd-sized pieces, like a pipe
        out += enc.update(data[i:i + 300_000])
    out += enc.finish()
    return bytes(out)


def decrypt(blob: bytes, key=KEY) -> bytes:
    return b"".join(crypto.decrypt_stream(key, io.BytesIO(blob).read))


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK - 1, crypto.CHUNK, crypto.CHUNK + 1, 3 * crypto.CHUNK + 17])
def test_encryption_round_trips_every_size_around_the_chunk_boundary(size):
    data = os.urandom(size)
    blob = encrypt(data)
    if size >= 64:  # a random plaintext of that length cannot appear in the ciphertext by chance
        assert data[:64] not in blob
    assert decrypt(blob) == data


def test_altered_truncated_or_reordered_ciphertext_is_refused():
    blob = bytearray(encrypt(os.urandom(2 * crypto.CHUNK + 5)))
    flipped = bytearray(blob)
    flipped[len(crypto.MAGIC) + 7 + 100] ^= 1
    with pytest.raises(ChecksumMismatch, match="chunk 0"):
        decrypt(bytes(flipped))
    chunk = crypto.CHUNK + crypto.TAG
    header = len(crypto.MAGIC) + 7
    # Cut after the first full chunk: the now-last chunk was not sealed as last.
    with pytest.raises(ChecksumMismatch):
        decrypt(bytes(blob[:header + chunk]))
    swapped = blob[:header] + blob[header + chunk:header + 2 * chunk] + blob[header:header + chunk] + blob[header + 2 * chunk:]
    with pytest.raises(ChecksumMismatch):
        decrypt(bytes(swapped))
    with pytest.raises(ChecksumMismatch):
        decrypt(bytes(blob), key=os.urandom(32))


def test_key_must_be_base64_of_32_bytes_and_is_named_by_its_id():
    import base64

    text = base64.b64encode(KEY).decode()
    assert crypto.parse_key(text) == KEY
    assert crypto.parse_key(base64.urlsafe_b64encode(KEY).decode()) == KEY
    with pytest.raises(EncryptionKeyMissing, match="32 bytes, got 16"):
        crypto.parse_key(base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(EncryptionKeyMissing, match="EDC_BACKUP_ENCRYPTION_KEY_FILE"):
        crypto.load_key("", "/nonexistent/key")
    assert crypto.key_id(KEY) != crypto.key_id(os.urandom(32))
    assert crypto.signature_ok(KEY, b"manifest", crypto.sign(KEY, b"manifest"))
    assert not crypto.signature_ok(KEY, b"manifest!", crypto.sign(KEY, b"manifest"))


def test_retention_keeps_30_daily_then_first_of_each_month_for_the_retention_period():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    sets = [retention.SetAge(f"d{i:04d}", now - timedelta(days=i, hours=1)) for i in range(0, 800)]
    keep = retention.sets_to_keep(sets, now=now, daily_days=30, monthly_days=365)
    by_name = {s.name: s for s in sets}
    daily = {s.name for s in sets if now - s.finished_at <= timedelta(days=30)}
    assert daily <= keep and len(daily) == 30
    older = keep - daily
    months = {(by_name[n].finished_at.year, by_name[n].finished_at.month) for n in older}
    assert len(older) == len(months)  # at most one per month beyond the daily window
    for name in older:
        at = by_name[name].finished_at
        assert at.day == 1 or at == min(s.finished_at for s in sets if (s.finished_at.year, s.finished_at.month) == (at.year, at.month))
        assert now - at <= timedelta(days=365)
    assert not any(now - by_name[n].finished_at > timedelta(days=365) for n in keep)
    assert len(keep) == 30 + 11  # the 1st of Jan … Nov 2026 (Dec 2025 is 365 days + 1 h old)
    prune = retention.sets_to_prune(sets, now=now, daily_days=30, monthly_days=365)
    assert prune == {s.name for s in sets} - keep


def test_retention_never_prunes_the_newest_set_however_old():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    sets = [retention.SetAge("ancient", now - timedelta(days=5000)), retention.SetAge("older", now - timedelta(days=6000))]
    assert retention.sets_to_keep(sets, now=now, daily_days=30, monthly_days=365) == {"ancient"}


def _manifest(**over):
    data = dict(set_id="daily-2026-12-01", created_at="2026-12-01T02:00:00+00:00", slot="daily:2026-12-01",
                database={"server_version_num": 180004}, migrations=[["core", "0001_initial"]],
                row_counts={"core_user": 3}, audit_chain_head=None,
                files=[FileEntry("database.dump", 10, "a" * 64, 10, "a" * 64)])
    data.update(over)
    return Manifest(**data)


def test_manifest_is_canonical_and_refuses_unknown_formats():
    m = _manifest()
    again = Manifest.from_bytes(m.to_bytes())
    assert again.to_bytes() == m.to_bytes() and again.sha256() == m.sha256()
    assert again.file("database.dump").sha256 == "a" * 64
    with pytest.raises(ManifestInvalid, match="format must be"):
        Manifest.from_bytes(b'{"format": "something-else"}')
    with pytest.raises(ManifestInvalid, match="not valid JSON"):
        Manifest.from_bytes(b"{nope")
    with pytest.raises(ManifestInvalid, match="no entry for files/x"):
        m.file("files/x")


def test_migration_difference_names_both_directions():
    unknown, missing = migration_difference([["core", "0001"], ["core", "0099_future"]], [("core", "0001"), ("exports", "0002")])
    assert unknown == [("core", "0099_future")] and missing == [("exports", "0002")]
    assert migration_difference([["a", "1"]], [("a", "1")]) == ([], [])
