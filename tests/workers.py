"""Real Celery workers on a real Redis, for the tests that must see what a production worker
does (a task killed mid-run and redelivered, a page following a task's progress).

One harness for every such test (the `celery_harness` fixture of tests/conftest.py): an
embedded Redis on a unix socket, a client that sends tasks to it, worker processes started
and killed by the test, and a clean end — every worker killed, Redis stopped, and the killed
workers' PostgreSQL sessions gone before the test database is dropped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def database_url_of_test_db() -> str:
    """The URL of the test database (same server and role as DATABASE_URL, the test database's name)."""
    from django.conf import settings
    from django.db import connection

    parts = urllib.parse.urlsplit(settings.DATABASE_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class CeleryHarness:
    def __init__(self, tmp_path: Path):
        from celery import Celery

        from angel_rescue.embedded import redis_start

        self.tmp_path = tmp_path
        self.socket = tmp_path / "redis.sock"
        self.redis = redis_start(socket_path=self.socket, datadir=tmp_path)
        self.broker = f"redis+socket://{self.socket}"
        # set_as_current=False: this client only sends the test's tasks; the project's app stays
        # the current one, so later tests' .delay() calls do not go to this (soon dead) broker.
        self.client = Celery(broker=self.broker, set_as_current=False)
        self.client.conf.broker_transport_options = {"visibility_timeout": 3}
        self.log_path = tmp_path / "worker.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in close())
        self.workers: list[subprocess.Popen] = []
        self._routed: dict | None = None

    def env(self, settings_module: str = "tests.worker_settings", **extra: str) -> dict[str, str]:
        """The environment of a worker: the test database, this broker, tasks not eager."""
        return {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module,
                "DATABASE_URL": database_url_of_test_db(), "CELERY_BROKER_URL": self.broker,
                "CELERY_TASK_ALWAYS_EAGER": "false", **extra}

    def start_worker(self, env: dict[str, str] | None = None, name: str = "edc-test") -> subprocess.Popen:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "angel_rescue", "worker", "--pool=solo", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}-{time.time_ns()}@%h"],
            cwd=ROOT, env=env or self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        """SIGKILL: the worker gets no chance to acknowledge or clean up."""
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float, what: str) -> None:
        wait_for(lambda: text in self.log_text(), timeout, what)

    def route_project_tasks(self) -> None:
        """Send this process's own .delay() calls (e.g. those of the live server's request
        threads) to this broker instead of running them eagerly; undone by close()."""
        from angel_rescue.celery import app

        self._routed = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
        self._reset_connections(app)
        app.conf.update(broker_url=self.broker, task_always_eager=False)

    @staticmethod
    def _reset_connections(app) -> None:
        # The app caches its broker connections and producers: drop them when the broker changes.
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None

    def close(self) -> None:
        from django.db import connection

        for worker in self.workers:
            self.kill(worker)
        if self._routed is not None:
            from angel_rescue.celery import app

            self._reset_connections(app)
            app.conf.update(**self._routed)
            self._routed = None
        self.client.close()
        self.redis.terminate()
        self.redis.wait(10)
        self.log.close()
        # Let PostgreSQL notice the killed workers' sessions before the test database goes.
        with connection.cursor() as cursor:
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.1)
        connection.close()
