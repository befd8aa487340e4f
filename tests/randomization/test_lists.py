from collections import Counter

import pytest

from randomization import blocks
from randomization.exceptions import AllocationListError, NotPermitted
from randomization.models import AllocationEntry, AllocationList
from randomization.services import (
    allocation_list_generate,
    allocation_list_import,
    subject_randomize,
)

# --- pure generation (no database) -----------------------------------------------------------


def test_same_seed_gives_same_list_and_fingerprint():
    a = blocks.generate("ANGEL-2026", ["001", "002"], 40)
    b = blocks.generate("ANGEL-2026", ["002", "001"], 40)
    assert a == b and blocks.fingerprint(a) == blocks.fingerprint(b)
    assert blocks.fingerprint(blocks.generate("ANGEL-2027", ["001", "002"], 40)) != blocks.fingerprint(a)


def test_fingerprint_is_sha256_of_the_canonical_csv():
    import hashlib

    entries = blocks.generate("s", ["001"], 4)
    text = blocks.to_csv(entries)
    assert text.startswith("stratum,sequence,block,block_size,arm\n001-anterior,1,1,")
    assert blocks.fingerprint(entries) == hashlib.sha256(text.encode()).hexdigest()


def test_adding_a_site_does_not_change_existing_strata():
    one = [e for e in blocks.generate("s", ["001"], 30) if e.stratum == "001-anterior"]
    two = [e for e in blocks.generate("s", ["001", "002"], 30) if e.stratum == "001-anterior"]
    assert one == two


def test_strata_are_site_by_circulation():
    entries = blocks.generate("s", ["001", "002", "003"], 10)
    assert sorted({e.stratum for e in entries}) == [
        "001-anterior", "001-posterior", "002-anterior", "002-posterior", "003-anterior", "003-posterior"]


@pytest.mark.parametrize("seed", ["a", "b", "c", "trial-2026"])
def test_blocks_are_2_or_4_and_balanced_and_prefixes_never_drift_more_than_2(seed):
    entries = blocks.generate(seed, ["001", "002"], 200)
    sizes = Counter()
    for _stratum, _block, arms in blocks.iter_blocks(entries):
        assert len(arms) in (2, 4)
        assert arms.count("STENTING") == arms.count("CONTINUED_MT")
        sizes[len(arms)] += 1
    assert sizes[2] > 10 and sizes[4] > 10  # both sizes are used
    for stratum in {e.stratum for e in entries}:
        running = 0
        seq = [e for e in entries if e.stratum == stratum]
        assert [e.sequence for e in seq] == list(range(1, len(seq) + 1))
        assert len(seq) >= 200
        for e in seq:
            running += 1 if e.arm == "STENTING" else -1
            assert abs(running) <= 2  # block size 4 bounds any prefix imbalance by 2
        assert running == 0  # whole blocks: each stratum is exactly 1:1


def test_block_contents_are_random_not_fixed_patterns():
    entries = blocks.generate("patterns", ["001"], 400)
    patterns = Counter(tuple(arms) for _s, _b, arms in blocks.iter_blocks(entries) if len(arms) == 4)
    assert len(patterns) == 6  # all C(4,2) orders of a block of 4 occur


def test_csv_round_trip_and_clear_format_errors():
    entries = blocks.generate("rt", ["001"], 8)
    assert blocks.parse_csv(blocks.to_csv(entries)) == entries
    with pytest.raises(blocks.ListFormatError, match="Line 2: arm must be STENTING or CONTINUED_MT, found 'A'"):
        blocks.parse_csv("stratum,sequence,block,arm\n001-anterior,1,1,A\n")
    with pytest.raises(blocks.ListFormatError, match="stratum must look like 001-anterior"):
        blocks.parse_csv("stratum,sequence,block,arm\n1-ant,1,1,STENTING\n")
    with pytest.raises(blocks.ListFormatError, match="without gaps or repeats"):
        blocks.parse_csv("stratum,sequence,block,arm\n001-anterior,1,1,STENTING\n001-anterior,3,1,CONTINUED_MT\n")
    with pytest.raises(blocks.ListFormatError, match="as many STENTING as CONTINUED_MT"):
        blocks.parse_csv("stratum,sequence,block,arm\n001-anterior,1,1,STENTING\n001-anterior,2,1,STENTING\n")
    with pytest.raises(blocks.ListFormatError, match="missing: arm"):
        blocks.parse_csv("stratum,sequence,block\n")


# --- stored lists -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_generated_list_is_stored_with_seed_parameters_and_sha(personas, sites):
    lst = allocation_list_generate(user=personas["statistician"], seed="ANGEL-2026", entries_per_stratum=30)
    expected = blocks.generate("ANGEL-2026", ["001", "002", "003"], 30)
    assert lst.sha256 == blocks.fingerprint(expected)
    assert lst.seed == "ANGEL-2026" and lst.parameters["block_sizes"] == [2, 4]
    assert lst.parameters["entries_per_stratum"] == 30 and lst.active and not lst.frozen
    assert lst.entries.count() == len(expected)
    again = allocation_list_generate(user=personas["statistician"], seed="ANGEL-2026", entries_per_stratum=30)
    assert again.sha256 == lst.sha256 and not again.active  # the first list stays the one in use


