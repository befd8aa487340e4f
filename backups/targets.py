"""Where backup sets are kept: a local directory (default) or S3-compatible object storage
(AWS S3, MinIO, ...), chosen by EDC_BACKUP_TARGET.

Both offer the same small interface: open a file of a set for writing, read it back, mark the
set complete, list, delete. A set is complete only once its manifest is there: the local
target writes into "<set>.partial/" and renames it; the S3 target uploads the manifest last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from backups.exceptions import BackupSetNotFound
from backups.manifest import MANIFEST

READ_BLOCK = 1024 * 1024


class LocalTarget:
    kind = "local"

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def describe(self) -> str:
        return f"local:{self.root}"

    def _partial(self, set_id: str) -> Path:
        return self.root / f"{set_id}.partial"

    def begin(self, set_id: str) -> None:
        """Start (or restart, after a killed attempt) writing a set."""
        shutil.rmtree(self._partial(set_id), ignore_errors=True)
        self._partial(set_id).mkdir(parents=True, mode=0o700)

    @contextlib.contextmanager
    def writer(self, set_id: str, path: str):
        dest = self._partial(set_id) / path
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())

    def commit(self, set_id: str, manifest: bytes, extra: dict[str, bytes]) -> None:
        partial = self._partial(set_id)
        for name, data in {**extra, MANIFEST: manifest}.items():
            with self.writer(set_id, name) as f:
                f.write(data)
        final = self.root / set_id
        if final.exists():  # a finished copy of this very set already (never two sets per ID)
            shutil.rmtree(partial)
            return
        os.rename(partial, final)

    def abort(self, set_id: str) -> None:
        shutil.rmtree(self._partial(set_id), ignore_errors=True)

    def exists(self, set_id: str, path: str = MANIFEST) -> bool:
        return (self.root / set_id / path).is_file()

    @contextlib.contextmanager
    def reader(self, set_id: str, path: str):
        file = self.root / set_id / path
        if not file.is_file():
            raise BackupSetNotFound(f"{self.describe()}: set {set_id} has no {path}")
        with open(file, "rb") as f:
            yield f

    def local_path(self, set_id: str, path: str) -> Path | None:
        """The file itself when it is on this machine (pg_restore can then read it directly)."""
        return self.root / set_id / path

    def list_sets(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def delete_set(self, set_id: str) -> None:
        shutil.rmtree(self.root / set_id, ignore_errors=True)


class S3Target:
    kind = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str = "", region: str = "",
                 client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url or None,
                                             region_name=region or None)
        self.endpoint_url = endpoint_url

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, set_id: str, path: str) -> str:
        return f"{self.prefix}{set_id}/{path}"

    def begin(self, set_id: str) -> None:
        self.abort(set_id)

    @contextlib.contextmanager
    def writer(self, set_id: str, path: str):
        # Spooled to a temporary file, then one (multipart) upload: a dump may be larger than
        # memory, and S3 cannot append.
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._key(set_id, path))

    def commit(self, set_id: str, manifest: bytes, extra: dict[str, bytes]) -> None:
        for name, data in extra.items():
            self.client.put_object(Bucket=self.bucket, Key=self._key(set_id, name), Body=data)
        self.client.put_object(Bucket=self.bucket, Key=self._key(set_id, MANIFEST), Body=manifest)

    def _keys(self, set_id: str) -> list[str]:
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}{set_id}/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def abort(self, set_id: str) -> None:
        self.delete_set(set_id)

    def exists(self, set_id: str, path: str = MANIFEST) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(set_id, path))
        except ClientError:
            return False
        return True

    @contextlib.contextmanager
    def reader(self, set_id: str, path: str):
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(set_id, path))["Body"]
        except ClientError as exc:
            raise BackupSetNotFound(f"{self.describe()}: set {set_id} has no {path}") from exc
        try:
            yield body
        finally:
            body.close()

    def local_path(self, set_id: str, path: str) -> Path | None:
        return None

    def list_sets(self) -> list[str]:
        names = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for o in page.get("Contents", []):
                rest = o["Key"][len(self.prefix):]
                if rest.endswith("/" + MANIFEST) and rest.count("/") == 1:
                    names.add(rest.split("/")[0])
        return sorted(names)

    def delete_set(self, set_id: str) -> None:
        keys = self._keys(set_id)
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})


def configured_target():
    """The target the settings choose."""
    kind = settings.EDC_BACKUP_TARGET
    if kind == "s3":
        return S3Target(bucket=settings.EDC_BACKUP_S3_BUCKET, prefix=settings.EDC_BACKUP_S3_PREFIX,
                        endpoint_url=settings.EDC_BACKUP_S3_ENDPOINT_URL, region=settings.EDC_BACKUP_S3_REGION)
    return LocalTarget(settings.EDC_BACKUP_DIR)
