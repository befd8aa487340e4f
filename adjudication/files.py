"""File checks for uploaded material — no ORM: type sniffing from the content (never the
name or the browser's claim), streaming checksums, and DICOM de-identification (pydicom).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Sniffed:
    kind: str  # dicom / image / audio / video
    content_type: str
    extension: str


def sniff(head: bytes) -> Sniffed | None:
    """What the first bytes of a file say it is; None when it is none of the accepted types."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return Sniffed("dicom", "application/dicom", "dcm")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("audio", "audio/wav", "wav")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return Sniffed("audio", "audio/mpeg", "mp3")
    if head.startswith(b"OggS"):
        return Sniffed("audio", "audio/ogg", "ogg")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("audio", "audio/mp4", "m4a")
        if brand == b"qt  ":
            return Sniffed("video", "video/quicktime", "mov")
        return Sniffed("video", "video/mp4", "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "video/webm", "webm")
    return None


def sha256_of(fileobj) -> tuple[str, int]:
    """(hex digest, size) read in 1 MB chunks from the start: the file is never held whole."""
    fileobj.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := fileobj.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


class IdentifyingDicom(ValueError):
    pass


# PS3.15 Annex E "direct identifiers" a site must have removed before upload (refused if
# present and not the trial's own pseudonym).
REFUSED_IF_PRESENT = ("PatientName", "PatientID")
# Further identifying attributes emptied or removed on upload (basic profile, abridged).
STRIPPED = (
    "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs", "OtherPatientNames",
    "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "MilitaryRank", "MedicalRecordLocator", "EthnicGroup", "PatientInsurancePlanCodeSequence",
    "ReferringPhysicianName", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "RequestingPhysician", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "StationName", "AccessionNumber", "StudyID", "AdmissionID", "IssuerOfPatientID",
    "PatientComments", "AdditionalPatientHistory", "RequestAttributesSequence",
)


def dicom_deidentify(path: str, *, pseudonym: str) -> tuple[str, list[str]]:
    """Check and de-identify one DICOM file; returns (path of the cleaned copy, removed).

    1. refuse a file whose PatientName or PatientID is filled with anything but the subject
       number (the site must de-identify before upload; we do not guess what is a name);
    2. empty or delete the other identifying attributes and every private tag;
    3. write the cleaned data set to a new temporary file (the caller stores that one).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError) as exc:
        raise IdentifyingDicom(str(_("File: not a readable DICOM file (%(error)s).") % {"error": exc})) from exc
    for keyword in REFUSED_IF_PRESENT:
        value = str(dataset.get(keyword, "") or "").strip()
        if value and value != pseudonym:
            raise IdentifyingDicom(str(_(
                "File: the DICOM header still carries the patient's %(attribute)s. De-identify the "
                "series (leave it empty or put the subject number %(number)s) and upload it again.")
                % {"attribute": keyword, "number": pseudonym}))
    removed: list[str] = []
    for keyword in STRIPPED:
        if keyword in dataset:
            removed.append(keyword)
            delattr(dataset, keyword)
    private = [elem.tag for elem in dataset if elem.tag.is_private]
    if private:
        dataset.remove_private_tags()
        removed.append(f"{len(private)} private tags")
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = "EDC: name/ID refused; PS3.15 basic attributes removed"
    out = tempfile.NamedTemporaryFile(suffix=".dcm", delete=False)
    out.close()
    dataset.save_as(out.name, enforce_file_format=True)
    return out.name, removed
