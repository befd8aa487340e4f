"""One exception per backup / restore failure; each message says what was expected and what
was found."""


class BackupError(Exception):
    """Base class: a backup or restore that must not go on."""


class BackupToolMissing(BackupError):
    """No pg_dump / pg_restore of the server's PostgreSQL major version was found."""


class BackupFailed(BackupError):
    """pg_dump (or writing to the target) failed."""


class BackupSetNotFound(BackupError):
    """No complete set of that ID on the target (no manifest)."""


class ManifestInvalid(BackupError):
    """The manifest is unreadable, of an unknown format, or its signature does not verify."""


class ChecksumMismatch(BackupError):
    """A stored file's SHA-256 or size differs from the manifest (tampered or damaged)."""


class MigrationStateMismatch(BackupError):
    """The set was taken at a schema migration state this code does not have."""


class DatabaseNotEmpty(BackupError):
    """The restore target already holds tables."""


class RestoreVerificationFailed(BackupError):
    """After pg_restore, row counts / migrations / the audit chain differ from the manifest."""


class EncryptionKeyMissing(BackupError):
    """The set is encrypted (or signed) and no key, or a different key, is configured."""
