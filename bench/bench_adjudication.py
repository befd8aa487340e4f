"""Central adjudication benchmarks.

1. The worklist page's query count at 10 and at 1,000 open cases (it must not grow).
2. A 200 MB recording uploaded through the real request path (WSGI handler, multipart
   parser, CSRF, the view, the service, the storage) from a body streamed off disk: the
   process's peak resident memory grows by less than 50 MB. Baseline in the same run: what
   the same file costs when read whole into memory (what a naive upload does).
"""

from __future__ import annotations

import os
import tempfile
import tracemalloc

UPLOAD_MB = 200


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (peak RSS) to the current RSS
        return True
    except OSError:
        return False


def _setup():
    from django.utils import timezone

    from adjudication.models import ReaderAffiliation
    from core.models import Site, Subject, User
    from core.roles import Role
    from core.services import membership_grant

    sites = [Site.objects.create(code=f"{i:03d}", name=f"Bench site {i}") for i in (1, 2, 3)]
    rater = User.objects.create_user(username="rater", email="rater@example.org")
    membership_grant(user=rater, role=Role.MRS_RATER, site=None)
    ReaderAffiliation.objects.create(user=rater, site=sites[2])
    coordinator = User.objects.create_user(username="coord001", email="c@example.org", password="Bench-pass-42")
    membership_grant(user=coordinator, role=Role.COORDINATOR, site=sites[0])
    now = timezone.now()
    Subject.objects.bulk_create([Subject(number=f"{sites[i % 3].code}-{i // 3 + 1:04d}", site=sites[i % 3],
                                         randomized_at=now) for i in range(1500)], batch_size=1000)
    return rater, coordinator


def _cases(n: int) -> None:
    from adjudication.models import Case
    from core.models import Subject

    have = Case.objects.count()
    subjects = list(Subject.objects.exclude(site__code="003").order_by("pk")[have:n])
    Case.objects.bulk_create([Case(subject=s, site_id=s.site_id, kind="mrs") for s in subjects], batch_size=1000)


def _worklist_queries(rater) -> tuple[int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(rater)
    client.get("/adjudication/worklist/")  # warm: session, caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/adjudication/worklist/")
    assert response.status_code == 200, response.status_code
    return len(ctx.captured_queries), response.content.count(b"data-case=")


def _multipart_body(path: str, boundary: str, csrf: str, size: int) -> int:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{csrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nday90_recording\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"interview.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    with open(path, "wb") as f:
        f.write(head)
        f.write(b"\x00\x00\x00\x18ftypmp42" + bytes(12))
        chunk = os.urandom(1024 * 1024)
        written = 24
        while written < size:
            part = chunk[: min(len(chunk), size - written)]
            f.write(part)
            written += len(part)
        f.write(tail)
    return os.path.getsize(path)


def _upload_through_wsgi(coordinator, number: str, body_path: str, length: int, boundary: str, cookies) -> int:
    from django.core.handlers.wsgi import WSGIHandler

    status = {}

    def start_response(s, headers, exc_info=None):
        status["code"] = int(s.split()[0])

    with open(body_path, "rb") as stream:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": f"/adjudication/subjects/{number}/material/",
            "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "testserver", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "wsgi.input": stream, "wsgi.errors": open(os.devnull, "w"),  # noqa: SIM115
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}", "CONTENT_LENGTH": str(length),
            "HTTP_HOST": "testserver", "HTTP_COOKIE": "; ".join(f"{k}={v.value}" for k, v in cookies.items()),
        }
        result = WSGIHandler()(environ, start_response)
        for _ in result:
            pass
        if hasattr(result, "close"):
            result.close()
    return status["code"]


def run() -> list[str]:
    from django.conf import settings
    from django.core.files.storage import storages
    from django.test import Client

    from adjudication.models import Material
    from core.models import Subject

    lines = []
    rater, coordinator = _setup()
    _cases(10)
    q10, shown10 = _worklist_queries(rater)
    _cases(1000)
    q1000, shown1000 = _worklist_queries(rater)
    lines.append(f"worklist page: {q10} queries at 10 open cases ({shown10} listed), {q1000} at 1,000 "
                 f"({shown1000} listed) → {'constant' if q10 == q1000 else 'GROWS'}")

    work = tempfile.mkdtemp(prefix="edc-bench-upload-")
    settings.STORAGES = {**settings.STORAGES, "material": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": f"{work}/store"}}}
    storages._storages.pop("material", None)
    settings.FILE_UPLOAD_TEMP_DIR = work
    subject = Subject.objects.filter(site__code="001").order_by("pk").first()
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    client.get(f"/adjudication/subjects/{subject.number}/material/")
    csrf = client.cookies["csrftoken"].value
    boundary = "benchBoundary7MA4YWxkTrZu0gW"
    body = f"{work}/body"
    size = UPLOAD_MB * 1024 * 1024
    length = _multipart_body(body, boundary, csrf, size)

    # Baseline: the same bytes read whole into memory.
    _reset_peak()
    before = _rss_kb("VmRSS")
    with open(body, "rb") as f:
        whole = f.read()
    baseline_kb = _rss_kb("VmHWM") - before
    del whole

    import gc

    gc.collect()
    peak_reset = _reset_peak()
    before = _rss_kb("VmRSS")
    tracemalloc.start()
    code = _upload_through_wsgi(coordinator, subject.number, body, length, boundary, client.cookies)
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    growth_kb = _rss_kb("VmHWM") - before
    material = Material.objects.filter(subject=subject).order_by("-pk").first()
    ok = code == 302 and material is not None and material.size == size
    lines.append(f"upload of {UPLOAD_MB} MB through the request path: HTTP {code}, stored {material.size if material else 0:,} "
                 f"bytes, SHA-256 {material.sha256[:12] if material else '-'}…")
    lines.append(f"peak RSS growth {growth_kb / 1024:.2f} MB (target < 50 MB; "
                 f"{'peak reset' if peak_reset else 'peak NOT reset: upper bound'}), Python allocations peak "
                 f"{traced_peak / 1024 / 1024:.1f} MB; baseline read-whole {baseline_kb / 1024:.0f} MB → "
                 f"{growth_kb / baseline_kb:.2f}× baseline → {'PASS' if ok and growth_kb < 50 * 1024 else 'FAIL'}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    if q10 != q1000 or not ok or growth_kb >= 50 * 1024:
        raise AssertionError("adjudication benchmark targets not met: " + " | ".join(lines))
    return lines
