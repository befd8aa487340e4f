"""Adjudication personas (central readers affiliated with a site, the steering committee)
and subjects randomized through the real services 100 days ago, so every visit is past."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

READERS = {
    # username: (role, affiliated site or None)
    "corelab1": ("core_lab_reader", "001"),
    "corelab2": ("core_lab_reader", "002"),
    "corelab3": ("core_lab_reader", "003"),
    "cec1": ("adjudicator", "001"),
    "cec2": ("adjudicator", "002"),
    "cec3": ("adjudicator", "003"),
    "rater1": ("mrs_rater", "001"),
    "rater2": ("mrs_rater", "002"),
    "rater3": ("mrs_rater", "003"),
    "steering": ("steering", None),
}


@pytest.fixture
def readers(personas, sites):
    from adjudication.models import ReaderAffiliation
    from tests.conftest import make_user

    out = {}
    for name, (role, site) in READERS.items():
        user = make_user(name, role, None)
        if site:
            ReaderAffiliation.objects.create(user=user, site=sites[site])
        out[name] = user
    personas.update(out)  # client_for("corelab1") works too
    return out


@pytest.fixture
def material_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "material": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "material")}}}
    from django.core.files.storage import storages

    storages._storages.pop("material", None)
    yield tmp_path / "material"
    storages._storages.pop("material", None)


@pytest.fixture
def randomized_subject(personas, sites):
    """randomized_subject("001") → a core.Subject randomized 100 days ago at that site."""
    import time_machine
    from django.utils import timezone

    from randomization.models import Allocation
    from randomization.services import (
        allocation_list_generate,
        allocation_list_set_active,
        subject_randomize,
    )
    from tests.factories import make_confirmed_screening

    state = {}

    def _make(site="001", **overrides):
        if "list" not in state:
            with time_machine.travel(timezone.now() - timedelta(days=101), tick=False):
                lst = allocation_list_generate(user=personas["statistician"], seed="adjudication",
                                               entries_per_stratum=20, site_codes=["001", "002", "003"])
                allocation_list_set_active(user=personas["statistician"], allocation_list=lst, active=True)
            state["list"] = lst
        with time_machine.travel(timezone.now() - timedelta(days=100), tick=False):
            s = make_confirmed_screening(site=sites[site], coordinator=personas[f"coord{site}"],
                                         investigator=personas[f"inv{site}"], **overrides)
            allocation = subject_randomize(screening=s, user=personas[f"coord{site}"], notify=False)
        return Allocation.objects.select_related("subject__site").get(pk=allocation.pk).subject

    return _make


def dicom_bytes(*, name="", patient_id="", birth_date="19620101", institution="Tiantan Hospital",
                private=True) -> bytes:
    """A small valid DICOM file (CT image, 4×4 pixels) with the given header values."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.InstitutionName = institution
    ds.Rows, ds.Columns = 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    if private:
        block = ds.private_block(0x0011, "HOSPITAL PACS", create=True)
        block.add_new(0x01, "LO", "bed 12, ward 3")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


def upload(name: str, content: bytes, content_type="application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)
