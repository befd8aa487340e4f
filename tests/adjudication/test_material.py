"""Material upload: identifying DICOM refused, identifiers stripped, size and type checked by
content, checksum of what is stored, every upload and view audited, arm-revealing material
kept from those who must stay blinded."""

from __future__ import annotations

import hashlib
import io

import pydicom
import pytest

from tests.adjudication.conftest import MP4, PNG, WAV, dicom_bytes, upload

pytestmark = pytest.mark.django_db


def _upload(user, subject, category, f):
    from adjudication.services import material_upload

    return material_upload(user=user, subject=subject, category=category, uploaded=f)


def test_dicom_still_carrying_the_patient_name_is_refused(personas, randomized_subject, material_storage):
    from adjudication.exceptions import UploadRefused
    from adjudication.models import Material
    from audit.models import AuditEvent

    subject = randomized_subject()
    with pytest.raises(UploadRefused, match="PatientName"):
        _upload(personas["coord001"], subject, "baseline_imaging", upload("ct.dcm", dicom_bytes(name="Wang^Li")))
    with pytest.raises(UploadRefused, match="PatientID"):
        _upload(personas["coord001"], subject, "baseline_imaging", upload("ct.dcm", dicom_bytes(patient_id="MRN-88231")))
    assert not Material.objects.exists()
    assert not list(material_storage.rglob("*.dcm")) if material_storage.exists() else True
    refusals = AuditEvent.objects.filter(detail__event="material_refused")
    assert refusals.count() == 2


def test_deidentified_dicom_is_stored_with_the_remaining_identifiers_stripped(personas, randomized_subject,
                                                                              material_storage):
    from adjudication.services import material_storage as storage
    from audit.models import AuditEvent

    subject = randomized_subject()
    m = _upload(personas["coord001"], subject, "baseline_imaging",
                upload("Wang Li head CT.dcm", dicom_bytes(patient_id=subject.number)))
    assert m.kind == "dicom" and m.display_name == "V0-0001.dcm"  # not the site's file name
    with storage().open(m.storage_name, "rb") as f:
        stored = f.read()
    assert hashlib.sha256(stored).hexdigest() == m.sha256 and len(stored) == m.size
    ds = pydicom.dcmread(io.BytesIO(stored))
    assert "PatientBirthDate" not in ds and "InstitutionName" not in ds
    assert not [e for e in ds if e.tag.is_private]
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientID == subject.number
    assert {"PatientBirthDate", "InstitutionName"} <= set(m.deidentified)
    assert any(item.endswith("private tags") for item in m.deidentified)
    event = AuditEvent.objects.get(detail__event="material_upload")
    assert event.actor == personas["coord001"] and event.detail["sha256"] == m.sha256


def test_oversized_and_wrong_type_files_are_refused_with_the_rule(personas, randomized_subject, material_storage,
                                                                  settings):
    from adjudication.exceptions import UploadRefused

    subject = randomized_subject()
    settings.EDC_MATERIAL_MAX_BYTES = 1000
    with pytest.raises(UploadRefused, match="larger than the limit of 1000 bytes"):
        _upload(personas["coord001"], subject, "day90_recording", upload("call.wav", WAV + b"\x00" * 2000))
    settings.EDC_MATERIAL_MAX_BYTES = 10**6
    # A text file named .dcm: the content decides, not the name.
    with pytest.raises(UploadRefused, match="not an accepted type"):
        _upload(personas["coord001"], subject, "baseline_imaging", upload("ct.dcm", b"%PDF-1.4 not an image"))
    # An audio file is not imaging.
    with pytest.raises(UploadRefused, match="not an accepted type"):
        _upload(personas["coord001"], subject, "followup_imaging", upload("ct.png", WAV))
    assert _upload(personas["coord001"], subject, "followup_imaging", upload("x.png", PNG)).kind == "image"


def test_upload_page_shows_the_refusal_in_plain_words(personas, randomized_subject, material_storage, client_for):
    subject = randomized_subject()
    client = client_for("coord001")
    url = f"/adjudication/subjects/{subject.number}/material/"
    response = client.post(url, {"category": "baseline_imaging", "file": upload("ct.dcm", dicom_bytes(name="Wang^Li"))})
    assert response.status_code == 400
    assert "PatientName" in response.content.decode()
    response = client.post(url, {"category": "day90_recording", "file": upload("call.wav", WAV)})
    assert response.status_code == 302
    assert "V5-0001.wav" in client.get(url).content.decode()


