"""One registry: a field added to a registered form (the model, its column — what the
migration does — and its audit table) appears in the CSV table, the ODM export, the data
dictionary, the audit trail viewer and source data verification with no further code."""

from __future__ import annotations

import csv
import tempfile
from datetime import timedelta
from pathlib import Path

import pgtrigger
import pytest
from django.db import connection, models
from django.utils import timezone

from core import crf as registry
from datamanagement import services as dm
from datamanagement.audit_trail import _event_model_for, audit_entries
from datamanagement.crfs import data_fields
from followup import services as fu
from followup.models import Day90

pytestmark = pytest.mark.django_db
NAME = "caregiver_language"


@pytest.fixture
def day90_with_new_field():
    """Day90 gains a field, as a migration would add it (column + audit-table column + the
    audit trigger regenerated). PostgreSQL DDL is transactional: the test's transaction takes
    the columns away again; the model attributes are removed afterwards."""
    from exports import columns

    event_model = _event_model_for(Day90)
    field = models.CharField("language of the caregiver interview", max_length=20, blank=True, default="",
                             help_text="ISO code of the language used (e.g. zh, en)")
    twin = field.clone()
    field.contribute_to_class(Day90, NAME)
    twin.contribute_to_class(event_model, NAME)
    with connection.schema_editor(atomic=False) as editor:
        editor.add_field(Day90, field)
        editor.add_field(event_model, twin)
    for model, trigger in pgtrigger.registered():
        if model is Day90:
            trigger.install(model)
    columns._TABLES.clear()  # built once per process: a deployment restarts after a migration
    try:
        yield field
    finally:
        for model, f in ((Day90, field), (event_model, twin)):
            model._meta.local_fields.remove(f)
            model._meta._expire_cache()
            delattr(model, NAME)
        columns._TABLES.clear()


def test_a_field_added_to_day90_appears_in_csv_odm_dictionary_audit_and_sdv(
        day90_with_new_field, make_subject, personas, client_for):
    from exports.columns import tables
    from exports.dataset import Scope, table_rows
    from exports.formats.csv_format import write_dictionary, write_table
    from exports.formats.odm import write_odm

    crf = registry.get("V5_DAY90")
    subject = make_subject(timezone.now() - timedelta(days=91))
    day = timezone.localtime(subject.randomized_at, subject.site.tz).date()
    row = fu.day90_save(subject=subject, user=personas["assessor001"], version=None,
                        data={"assessed_on": day + timedelta(days=90), "mrs": 1, "blinded_attested": True,
                              NAME: "zh"})
    row = dm.crf_field_correct(user=personas["assessor001"], instance=row, field_name=NAME, value="en",
                               reason="interview held in English")
    assert Day90.objects.values_list(NAME, flat=True).get(pk=row.pk) == "en"

    scope = Scope(blinded=True, site_ids=(subject.site_id,), forms=("V5_DAY90",))
    chosen = tables(blinded=True, codes=["V5_DAY90"])
    with tempfile.TemporaryDirectory() as tmp:
        write_table(chosen[0], scope, Path(tmp) / "v5.csv")
        with open(Path(tmp) / "v5.csv", encoding="utf-8-sig") as fh:
            header, *rows = list(csv.reader(fh))
        assert any(NAME in h.lower() for h in header), header
        index = next(i for i, h in enumerate(header) if NAME in h.lower())
        assert [r[index] for r in rows] == ["en"]
        write_dictionary(chosen, scope, Path(tmp) / "dictionary.csv")
        dictionary = (Path(tmp) / "dictionary.csv").read_text(encoding="utf-8-sig")
        assert NAME in dictionary.lower() and "language of the caregiver interview" in dictionary.lower()
        write_odm(chosen, scope, Path(tmp) / "odm.xml", file_oid="NEWFIELD")
        odm = (Path(tmp) / "odm.xml").read_text(encoding="utf-8")
        assert NAME.upper() in odm.upper() and 'Value="en"' in odm
    assert list(table_rows(chosen[0], scope, for_csv=True))

    changes = [e for e in audit_entries(user=personas["datamanager"], subject=subject.number)
               if e.field == NAME]
    assert [(c.old, c.new, c.reason) for c in changes] == [("zh", "en", "interview held in English")]

    assert dm.sdv_mark(user=personas["monitor"], instance=row, fields=[NAME]) == 1
    page = client_for("monitor").get(f"/data/crf/V5_DAY90/{row.pk}/").content.decode()
    assert "language of the caregiver interview" in page.lower()
    assert NAME in [f.name for f in data_fields(crf)]
