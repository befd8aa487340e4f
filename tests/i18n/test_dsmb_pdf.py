"""The DSMB PDF embeds a CJK font and its extracted text (pdftotext) has the Chinese title."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "dsmb.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return result.stdout.decode("utf-8")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is installed by .ci/run")
def test_dsmb_pdf_in_chinese_has_the_chinese_title(client_for, tmp_path):
    client = client_for("statistician")
    client.cookies["django_language"] = "zh-hans"
    response = client.get("/exports/reports/dsmb/?format=pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"STSong-Light" in response.content  # the CID font, not Helvetica
    text = pdf_text(response.content, tmp_path)
    assert "DSMB 安全性报告" in text, text[:500]
    assert "机密" in text and "组别" in text and "支架置入或血管成形术" in text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is installed by .ci/run")
def test_dsmb_pdf_in_english_stays_english(client_for, tmp_path):
    client = client_for("statistician")
    client.cookies["django_language"] = "en"
    text = pdf_text(client.get("/exports/reports/dsmb/?format=pdf").content, tmp_path)
    assert "DSMB safety report" in text and "安全性报告" not in text
