from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from core import access
from core.roles import Action
from exports import reports
from exports.dsmb_pdf import dsmb_pdf


@login_required
def index(request):
    access.require(request.user, Action.REPORTS)
    return render(request, "exports/reports/index.html", {
        "enrollment": reports.enrollment(request.user),
        "may_dsmb": access.can(request.user, Action.DSMB_REPORT),
        "may_consort": access.can(request.user, Action.SCREENING_LOG),
    })


@login_required
def consort(request):
    access.require(request.user, Action.SCREENING_LOG)
    return render(request, "exports/reports/consort.html", {"c": reports.consort(request.user)})


@login_required
def missing(request):
    access.require(request.user, Action.REPORTS)
    return render(request, "exports/reports/missing.html",
                  {"forms": reports.missing_data(request.user)})


@login_required
def dsmb(request):
    data = reports.dsmb(request.user)  # raises PermissionDenied for all but the statistician
    if request.GET.get("format") == "pdf":
        response = HttpResponse(dsmb_pdf(data), content_type="application/pdf")
        response["Content-Disposition"] = 'attachment; filename="angel-rescue-dsmb-safety.pdf"'
        return response
    return render(request, "exports/reports/dsmb.html", {"d": data})


@login_required
def compliance(request):
    access.require(request.user, Action.REPORTS)
    return render(request, "exports/reports/compliance.html",
                  {"c": reports.visit_compliance(request.user)})


@login_required
def queries(request):
    access.require(request.user, Action.REPORTS)
    return render(request, "exports/reports/queries.html", {"q": reports.query_metrics(request.user)})