@pytest.mark.django_db
def test_generation_is_refused_to_everyone_but_the_statistician(personas, sites):
    for name in ("coord001", "inv001", "assessor001", "monitor", "datamanager", "admin"):
        with pytest.raises(NotPermitted):
            allocation_list_generate(user=personas[name], seed="x", entries_per_stratum=4)
    assert not AllocationList.objects.exists()


@pytest.mark.django_db
def test_import_csv_and_refuse_unknown_sites(personas, sites):
    entries = blocks.generate("imp", ["001"], 6)
    lst = allocation_list_import(user=personas["statistician"], csv_text=blocks.to_csv(entries), name="From SAS")
    assert lst.source == "imported" and lst.sha256 == blocks.fingerprint(entries)
    assert lst.entries.count() == len(entries)
    with pytest.raises(AllocationListError, match="unknown site code"):
        allocation_list_import(user=personas["statistician"], csv_text="stratum,sequence,block,arm\n999-anterior,1,1,STENTING\n999-anterior,2,1,CONTINUED_MT\n")


@pytest.mark.django_db
def test_list_is_frozen_once_used_and_entries_cannot_be_changed(personas, sites, allocation_list, confirmed):
    from django.db import transaction

    entry = allocation_list.entries.order_by("id").first()
    # Even before use, stored entries are immutable in the database.
    with pytest.raises(Exception, match="entry_immutable"), transaction.atomic():
        AllocationEntry.objects.filter(pk=entry.pk).update(arm="STENTING" if entry.arm != "STENTING" else "CONTINUED_MT")
    with pytest.raises(Exception, match="no_hard_delete"), transaction.atomic():
        AllocationEntry.objects.filter(pk=entry.pk).delete()
    subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    allocation_list.refresh_from_db()
    assert allocation_list.frozen
    with pytest.raises(Exception, match="frozen_stays_frozen"), transaction.atomic():
        AllocationList.objects.filter(pk=allocation_list.pk).update(frozen=False)
    with pytest.raises(Exception, match="fingerprint_immutable"), transaction.atomic():
        AllocationList.objects.filter(pk=allocation_list.pk).update(sha256="0" * 64)


@pytest.mark.django_db
def test_extension_list_serves_a_stratum_after_the_first_runs_out(personas, sites, confirmed):
    from randomization.services import allocation_list_set_active

    first = allocation_list_generate(user=personas["statistician"], seed="one", entries_per_stratum=2, site_codes=["001"])
    n = first.entries.filter(stratum="001-anterior").count()
    second = allocation_list_generate(user=personas["statistician"], seed="two", entries_per_stratum=4, site_codes=["001"])
    allocation_list_set_active(user=personas["statistician"], allocation_list=second, active=True)
    allocations = [subject_randomize(screening=confirmed("001"), user=personas["coord001"]) for _ in range(n + 1)]
    assert [a.entry.list_id for a in allocations] == [first.pk] * n + [second.pk]
    assert allocations[-1].entry.sequence == 1


@pytest.mark.django_db
def test_generate_command_prints_sha_only(personas, sites):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("generate_allocation_list", "--seed", "cmd-seed", "--user", "statistician", "--per-stratum", "10", stdout=out)
    lst = AllocationList.objects.get()
    assert lst.sha256 in out.getvalue() and "STENTING" not in out.getvalue()
    dry = StringIO()
    call_command("generate_allocation_list", "--seed", "cmd-seed", "--user", "statistician", "--per-stratum", "10",
                 "--dry-run", stdout=dry)
    assert lst.sha256 in dry.getvalue() and AllocationList.objects.count() == 1
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Only the unblinded statistician"):
        call_command("generate_allocation_list", "--seed", "x", "--user", "datamanager", stdout=StringIO())


def test_simulation_command_reports_overall_site_and_stratum(capsys):
    from django.core.management import call_command

    call_command("simulate_randomization", "--method", "minimisation", "--subjects", "60", "--sites", "5", "--runs", "20")
    out = capsys.readouterr().out
    assert "Method: minimisation; 20 runs of 60 subjects over 5 sites" in out
    for label in ("overall", "per site", "per stratum"):
        assert label in out


def test_minimisation_prefers_the_balancing_arm_with_probability_p():
    import random

    from randomization import minimisation

    counts = {f: {"STENTING": 3, "CONTINUED_MT": 1} for f in minimisation.FACTORS}
    rng = random.Random(1)
    arms = Counter(minimisation.choose(counts, rng, 0.8).arm for _ in range(5000))
    assert 0.77 < arms["CONTINUED_MT"] / 5000 < 0.83
    tie = {f: {"STENTING": 2, "CONTINUED_MT": 2} for f in minimisation.FACTORS}
    choice = minimisation.choose(tie, rng, 0.8)
    assert choice.preferred is None and choice.scores == {"STENTING": 4, "CONTINUED_MT": 4}
    assert minimisation.nihss_band(15) == "6-15" and minimisation.nihss_band(16) == "16+"
    assert minimisation.age_band(69) == "<70" and minimisation.age_band(70) == "70+"


def test_minimisation_balances_better_overall_than_blocks_in_simulation():
    from randomization import simulation

    blocks_result = simulation.simulate("blocks", subjects=312, sites=30, runs=60)
    mini_result = simulation.simulate("minimisation", subjects=312, sites=30, runs=60)
    assert max(mini_result.overall) <= 8
    assert sum(mini_result.overall) < sum(blocks_result.overall)
    assert max(blocks_result.per_stratum) <= 2  # permuted blocks of ≤ 4 bound each stratum
