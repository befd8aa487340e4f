"""Oversized uploads are refused before the whole file arrives.

One upload request carries at most settings.EDC_MATERIAL_MAX_BYTES of files (a DICOM series
sent at once counts together). Two checks, so the server never reads more than the limit:

1. before the body is read: a declared Content-Length above the limit (plus a small allowance
   for the multipart headers and the form's other fields) is refused at once;
2. while the body streams in: `LimitedUploadHandler` counts the file bytes and raises
   StopUpload(connection_reset=True) as soon as the limit is passed — Django then stops
   reading the request and the files received so far are discarded.

`UploadLimitMiddleware` does both for every multipart request (no upload the system takes is
larger than the material limit). It stands before every middleware that reads request.POST
(core.middleware.BadInputMiddleware does): upload handlers can only be set before that.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

# Multipart boundaries and part headers, the CSRF token and the category: far below this.
FORM_ALLOWANCE = 64 * 1024


def limit() -> int:
    return settings.EDC_MATERIAL_MAX_BYTES


def declared_too_large(request) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return declared > limit() + FORM_ALLOWANCE


def too_large_message() -> str:
    return _("File: the upload is larger than the limit of %(limit)s bytes (%(mb)s MB) for one upload; "
             "nothing was stored.") % {"limit": limit(), "mb": limit() // (1024 * 1024)}


class LimitedUploadHandler(FileUploadHandler):
    """First of the request's upload handlers: passes every chunk on until the files of the
    request together pass the limit, then stops the upload."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > limit():
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


def install(request) -> LimitedUploadHandler:
    """Put the limit first among the request's upload handlers (before request.POST or
    request.FILES is touched)."""
    handler = LimitedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.content_type == "multipart/form-data":
            if declared_too_large(request):
                return refusal(request)
            request.upload_limit = install(request)
        return self.get_response(request)


def exceeded(request) -> bool:
    handler = getattr(request, "upload_limit", None)
    if handler is None:
        return False
    request.POST  # noqa: B018  (the body is parsed through the limited handler)
    return handler.exceeded


def refusal(request):
    from django.shortcuts import render

    return render(request, "core/bad_input.html", {"field": _("File"), "rule": too_large_message()},
                  status=413)
