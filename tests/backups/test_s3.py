"""The S3-compatible target over real HTTP: moto's S3 server on 127.0.0.1 stands in for MinIO
(docker-compose.yml) — boto3 speaks the same protocol to both."""

import base64
import os
import socket

import pytest
from django.core.management import call_command

from backups import services
from backups.manifest import DUMP, MANIFEST
from backups.models import BackupState
from backups.targets import S3Target, configured_target

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(settings, monkeypatch, backup_folders):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "edc-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "edc-test-secret")
    settings.EDC_BACKUP_TARGET = "s3"
    settings.EDC_BACKUP_S3_BUCKET = "edc-backups"
    settings.EDC_BACKUP_S3_PREFIX = "angel-rescue"
    settings.EDC_BACKUP_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.EDC_BACKUP_S3_REGION = "us-east-1"
    target = configured_target()
    target.client.create_bucket(Bucket="edc-backups")
    yield target
    server.stop()


def test_backup_to_s3_encrypted_and_restore_from_it(personas, s3, settings, scratch_database):
    assert isinstance(s3, S3Target)
    settings.EDC_BACKUP_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    backup_set = services.backup_scheduled(slot="daily:2026-12-10")
    assert backup_set.state == BackupState.SUCCEEDED and backup_set.encrypted
    assert backup_set.target == "s3://edc-backups/angel-rescue/"
    keys = sorted(o["Key"] for o in s3.client.list_objects_v2(Bucket="edc-backups")["Contents"])
    assert keys == ["angel-rescue/daily-2026-12-10/database.dump", "angel-rescue/daily-2026-12-10/files/exports/export-1.zip",
                    "angel-rescue/daily-2026-12-10/files/material/001-0001/V5/interview.m4a",
                    "angel-rescue/daily-2026-12-10/files/media/imaging/ct-001-0001.dcm",
                    "angel-rescue/daily-2026-12-10/manifest.json", "angel-rescue/daily-2026-12-10/manifest.sig"]
    stored = s3.client.get_object(Bucket="edc-backups", Key="angel-rescue/daily-2026-12-10/" + DUMP)["Body"].read()
    assert stored.startswith(b"EDCBAK1\n")
    assert s3.list_sets() == ["daily-2026-12-10"]
    name, url = scratch_database()
    call_command("backup_restore", "--set", backup_set.set_id, "--into", url, stdout=open(os.devnull, "w"))  # noqa: SIM115
    from tests.backups.test_drill import fingerprints

    assert fingerprints(name)["core_user"][0] == 9


def test_a_tampered_s3_object_is_refused(personas, s3, scratch_database):
    from django.core.management import CommandError

    backup_set = services.backup_scheduled(slot="daily:2026-12-11")
    key = "angel-rescue/daily-2026-12-11/files/media/imaging/ct-001-0001.dcm"
    s3.client.put_object(Bucket="edc-backups", Key=key, Body=b"replaced image")
    name, url = scratch_database()
    with pytest.raises(CommandError, match="ChecksumMismatch: daily-2026-12-11/files/media/imaging/ct-001-0001.dcm"):
        call_command("backup_restore", "--set", backup_set.set_id, "--into", url, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert s3.exists(backup_set.set_id, MANIFEST)
