import zipfile

import pytest

pytestmark = pytest.mark.django_db


def test_all_formats_bundle(study, personas, run_export):
    export = run_export(personas["datamanager"], ["csv", "odm", "xpt", "dta", "sav"])
    assert export.status == "done", export.error
    names = zipfile.ZipFile(export.path).namelist()
    print(names, export.row_counts)
    assert "csv/screening.csv" in names
