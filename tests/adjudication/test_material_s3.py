"""Adjudication material on S3-compatible object storage over real HTTP (issue 16): django-storages'
S3 backend — the one EDC_MATERIAL_STORAGE=s3 selects for MinIO in docker-compose.yml — against
moto's S3 server on 127.0.0.1 (boto3 speaks the same protocol to both). Upload, de-identification,
checksum of the stored object, streamed view to a reader, and no object for a refused upload."""

from __future__ import annotations

import hashlib
import io
import socket

import pydicom
import pytest

from tests.adjudication.conftest import WAV, dicom_bytes, upload

pytestmark = pytest.mark.django_db

BUCKET = "edc-material"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_material(settings):
    import boto3
    from django.core.files.storage import storages
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # the options settings.py builds for EDC_MATERIAL_STORAGE=s3, pointed at this server
    settings.STORAGES = {**settings.STORAGES, "material": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": endpoint, "access_key": "edc-test",
                    "secret_key": "edc-test-secret", "region_name": "us-east-1", "file_overwrite": False,
                    "default_acl": None, "querystring_auth": True}}}
    storages._storages.pop("material", None)
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="edc-test",
                          aws_secret_access_key="edc-test-secret", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    storages._storages.pop("material", None)
    server.stop()


def _objects(client) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_material_is_stored_in_the_bucket_deidentified_checksummed_and_streamed_to_a_reader(
        personas, readers, randomized_subject, s3_material, client_for):
    from adjudication.exceptions import UploadRefused
    from adjudication.models import Material
    from adjudication.services import material_upload
    from audit.models import AuditEvent

    subject = randomized_subject("001")
    ct = material_upload(user=personas["coord001"], subject=subject, category="baseline_imaging",
                         uploaded=upload("Wang Li head CT.dcm", dicom_bytes(patient_id=subject.number)))
    call = material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                           uploaded=upload("call.wav", WAV))
    objects = _objects(s3_material)
    assert set(objects) == {ct.storage_name, call.storage_name}
    stored_ct = objects[ct.storage_name]
    assert hashlib.sha256(stored_ct).hexdigest() == ct.sha256 and len(stored_ct) == ct.size
    ds = pydicom.dcmread(io.BytesIO(stored_ct))
    assert "InstitutionName" not in ds and ds.PatientIdentityRemoved == "YES"
    assert objects[call.storage_name] == WAV and hashlib.sha256(WAV).hexdigest() == call.sha256

    # an identifying DICOM is refused and leaves no object behind
    with pytest.raises(UploadRefused):
        material_upload(user=personas["coord001"], subject=subject, category="baseline_imaging",
                        uploaded=upload("ct.dcm", dicom_bytes(name="Wang^Li")))
    assert set(_objects(s3_material)) == {ct.storage_name, call.storage_name}
    assert Material.objects.count() == 2

    # a central rater gets the recording streamed from the bucket, and the view is audited
    response = client_for("rater2").get(f"/adjudication/material/{call.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == WAV
    assert AuditEvent.objects.filter(detail__event="material_view", object_id=str(call.pk)).count() == 1
