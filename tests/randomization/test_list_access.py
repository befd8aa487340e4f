"""Nobody but the unblinded statistician can read the allocation list: pages, CSV, admin,
error messages (HTTP-level, one case per role)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

OTHERS = ["coord001", "inv001", "assessor001", "coord002", "inv002", "monitor", "datamanager", "admin"]
ARM_WORDS = ("STENTING", "CONTINUED_MT", "Stenting", "Continued thrombectomy")


def _urls(lst):
    return [
        "/randomization/lists/",
        f"/randomization/lists/{lst.pk}/",
        f"/randomization/lists/{lst.pk}/csv/",
        f"/randomization/lists/{lst.pk}/?page=2",
    ]


@pytest.mark.parametrize("username", OTHERS)
def test_every_other_role_is_refused_the_list(username, client_for, allocation_list):
    client = client_for(username)
    for url in _urls(allocation_list):
        response = client.get(url)
        assert response.status_code == 403, (username, url)
        body = response.content.decode()
        assert allocation_list.sha256 not in body
        assert not any(w in body for w in ARM_WORDS), (username, url)
    for url, data in [("/randomization/lists/generate/", {"seed": "x", "entries_per_stratum": 4}),
                      (f"/randomization/lists/{allocation_list.pk}/active/", {"active": "0"}),
                      ("/randomization/lists/config/", {"method": "minimisation", "minimisation_p": "0.8"})]:
        assert client.post(url, data).status_code == 403, (username, url)


def test_anonymous_is_sent_to_login(allocation_list):
    for url in _urls(allocation_list):
        response = Client().get(url)
        assert response.status_code == 302 and "/account/login/" in response["Location"]


def test_statistician_reads_list_sha_and_csv(client_for, allocation_list):
    from audit.models import AuditAction, AuditEvent

    client = client_for("statistician")
    page = client.get(f"/randomization/lists/{allocation_list.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert allocation_list.sha256 in body and "verified against the stored entries" in body
    csv = client.get(f"/randomization/lists/{allocation_list.pk}/csv/")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    import hashlib

    assert hashlib.sha256(csv.content).hexdigest() == allocation_list.sha256
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, reveals_allocation=True).exists()


def test_statistician_generates_and_imports_from_the_page(client_for, sites):
    from randomization import blocks
    from randomization.models import AllocationList

    client = client_for("statistician")
    response = client.post("/randomization/lists/generate/", {"seed": "page-seed", "entries_per_stratum": 10,
                                                              "sites": ["001", "002"]})
    lst = AllocationList.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/randomization/lists/{lst.pk}/"
    assert lst.sha256 == blocks.fingerprint(blocks.generate("page-seed", ["001", "002"], 10))
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("l.csv", b"stratum,sequence,block,arm\n001-anterior,1,1,X\n", content_type="text/csv")
    response = client.post("/randomization/lists/import/", {"name": "bad", "file": bad})
    assert response.status_code == 400
    assert "Line 2: arm must be STENTING or CONTINUED_MT" in response.content.decode()
    good = SimpleUploadedFile("l.csv", blocks.to_csv(blocks.generate("x", ["003"], 4)).encode(), content_type="text/csv")
    assert client.post("/randomization/lists/import/", {"name": "good", "file": good}).status_code == 302
    assert AllocationList.objects.count() == 2
    missing_seed = client.post("/randomization/lists/generate/", {"seed": "", "entries_per_stratum": 10})
    assert missing_seed.status_code == 400 and "This field is required" in missing_seed.content.decode()


def test_admin_site_has_no_randomization_models(client_for, allocation_list):
    client = client_for("admin")
    index = client.get("/admin/")
    assert index.status_code == 200 and "randomization" not in index.content.decode().lower()
    for model in ("allocationlist", "allocationentry", "allocation", "trialconfig"):
        assert client.get(f"/admin/randomization/{model}/").status_code == 404


def test_nav_shows_allocation_lists_only_to_statistician(client_for, allocation_list):
    assert "/randomization/lists/" in client_for("statistician").get("/").content.decode()
    for username in OTHERS:
        assert "/randomization/lists/" not in client_for(username).get("/").content.decode()


def test_list_detail_runs_constant_queries(client_for, personas, sites, django_assert_max_num_queries):
    from randomization.services import allocation_list_generate

    client = client_for("statistician")
    small = allocation_list_generate(user=personas["statistician"], seed="s", entries_per_stratum=4)
    big = allocation_list_generate(user=personas["statistician"], seed="b", entries_per_stratum=300)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for lst in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/randomization/lists/{lst.pk}/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_low_stratum_alert_is_shown_in_app_to_the_statistician(client_for, personas, sites, confirmed):
    from randomization.services import allocation_list_generate, subject_randomize

    allocation_list_generate(user=personas["statistician"], seed="alert", entries_per_stratum=10, site_codes=["001"])
    subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    body = client_for("statistician").get("/randomization/lists/").content.decode()
    assert 'data-testid="alert"' in body and "stratum 001-anterior has" in body
    assert "stratum 001-anterior" not in client_for("coord001").get("/subjects/notifications/").content.decode()


def test_exhausted_banner_goes_once_a_list_covering_the_stratum_is_in_use(client_for, personas, sites, confirmed):
    from randomization.exceptions import AllocationListExhausted
    from randomization.services import (
        allocation_list_generate,
        allocation_list_set_active,
        subject_randomize,
    )

    stat = personas["statistician"]
    tiny = allocation_list_generate(user=stat, seed="tiny", entries_per_stratum=2, site_codes=["001"])
    for _ in range(tiny.entries.filter(stratum="001-anterior").count()):
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    with pytest.raises(AllocationListExhausted):
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    client = client_for("statistician")
    body = client.get("/randomization/lists/").content.decode()
    assert "stratum 001-anterior is exhausted" in body
    # An extension list is added and put in use: the stratum is served again, the banner goes.
    extension = allocation_list_generate(user=stat, seed="extension", entries_per_stratum=40, site_codes=["001"])
    body = client.get("/randomization/lists/").content.decode()
    assert "stratum 001-anterior is exhausted" in body  # added but not yet in use: still blocked
    allocation_list_set_active(user=stat, allocation_list=extension, active=True)
    body = client.get("/randomization/lists/").content.decode()
    assert "stratum 001-anterior is exhausted" not in body and "001-anterior has" not in body
    # The notice itself stays in the inbox (history; nothing deleted).
    assert "stratum 001-anterior is exhausted" in client.get("/subjects/notifications/").content.decode()
    # Taken out of use again: blocked again, and the banner says so again.
    allocation_list_set_active(user=stat, allocation_list=extension, active=False)
    assert "stratum 001-anterior is exhausted" in client.get("/randomization/lists/").content.decode()


def test_list_parameters_are_labelled_values_in_english_and_chinese(client_for, personas, sites):
    from randomization.services import allocation_list_generate

    lst = allocation_list_generate(user=personas["statistician"], seed="labels", entries_per_stratum=8,
                                   site_codes=["001", "002"])
    client = client_for("statistician")
    body = client.get(f"/randomization/lists/{lst.pk}/").content.decode()
    assert "{'algorithm'" not in body and "'block_sizes'" not in body and "[2, 4]" not in body
    block = body[body.index('data-testid="list-parameters"'):]
    block = block[:block.index("</dl>")]
    for label, value in (("Block sizes", "2, 4"), ("Allocation ratio", "1:1"), ("Entries per stratum", "8"),
                         ("Sites", "001, 002"), ("Circulations (strata)", "Anterior, Posterior"),
                         ("Arms", "Stenting or angioplasty, Continued thrombectomy")):
        assert f"<dt class=\"col-sm-4\">{label}</dt><dd class=\"col-sm-8\">{value}</dd>" in block, label
    from django.utils import translation

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    try:
        zh = client.get(f"/randomization/lists/{lst.pk}/").content.decode()
    finally:
        translation.activate("en")  # the request left Chinese active in this thread
    zh_block = zh[zh.index('data-testid="list-parameters"'):]
    assert "区组大小" in zh_block and "分配比例" in zh_block and "Block sizes" not in zh_block
