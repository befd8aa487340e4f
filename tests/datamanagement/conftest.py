"""Fixtures for data-management tests: CRF instances made the way the owning apps make them.

The screening CRF is the first client; subject-keyed forms come from the follow-up app.
"""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone


@pytest.fixture
def make_screening(personas, sites):
    from eligibility.models import Screening

    counter = {"n": 0}

    def _make(site="001", **values):
        counter["n"] += 1
        defaults = dict(
            age_years=67, sex="male", prestroke_mrs=0, nihss_baseline=14,
            last_known_well=timezone.now() - dt.timedelta(hours=5),
            arterial_puncture_at=timezone.now() - dt.timedelta(hours=2),
            occlusion_site="MCA_M1", circulation="anterior", aspects=8, platelets=210,
            nihss_items={"1a": 1, "5a": 3},
        )
        defaults.update(values)
        return Screening.objects.create(site=sites[site], number=f"{site}-S{counter['n']:04d}",
                                        created_by=personas["coord001"], **defaults)

    return _make


@pytest.fixture
def screening(make_screening):
    return make_screening()


def save_crf(instance, *, user, reason="", **changes):
    """Change fields of a CRF instance the way a save service does (through crf_write)."""
    from datamanagement.services import crf_write

    with transaction.atomic():
        fresh = type(instance).objects.get(pk=instance.pk)
        for k, v in changes.items():
            setattr(fresh, k, v)
        with crf_write(instance=fresh, user=user, reason=reason, expected_version=instance.version) as w:
            fresh.version += 1
            fresh.save()
    return fresh, w
