"""Oversized uploads are refused before the whole file arrives: a real WSGI request whose body
streams in, counted as the server reads it (adjudication.uploads)."""

from __future__ import annotations

import sys

import pytest

from tests.adjudication.conftest import WAV

pytestmark = pytest.mark.django_db
BOUNDARY = "----edc-upload-limit"
MB = 1024 * 1024


class CountingBody:
    """A multipart body produced as it is read (never held whole), counting what was read."""

    def __init__(self, file_size: int, token: str):
        head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n"
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nday90_recording\r\n"
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"call.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + WAV
        self.parts = [head, file_size - len(WAV), f"\r\n--{BOUNDARY}--\r\n".encode()]
        self.length = len(head) + (file_size - len(WAV)) + len(self.parts[2])
        self.read_bytes = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.length
        out = b""
        while size > 0 and self.parts:
            part = self.parts[0]
            if isinstance(part, int):
                n = min(size, part)
                out += b"\x00" * n
                self.parts[0] = part - n
                if self.parts[0] == 0:
                    self.parts.pop(0)
            else:
                out += part[:size]
                n = min(size, len(part))
                self.parts[0] = part[size:]
                if not self.parts[0]:
                    self.parts.pop(0)
            size -= n
        self.read_bytes += len(out)
        return out

    def readline(self, size=-1):
        return self.read(size if size and size > 0 else 1024)


def _post(client, url, body: CountingBody):
    """The request through Django's WSGI handler, as gunicorn would hand it over."""
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections

    client.get(url)  # sets the CSRF cookie
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": url, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
               "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": body, "wsgi.errors": sys.stderr,
               "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
               "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body.length),
               "HTTP_COOKIE": cookies, "REMOTE_ADDR": "127.0.0.1"}
    status = {}

    def start_response(line, headers, exc_info=None):
        status["code"] = int(line.split()[0])

    # As django.test.Client does: the test's transaction must outlive the request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(environ, start_response)
        content = b"".join(response)
        response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return status["code"], content.decode()


def test_declared_oversized_upload_is_refused_before_the_body_is_read(personas, randomized_subject,
                                                                     material_storage, client_for, settings):
    from adjudication.models import Material

    settings.EDC_MATERIAL_MAX_BYTES = 1 * MB
    subject = randomized_subject()
    client = client_for("assessor001")
    body = CountingBody(20 * MB, client.cookies.get("csrftoken").value if client.cookies.get("csrftoken") else "")
    code, page = _post(client, f"/adjudication/subjects/{subject.number}/material/", body)
    assert code == 413
    assert "larger than the limit of 1048576 bytes" in page
    assert body.read_bytes == 0  # not one byte of the 20 MB was read
    assert not Material.objects.filter(subject=subject).exists()


def test_streamed_upload_is_stopped_once_the_limit_is_passed(personas, randomized_subject, material_storage,
                                                             client_for, settings, monkeypatch):
    """A request the Content-Length check lets through (here: a large allowance for other form
    fields) is stopped by the upload handler as soon as the file passes the limit."""
    from adjudication import uploads
    from adjudication.models import Material

    settings.EDC_MATERIAL_MAX_BYTES = 1 * MB
    monkeypatch.setattr(uploads, "FORM_ALLOWANCE", 50 * MB)
    subject = randomized_subject()
    client = client_for("assessor001")
    client.get(f"/adjudication/subjects/{subject.number}/material/")
    body = CountingBody(8 * MB, client.cookies["csrftoken"].value)
    code, page = _post(client, f"/adjudication/subjects/{subject.number}/material/", body)
    assert code == 413 and "larger than the limit of 1048576 bytes" in page
    # read: the limit and at most a few 64 KB chunks beyond it, not the 8 MB
    assert 1 * MB < body.read_bytes < 1 * MB + 4 * 64 * 1024
    assert not Material.objects.filter(subject=subject).exists()
    # within the limit the same request is stored
    body = CountingBody(200 * 1024, client.cookies["csrftoken"].value)
    code, _page = _post(client, f"/adjudication/subjects/{subject.number}/material/", body)
    assert code == 302 and body.read_bytes == body.length
    assert Material.objects.filter(subject=subject).count() == 1
