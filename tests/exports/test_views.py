"""The export center pages: form, plain-words errors, progress partial, access-checked download,
data dictionary page, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from exports.models import Export

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.EDC_EXPORT_DIR = tmp_path
    return tmp_path


def test_data_manager_starts_an_export_and_downloads_it(study, client_for, export_dir, django_capture_on_commit_callbacks):
    client = client_for("datamanager")
    page = client.get("/exports/center/").content.decode()
    assert "Unblinded" not in page  # not offered to a blinded exporter
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/exports/center/", {"formats": ["csv", "sav"], "blinded": "1"})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.status == "done" and export.formats == ["csv", "sav"]
    status = client.get(f"/exports/center/{export.pk}/status/").content.decode()
    assert 'data-status="done"' in status and "100%" in status and "hx-get" not in status
    download = client.get(f"/exports/center/{export.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content)[:2] == b"PK"
    assert AuditEvent.objects.filter(action="export", detail__event="downloaded").count() == 1


def test_running_export_status_keeps_polling_and_has_no_download(study, personas, client_for, export_dir):
    from exports.services import export_request

    export = export_request(user=personas["datamanager"], formats=["csv"], dispatch=False)
    client = client_for("datamanager")
    assert client.get(f"/exports/center/{export.pk}/download/").status_code == 404
    status = client.get(f"/exports/center/{export.pk}/status/").content.decode()
    assert 'hx-trigger="every 1s"' in status and 'data-status="queued"' in status


def test_an_export_file_is_only_for_the_person_who_asked(study, personas, client_for, run_export):
    export = run_export(personas["statistician"], ["csv"], blinded=False)
    for username in ("datamanager", "monitor", "admin"):
        client = client_for(username)
        assert client.get(f"/exports/center/{export.pk}/download/").status_code == 404
        assert client.get(f"/exports/center/{export.pk}/status/").status_code == 404


def test_download_is_refused_once_the_right_is_revoked(study, personas, client_for, run_export):
    from core.models import Membership
    from core.services import membership_revoke

    export = run_export(personas["monitor"], ["csv"])
    client = client_for("monitor")
    assert client.get(f"/exports/center/{export.pk}/download/").status_code == 200
    membership_revoke(membership=Membership.objects.get(user=personas["monitor"]),
                      by=personas["admin"], reason="left the project")
    assert client.get(f"/exports/center/{export.pk}/download/").status_code in (403, 404)


def test_monitor_asking_for_another_site_gets_a_plain_message(study, sites, client_for, export_dir):
    client = client_for("monitor")
    page = client.get("/exports/center/").content.decode()
    assert "002" not in page.split('data-testid="export-form"')[1].split("</form>")[0]
    response = client.post("/exports/center/", {"formats": ["csv"], "blinded": "1",
                                                "sites": [str(sites["002"].pk)]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Export.objects.exists()


def test_data_manager_forging_an_unblinded_request_is_refused(study, client_for, export_dir):
    response = client_for("datamanager").post("/exports/center/", {"formats": ["csv"], "blinded": "0"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Export.objects.exists()


def test_no_format_chosen_names_the_field_and_keeps_the_other_choices(study, sites, client_for, export_dir):
    response = client_for("datamanager").post("/exports/center/", {"blinded": "1", "sites": [str(sites["001"].pk)]})
    page = response.content.decode()
    assert response.status_code == 200 and "This field is required" in page
    assert f'value="{sites["001"].pk}"' in page and "checked" in page


def test_statistician_may_choose_unblinded_and_gets_the_procedure_form(study, client_for, export_dir, django_capture_on_commit_callbacks):
    client = client_for("statistician")
    page = client.get("/exports/center/").content.decode()
    assert "Unblinded" in page and "V1_PROCEDURE" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/exports/center/", {"formats": ["csv"], "blinded": "0"})
    export = Export.objects.get()
    assert not export.blinded and export.status == "done"
    assert export.row_counts["csv"]["V1_PROCEDURE"] == 1


def test_blinded_export_center_does_not_offer_arm_revealing_forms(study, client_for):
    page = client_for("datamanager").get("/exports/center/").content.decode()
    assert "V1_PROCEDURE" not in page and "V1_PASS" not in page and "V5_DAY90" in page


def test_data_dictionary_page_lists_variables_without_arm_for_blinded_users(study, client_for):
    page = client_for("datamanager").get("/exports/dictionary/").content.decode()
    assert "<code>platelets</code>" in page and "×10⁹/L" in page
    assert "<code>arm</code>" not in page and "v1_procedure" not in page
    stat = client_for("statistician").get("/exports/dictionary/").content.decode()
    assert "<code>arm</code>" in stat


@pytest.mark.parametrize("username", ["coord001", "inv001", "assessor001"])
def test_site_staff_cannot_open_the_export_center(username, study, client_for):
    assert client_for(username).get("/exports/center/").status_code == 403


def test_export_center_lists_exports_in_a_fixed_number_of_queries(study, personas, client_for, run_export):
    client = client_for("datamanager")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/exports/center/").status_code == 200
        return len(ctx.captured_queries)

    run_export(personas["datamanager"], ["csv"])
    one = count()
    for _ in range(3):
        run_export(personas["datamanager"], ["csv"])
    assert count() == one
