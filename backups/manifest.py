"""The manifest of a backup set: what it holds and how to prove it is intact (pure, no ORM).

A set on its target is a folder (or key prefix) named by the set ID:
    manifest.json      canonical JSON, written last: a set without it is incomplete
    manifest.sig       HMAC-SHA256 of manifest.json with the encryption key (when one is set)
    database.dump      pg_dump --format=custom of the whole database (encrypted: same name)
    files/exports/...  the export files; files/media/... uploaded material (MEDIA_ROOT)
Each entry of "files" has the SHA-256 and size of the bytes as stored (what a restore checks
before it trusts anything) and of the plaintext.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from backups.exceptions import ManifestInvalid

FORMAT = "angel-rescue-backup/1"
DUMP = "database.dump"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# Tables whose rows are not in the dump (pg_dump --exclude-table-data): the backup history
# itself. Inside the snapshot its own row still says "running", so a restored copy would carry
# a stale record of the set it came from; the history is rebuilt from the targets instead.
EXCLUDED_DATA = ("backups_backupset", "backups_restoredrill")


@dataclass
class FileEntry:
    path: str
    size: int
    sha256: str
    plain_size: int
    plain_sha256: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Manifest:
    set_id: str
    created_at: str
    slot: str
    database: dict
    migrations: list[list[str]]
    row_counts: dict[str, int]
    audit_chain_head: dict | None
    files: list[FileEntry] = field(default_factory=list)
    encryption: dict | None = None
    excluded_data: list[str] = field(default_factory=lambda: list(EXCLUDED_DATA))
    format: str = FORMAT

    def to_bytes(self) -> bytes:
        data = {k: v for k, v in self.__dict__.items() if k != "files"}
        data["files"] = [f.as_dict() for f in self.files]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def file(self, path: str) -> FileEntry:
        for f in self.files:
            if f.path == path:
                return f
        raise ManifestInvalid(f"manifest of {self.set_id}: no entry for {path}")

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestInvalid(f"manifest.json: not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ManifestInvalid(f"manifest.json: format must be {FORMAT!r}, found {found!r}")
        try:
            files = [FileEntry(**f) for f in data.pop("files")]
            return cls(files=files, **data)
        except (TypeError, KeyError) as exc:
            raise ManifestInvalid(f"manifest.json: missing or unknown field ({exc})") from exc


def migration_difference(manifest_migrations, code_migrations) -> tuple[list, list]:
    """(in the set but unknown to this code, in this code but not applied in the set)."""
    have = {tuple(m) for m in manifest_migrations}
    code = {tuple(m) for m in code_migrations}
    return sorted(have - code), sorted(code - have)
