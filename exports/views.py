from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from exports import selectors, services
from exports.columns import tables
from exports.dictionary import dictionary_entries
from exports.exceptions import ExportError
from exports.forms import ExportForm
from exports.models import ExportStatus


def _require_export(user):
    if not selectors.may_export(user):
        raise PermissionDenied(_("Exports are for data managers, monitors, the statistician and "
                                 "administrators."))


@login_required
def center(request):
    """Choose formats, forms, sites and blinding; start the export; follow its progress."""
    _require_export(request.user)
    error = None
    if request.method == "POST":
        form = ExportForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                export = services.export_request(
                    user=request.user, formats=form.cleaned_data["formats"],
                    blinded=form.cleaned_data["blinded"],
                    site_ids=[int(s) for s in form.cleaned_data["sites"]],
                    forms=form.cleaned_data["forms"],
                    label_language=form.cleaned_data["label_language"] or "en")
            except ExportError as exc:
                error = str(exc)
            else:
                return redirect(f"{reverse('exports:center')}?started={export.pk}")
    else:
        form = ExportForm(user=request.user)
    return render(request, "exports/center.html", {
        "form": form, "error": error, "exports": selectors.export_list(request.user),
        "started": request.GET.get("started"),
    })


@login_required
def status(request, export_id):
    """The progress bar of one export (polled by htmx every second until finished)."""
    export = selectors.export_get(request.user, export_id)
    return render(request, "exports/_status.html", {"export": export})


@login_required
def download(request, export_id):
    export = selectors.export_get(request.user, export_id)
    if export.status != ExportStatus.DONE or export.path is None or not export.path.exists():
        raise Http404
    services.export_download_record(export=export, user=request.user)
    return FileResponse(open(export.path, "rb"), as_attachment=True, filename=export.file_name,
                        content_type="application/zip")


@login_required
def dictionary(request):
    """The data dictionary as a page: exactly the variables this user's export would hold."""
    _require_export(request.user)
    blinded = not selectors.may_export_unblinded(request.user)
    from exports.dataset import Scope

    scope = Scope(blinded=blinded, site_ids=())
    with translation.override("en"):  # the English reference labels; Chinese ones beside them
        entries = dictionary_entries(tables(blinded=blinded), scope)
    return render(request, "exports/dictionary.html", {"entries": entries, "blinded": blinded,
                                                       "zh": translation.get_language() == "zh-hans"})
