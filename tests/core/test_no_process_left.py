"""`make test` and `make bench` run through angel_rescue.embedded.run_and_stop: the embedded
PostgreSQL they start is stopped when they end, one already running (make run) is kept."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(databases=[])


def _start_in_child(datadir: Path) -> str:
    return (f"from pathlib import Path; from angel_rescue import embedded; "
            f"embedded.postgres_url(Path({str(datadir)!r}))")


def test_no_postgres_left_after_the_wrapped_command(tmp_path):
    from angel_rescue import embedded

    datadir = tmp_path / "pgdata"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["EDC_PGDATA"] = str(datadir)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "angel_rescue/embedded.py", "run", "--", sys.executable, "-c",
                           _start_in_child(datadir)], env=env, cwd=root, timeout=180)
    assert done.returncode == 0
    assert (datadir / "PG_VERSION").exists()  # the child really started a server there
    assert not embedded.postgres_running(datadir)


def test_a_server_running_before_is_kept(tmp_path):
    from angel_rescue import embedded

    datadir = tmp_path / "pgdata"
    embedded.postgres_url(datadir)
    try:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["EDC_PGDATA"] = str(datadir)
        root = Path(__file__).resolve().parents[2]
        subprocess.run([sys.executable, "angel_rescue/embedded.py", "run", "--", sys.executable, "-c", "pass"],
                       env=env, cwd=root, timeout=120, check=True)
        assert embedded.postgres_running(datadir)
    finally:
        embedded.postgres_stop(datadir)
    assert not embedded.postgres_running(datadir)


def test_every_make_recipe_that_loads_the_settings_stops_what_it_starts():
    """Loading the settings starts the embedded PostgreSQL (angel_rescue/settings.py): every
    recipe line of the Makefile that runs manage.py, pytest or the benchmarks goes through
    `embedded.py run --` (make run's launcher stops its servers itself)."""
    root = Path(__file__).resolve().parents[2]
    lines = [line.strip() for line in (root / "Makefile").read_text().splitlines() if line.startswith("\t")]
    loading = [line for line in lines if "manage.py" in line or "-m pytest" in line or "-m bench" in line]
    assert len(loading) >= 5, loading  # test, bench, lint, makemessages, compilemessages
    unwrapped = [line for line in loading if "angel_rescue/embedded.py run --" not in line]
    assert not unwrapped, unwrapped


def test_a_straggler_of_the_command_does_not_start_postgres_after_it(tmp_path):
    """A process the command left running (a server's worker, a background child) is ended
    with the command: it cannot load the settings later and start a server no one stops."""
    import time

    from angel_rescue import embedded

    datadir = tmp_path / "pgdata"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["EDC_PGDATA"] = str(datadir)
    root = Path(__file__).resolve().parents[2]
    late = f"import time; time.sleep(3); {_start_in_child(datadir)}"
    command = (f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {late!r}], "
               f"stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    done = subprocess.run([sys.executable, "angel_rescue/embedded.py", "run", "--", sys.executable, "-c", command],
                          env=env, cwd=root, timeout=60)
    assert done.returncode == 0
    time.sleep(8)  # past the straggler's start, had it lived
    try:
        assert not (datadir / "PG_VERSION").exists()
        assert not embedded.postgres_running(datadir)
    finally:
        embedded.postgres_stop(datadir)