def test_a_dicom_series_is_uploaded_in_one_go_and_a_refused_file_is_named(personas, randomized_subject,
                                                                         material_storage, client_for):
    from adjudication.models import Material

    subject = randomized_subject()
    client = client_for("coord001")
    url = f"/adjudication/subjects/{subject.number}/material/"
    series = [upload(f"IM{i}.dcm", dicom_bytes(patient_id=subject.number)) for i in range(3)]
    assert client.post(url, {"category": "followup_imaging", "file": series}).status_code == 302
    assert Material.objects.filter(subject=subject, kind="dicom").count() == 3
    bad = [upload("IM4.dcm", dicom_bytes()), upload("IM5.dcm", dicom_bytes(name="Wang^Li"))]
    response = client.post(url, {"category": "followup_imaging", "file": bad})
    assert response.status_code == 400 and "File 2 of 2" in response.content.decode()
    assert Material.objects.filter(subject=subject, kind="dicom").count() == 4


def test_every_view_of_material_is_audited(personas, readers, randomized_subject, material_storage, client_for):
    from audit.models import AuditEvent

    subject = randomized_subject("001")
    m = _upload(personas["assessor001"], subject, "day90_recording", upload("call.wav", WAV))
    response = client_for("rater2").get(f"/adjudication/material/{m.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == WAV
    views = AuditEvent.objects.filter(detail__event="material_view", object_id=str(m.pk))
    assert [v.actor for v in views] == [readers["rater2"]]


def test_arm_revealing_angiography_is_never_shown_to_mrs_raters_or_blinded_site_staff(
        personas, readers, randomized_subject, material_storage, client_for):
    from adjudication.exceptions import UploadRefused

    subject = randomized_subject("001")
    angio = _upload(personas["coord001"], subject, "angiography", upload("run.mp4", MP4))
    recording = _upload(personas["assessor001"], subject, "day90_recording", upload("call.wav", WAV))
    assert angio.reveals_arm
    # The blinded assessor cannot upload it, list it, or open it.
    with pytest.raises(UploadRefused):
        _upload(personas["assessor001"], subject, "angiography", upload("run.mp4", MP4))
    page = client_for("assessor001").get(f"/adjudication/subjects/{subject.number}/material/").content.decode()
    assert recording.display_name in page and angio.display_name not in page
    assert client_for("assessor001").get(f"/adjudication/material/{angio.pk}/").status_code == 404
    # The mRS rater of another site: the recording yes, the angiography never.
    rater = client_for("rater2")
    assert rater.get(f"/adjudication/material/{recording.pk}/").status_code == 200
    assert rater.get(f"/adjudication/material/{angio.pk}/").status_code == 404
    # The core-lab reader of another site reads the angiography (that is his material).
    assert client_for("corelab2").get(f"/adjudication/material/{angio.pk}/").status_code == 200
    # ... but a reader of the subject's own site does not.
    assert client_for("corelab1").get(f"/adjudication/material/{angio.pk}/").status_code == 404


def test_other_sites_staff_cannot_reach_a_subjects_material(personas, randomized_subject, material_storage,
                                                            client_for):
    subject = randomized_subject("001")
    m = _upload(personas["coord001"], subject, "followup_imaging", upload("x.png", PNG))
    client = client_for("coord002")
    assert client.get(f"/adjudication/subjects/{subject.number}/material/").status_code == 404
    assert client.get(f"/adjudication/material/{m.pk}/").status_code == 404


def test_the_storage_backend_is_chosen_by_setting_s3_via_django_storages():
    """EDC_MATERIAL_STORAGE=s3 selects django-storages' S3 backend with the MinIO endpoint
    (docker-compose.yml); the default is local disk."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, django; from django.conf import settings; django.setup(); "
            "from django.core.files.storage import storages; s = storages['material']; "
            "print(json.dumps([settings.STORAGES['material']['BACKEND'], type(s).__module__, "
            "getattr(s, 'bucket_name', None), getattr(s, 'endpoint_url', None)]))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "angel_rescue.test_settings", "EDC_MATERIAL_STORAGE": "s3",
           "EDC_MATERIAL_S3_ENDPOINT": "http://minio:9000", "EDC_MATERIAL_S3_BUCKET": "edc-material",
           "EDC_MATERIAL_S3_ACCESS_KEY": "k", "EDC_MATERIAL_S3_SECRET_KEY": "s"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    backend, module, bucket, endpoint = json.loads(out.stdout.strip().splitlines()[-1])
    assert backend == "storages.backends.s3.S3Storage" and module == "storages.backends.s3"
    assert (bucket, endpoint) == ("edc-material", "http://minio:9000")
    env["EDC_MATERIAL_STORAGE"] = "local"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1])[0] == "django.core.files.storage.FileSystemStorage"
