"""A small, realistic study built through the real services (eligibility → randomization →
follow-up → data management → exports), and a map from every URL pattern of the project to
concrete URLs for it, used by the cross-cutting security tests."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse


@pytest.fixture
def study(personas, sites, settings, tmp_path, django_capture_on_commit_callbacks):
    import time_machine
    from django.utils import timezone

    from core.models import Subject
    from core.services import notification_create
    from datamanagement import services as dm
    from eligibility.services import screening_close
    from exports.services import export_request, export_run
    from followup import services as fu
    from randomization.services import (
        allocation_list_generate,
        allocation_list_set_active,
        blinding_breach_report,
        subject_randomize,
    )
    from tests.factories import make_confirmed_screening, make_screening

    settings.EDC_EXPORT_DIR = tmp_path / "exports"
    stat = personas["statistician"]
    # Randomized 100 days ago, so the follow-up (day 90 included) is in the past, as it must be.
    travel = time_machine.travel(timezone.now() - timedelta(days=100), tick=False)
    travel.start()
    allocation_list = allocation_list_generate(user=stat, seed="security-review", entries_per_stratum=4,
                                               site_codes=["001", "002", "003"])
    allocation_list_set_active(user=stat, allocation_list=allocation_list, active=True)
    screenings, allocations = {}, {}
    for code in ("001", "002"):
        coord, inv = personas[f"coord{code}"], personas[f"inv{code}"]
        site = sites[code]
        for i, age in enumerate((55, 72)):
            s = make_confirmed_screening(site=site, coordinator=coord, investigator=inv, age_years=age)
            screenings[f"{code}-rand{i}"] = s
            allocations[f"{code}-{i}"] = subject_randomize(screening=s, user=coord, notify=False)
        young = make_screening(site=site, coordinator=coord, age_years=17)
        screenings[f"{code}-closed"] = screening_close(screening=young, user=coord, reason="ineligible")
        screenings[f"{code}-open"] = make_screening(site=site, coordinator=coord, nihss_items={})
    travel.stop()
    for s in screenings.values():
        s.refresh_from_db()
    subj = {k: Subject.objects.get(pk=a.subject_id) for k, a in allocations.items()}
    s1, s2 = subj["001-0"], subj["001-1"]
    t0 = s1.randomized_at
    coord1, coord2 = personas["coord001"], personas["coord002"]
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo("Asia/Shanghai")) - timedelta(days=2)
    v1 = fu.procedure_save(subject=s1, user=coord1, passes=[{"technique": "stent_retriever", "etici": "2b50"}],
                           version=None,
                           data={"first_reperfusion_at": t0 + timedelta(minutes=20), "stent": True,
                                 "stent_type": "balloon_expandable", "stent_diameter_mm": "3.0",
                                 "final_etici": "2b67"})
    fu.adverse_event_save(subject=s1, user=coord1, data={"term": "headache", "onset_on": today})
    fu.deviation_save(subject=s1, user=coord1, data={"occurred_on": today, "category": "other",
                                                     "description": "late visit"})
    fu.day90_save(subject=s1, user=personas["assessor001"], version=None,
                  data={"assessed_on": s1.randomized_at.date() + timedelta(days=90), "mode": "phone",
                        "respondent": "patient", "blinded_attested": True, "mrs": 2})
    fu.study_exit_record(subject=s2, user=coord1, data={"kind": "lost", "exit_on": today})
    fu.visit48h_save(subject=subj["002-0"], user=coord2, version=None,
                     data={"imaging_modality": "ct", "imaging_at": subj["002-0"].randomized_at + timedelta(hours=40),
                           "new_ich": False})
    dm.query_open(user=personas["monitor"], instance=v1, field_name="stent_type", text="Which stent?")
    dm.query_open(user=personas["monitor"], instance=screenings["001-rand0"], field_name="aspects",
                  text="ASPECTS?")
    dm.query_open(user=personas["datamanager"], instance=screenings["002-rand0"], field_name="aspects",
                  text="ASPECTS at 002?")
    dm.sdv_mark(user=personas["monitor"], instance=v1)
    dm.lock_form(user=personas["datamanager"], instance=screenings["001-rand1"], reason="clean")
    blinding_breach_report(user=coord1, site=sites["001"], subject=s1, unblinded_user=personas["assessor001"],
                           occurred_at=t0, route="told", description="The daughter mentioned the device.")
    for user in personas.values():
        notification_create(users=[user], key=f"sec-{user.username}", title="Hello", body="b", url="/",
                            email=False)
    _adjudication_material(personas, s1, settings, tmp_path)
    exports = {}
    with django_capture_on_commit_callbacks(execute=False):
        for who, blinded in (("datamanager", True), ("statistician", False)):
            export = export_request(user=personas[who], formats=["csv"], blinded=blinded, dispatch=False)
            exports[who] = export_run(export_id=export.pk)
    return {"screenings": screenings, "subjects": subj, "allocations": allocations,
            "allocation_list": allocation_list, "procedure": v1, "exports": exports}


def _adjudication_material(personas, subject, settings, tmp_path):
    """Central review material (an angiography run, a day-90 recording) and their cases, so
    the sweep reaches the adjudication pages too."""
    from django.core.files.storage import storages
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from adjudication.services import dsmb_snapshot_take, material_upload

    settings.STORAGES = {**settings.STORAGES, "material": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "material")}}}
    storages._storages.pop("material", None)
    material_upload(user=personas["coord001"], subject=subject, category="angiography",
                    uploaded=SimpleUploadedFile("run.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64)))
    material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                    uploaded=SimpleUploadedFile("call.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)))
    dsmb_snapshot_take(user=personas["statistician"], cut_off=timezone.now())


# --- URL enumeration ------------------------------------------------------------------------


def url_patterns():
    """(qualified name, route text, parameter names) of every named URL pattern."""
    out = []

    def walk(patterns, ns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, ns + ([p.namespace] if p.namespace else []), prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                name = ":".join(ns + [p.name]) if p.name else None
                params = list(p.pattern.converters) or list(p.pattern.regex.groupindex)
                out.append((name, route, params))

    walk(get_resolver().url_patterns, [], "")
    return out


# Patterns that cannot be requested with GET at all, and why.
NOT_GETTABLE = {
    # Django's set_language: POST only by design, and it has no parameters to fill either.
    "set_language",
    # The logout view logs the client out on POST; GET answers 405. Checked separately last.
    "logout",
    # The user administration actions (reset, deactivate, grant, revoke): POST only, with a reason.
    "user_action",
    # Revoking an API token: POST only (api/views.py, require_POST).
    "api:token_revoke",
}


def concrete_urls(study, site: str | None = None) -> dict[str, list[str]]:
    """Every URL pattern → concrete URLs filled from the study's objects. A pattern with a
    parameter this function cannot fill raises, so a new URL cannot slip past the sweep.
    With `site` ("001"), only the object URLs of that site's objects (subjects, screenings,
    CRF rows, queries, allocations)."""
    from core import crf as registry
    from datamanagement.models import Query
    from randomization.models import Allocation

    # One object per state and per site keeps the sweep fast (each URL is fetched by 10 users).
    subjects = [study["subjects"]["001-0"], study["subjects"]["002-0"]]
    screenings = [study["screenings"][k] for k in ("001-rand0", "001-closed", "001-open", "002-rand0")]
    instances = {}  # code → instances (one per site at most, up to two)
    for c in registry.all_crfs():
        rows = list(c.model.objects.order_by("pk")[:50])
        by_site = {}
        for row in rows:
            by_site.setdefault(_site_of(row, c), row)
        instances[c.code] = list(by_site.values())
    queries = list(Query.objects.order_by("pk").select_related("site"))
    allocations = list(Allocation.objects.order_by("pk").select_related("subject__site"))
    exports = list(study["exports"].values())
    lists = [study["allocation_list"]]
    if site is not None:
        subjects = [s for s in subjects if s.site.code == site]
        screenings = [s for s in screenings if s.site.code == site]
        instances = {code: [r for r in rows if _site_code(r, registry.get(code)) == site]
                     for code, rows in instances.items()}
        queries = [q for q in queries if q.site.code == site]
        allocations = [a for a in allocations if a.subject.site.code == site]
        exports, lists = [], []
    result: dict[str, list[str]] = {}
    for name, route, params in url_patterns():
        if name is None or name in NOT_GETTABLE:
            continue
        urls: list[str] = []
        if not params:
            if site is None:
                urls.append(reverse(name))
            else:
                continue
        elif name.startswith("admin:") and site is not None:
            continue
        elif name.startswith("admin:"):
            urls += [u for u in _admin_urls(name, params) if u != "__none__"]
            if not urls:
                continue  # no row of that model exists (e.g. no failed login): nothing to fetch
        elif params == ["pk"] and name.startswith("eligibility:"):
            urls += [reverse(name, kwargs={"pk": s.pk}) for s in screenings]
        elif params == ["screening_id"]:
            urls += [reverse(name, kwargs={"screening_id": s.pk}) for s in screenings]
        elif params == ["allocation_id"]:
            urls += [reverse(name, kwargs={"allocation_id": a.pk}) for a in allocations]
        elif params == ["list_id"]:
            urls += [reverse(name, kwargs={"list_id": x.pk}) for x in lists]
        elif params == ["run_id"]:  # the statistician's simulations (randomization)
            if site is not None:
                continue  # no object of a site
            from core.models import User
            from randomization.models import SimulationRun

            run = SimulationRun.objects.order_by("pk").first() or SimulationRun.objects.create(
                method="blocks", subjects=40, sites=3, runs=10, seed=1, minimisation_p="0.80",
                requested_by=User.objects.get(username="statistician"))
            urls.append(reverse(name, kwargs={"run_id": run.pk}))
        elif params == ["export_id"]:
            urls += [reverse(name, kwargs={"export_id": e.pk}) for e in exports]
        elif params == ["number"]:
            urls += [reverse(name, kwargs={"number": s.number}) for s in subjects]
        elif params == ["number", "code"]:
            from core import crf as registry

            urls += [reverse(name, kwargs={"number": s.number, "code": c.page})
                     for s in subjects for c in registry.pages() if c.form_class is not None]
        elif params == ["number", "code", "pk"]:
            from core import crf as registry

            for form in registry.event_pages(repeating=True):
                for row in form.model.objects.filter(subject__in=subjects).order_by("pk"):
                    urls.append(reverse(name, kwargs={"number": row.subject.number, "code": form.page,
                                                      "pk": row.pk}))
        elif params == ["pk"] and name == "datamanagement:query":
            urls += [reverse(name, kwargs={"pk": q.pk}) for q in queries]
        elif params == ["pk"] and name.startswith("api:"):  # the REST API's query actions
            urls += [reverse(name, kwargs={"pk": q.pk}) for q in queries]
        elif params == ["number", "form"]:  # the REST API's form of a subject
            urls += [reverse(name, kwargs={"number": s.number, "form": code})
                     for s in subjects for code in ("SCREENING", "V1_PROCEDURE", "V5_DAY90")]
        elif params == ["pk"] and name.startswith("datamanagement:"):
            urls += [reverse(name, kwargs={"pk": s.pk}) for s in subjects]
        elif params == ["code", "pk"]:
            urls += [reverse(name, kwargs={"code": code, "pk": row.pk})
                     for code, rows in instances.items() for row in rows]
        elif params == ["code", "pk", "field"]:
            for code, rows in instances.items():
                c = registry.get(code)
                field = next(f.name for f in c.model._meta.concrete_fields
                             if f.editable and not f.primary_key and f.name not in ("version", "subject"))
                urls += [reverse(name, kwargs={"code": code, "pk": row.pk, "field": field}) for row in rows]
        elif params == ["user_id"]:
            if site is not None:
                continue  # user administration: no object of a site
            from core.models import User

            urls += [reverse(name, kwargs={"user_id": u.pk})
                     for u in User.objects.filter(username__in=("coord001", "datamanager"))]
        elif params == ["user_id", "action"]:
            if site is not None:
                continue
            from core.models import User

            # A user of its own, so that garbage posted to deactivate/reset cannot lock out a
            # persona the rest of the sweep signs in as.
            target, _ = User.objects.get_or_create(username="sweep-target",
                                                   defaults={"email": "sweep-target@example.org"})
            urls += [reverse(name, kwargs={"user_id": target.pk, "action": action})
                     for action in ("deactivate", "reactivate", "reset", "grant", "revoke")]
        elif params == ["token_id"]:
            if site is not None:
                continue
            from api.models import ApiToken
            from api.services import token_create
            from core.models import User

            if not ApiToken.objects.exists():  # one token of the coordinator's: revoke must stay his
                token_create(user=User.objects.get(username="coord001"), label="sweep")
            urls += [reverse(name, kwargs={"token_id": tok.pk}) for tok in ApiToken.objects.order_by("pk")[:2]]
        elif params == ["pk"] and name.startswith("adjudication:"):
            urls += _adjudication_urls(name, site)
            if not urls:
                continue  # no snapshot or no case of that site
        else:
            raise AssertionError(f"The security sweep does not know how to fill {name} ({route}); "
                                 f"add it to tests/security/conftest.py")
        if site is not None and not urls:
            continue  # a list of non-site objects (export, allocation list)
        assert urls, f"no object to fill {name}"
        result[name] = urls
    if site is None:
        result["admin:catch_all"] = ["/admin/nothing-here/"]
    return result


def _adjudication_urls(name, site) -> list[str]:
    from adjudication.models import Case, DsmbSnapshot, Material

    if name.startswith("adjudication:dsmb_"):
        objects = [] if site is not None else list(DsmbSnapshot.objects.order_by("pk")[:1])
    elif name == "adjudication:material":
        objects = Material.objects.order_by("pk")
        objects = list(objects.filter(subject__site__code=site) if site else objects)
    else:
        objects = Case.objects.order_by("pk")
        objects = list(objects.filter(site__code=site) if site else objects)
    return [reverse(name, kwargs={"pk": o.pk}) for o in objects]


def _admin_urls(name, params) -> list[str]:
    from django.contrib import admin

    from core.models import User

    if params == ["app_label"]:
        labels = sorted({m._meta.app_label for m in admin.site._registry})
        return [reverse(name, kwargs={"app_label": label}) for label in labels]
    if params == ["content_type_id", "object_id"]:
        from django.contrib.contenttypes.models import ContentType

        from core.models import Site

        site = Site.objects.order_by("pk").first()
        return [reverse(name, kwargs={"content_type_id": ContentType.objects.get_for_model(Site).pk,
                                      "object_id": site.pk})]
    model = None
    if name == "admin:auth_user_password_change":
        model = User
    for m in admin.site._registry:
        if name.startswith(f"admin:{m._meta.app_label}_{m._meta.model_name}_"):
            model = m
    if model is None or len(params) != 1:
        raise AssertionError(f"unknown admin pattern {name} {params}")
    objects = list(model.objects.order_by("-pk")[:2])
    if not objects:
        return ["__none__"]
    return [reverse(name, kwargs={params[0]: o.pk}) for o in objects]


def _site_code(row, c):
    from core.models import Site

    site_id = _site_of(row, c)
    return Site.objects.get(pk=site_id).code if site_id else None


def _site_of(row, c):
    if hasattr(row, "site_id"):
        return row.site_id
    subject = _subject_of(row, c)
    return subject.site_id if subject is not None else None


def _subject_of(row, c):
    if not c.subject_field:
        return getattr(row, "subject", None)
    obj = row
    for part in c.subject_field.split("__"):
        obj = getattr(obj, part)
    return obj
