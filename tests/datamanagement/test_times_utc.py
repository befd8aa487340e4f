"""Times: a column headed UTC holds UTC (the audit trail showed Shanghai time under "When
(UTC)"); every other time names its zone, in one format."""

import datetime as dt
import re

import pytest

from tests.datamanagement.conftest import update_screening

pytestmark = pytest.mark.django_db


def test_audit_viewer_utc_column_equals_the_stored_utc(make_screening, personas, client_for):
    from datamanagement import audit_trail

    screening = make_screening()
    update_screening(screening, user=personas["coord001"], aspects=7, reason="re-read")
    # The data manager's zone is the sites' default (Asia/Shanghai, UTC+8): a page that
    # localised the column would be 8 hours off.
    body = client_for("datamanager").get("/data/audit/", {"form": "SCREENING"}).content.decode()
    assert "When (UTC)" in body
    shown = re.findall(r'data-testid="audit-utc">([^<]+)<', body)
    stored = [e.at for e in audit_trail.audit_entries(user=personas["datamanager"], form="SCREENING")]
    assert shown and len(shown) == len(stored)
    assert shown == [f"{t.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC" for t in stored]
    assert any(t.astimezone(dt.UTC).hour != t.astimezone(dt.timezone(dt.timedelta(hours=8))).hour for t in stored)


def test_edc_time_names_the_zone_in_one_format():
    from django.utils import timezone

    from core.templatetags.edc import edc_time

    instant = dt.datetime(2026, 12, 1, 19, 51, tzinfo=dt.UTC)
    assert edc_time(instant, "UTC") == "2026-12-01 19:51 UTC"
    assert edc_time(instant, "Asia/Shanghai") == "2026-12-02 03:51 Asia/Shanghai"
    with timezone.override("Europe/Berlin"):
        assert edc_time(instant) == "2026-12-01 20:51 Europe/Berlin"
