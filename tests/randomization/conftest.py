import pytest


@pytest.fixture
def allocation_list(personas, sites):
    """The statistician's list in use: 20 entries per stratum over sites 001–003."""
    from randomization.services import allocation_list_generate

    return allocation_list_generate(user=personas["statistician"], seed="test-seed", entries_per_stratum=20)


@pytest.fixture
def confirmed(personas, sites):
    """confirmed("001", **overrides) → an eligible, investigator-confirmed screening (real services)."""
    from tests.factories import make_confirmed_screening

    def _make(code: str = "001", **overrides):
        return make_confirmed_screening(site=sites[code], coordinator=personas[f"coord{code}"],
                                        investigator=personas[f"inv{code}"], **overrides)

    return _make
