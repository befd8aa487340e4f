"""Locust scenario of `make bench` (bench_load): site staff screening, confirming,
randomizing and entering visits while a monitor reviews and an exporter exports, against the
production-shaped server (gunicorn + whitenoise) on 127.0.0.1.

Run by bench/bench_load.py, which prepares the database and writes the accounts and the
screening form's POST body to the JSON file named by EDC_LOAD_PLAN.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

import gevent
from locust import HttpUser, between, events, task

PLAN = json.load(open(os.environ["EDC_LOAD_PLAN"]))
_site_users = itertools.cycle(PLAN["site_users"])
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SCENARIO = os.environ.get("EDC_LOAD_SCENARIO", "full")  # "alone": one site user, nothing else
# How the simulated people pace themselves:
#   "person": as people at work do — they read a page and fill its inputs before the next
#             request (the screening form: the fast coordinator's 32 inputs of
#             bench_eligibility at about one second each). This is the load of 50 people.
#   "stress": no pause between the pages of a task (1–3 s between tasks): each simulated
#             user asks for pages several times faster than a person can, which measures what
#             the server can serve at saturation, not the experience of 50 people.
PACE = os.environ.get("EDC_LOAD_PACE", "person")
SCREENING_INPUTS = 32  # the fast journey's inputs (bench_eligibility: typed NIHSS total, "All no")
SECONDS_PER_INPUT = (0.7, 1.3)  # a fast, practised coordinator


def think(low: float, high: float) -> None:
    """A person's pause on a page (reading it, filling it in) before the next request."""
    if PACE == "person" and SCENARIO != "alone":
        gevent.sleep(random.uniform(low, high))


def _csrf(response) -> str:
    match = _CSRF.search(response.text)
    return match.group(1) if match else response.cookies.get("csrftoken", "")


class _Signed(HttpUser):
    abstract = True
    username = ""

    def sign_in(self, username: str) -> None:
        session = PLAN.get("sessions", {}).get(username)
        if session:  # already signed in (bench_load made the session); check it is accepted
            self.client.cookies.set("sessionid", session, domain="127.0.0.1")
            home = self.client.get("/", name="home GET", allow_redirects=False)
            if home.status_code == 200:
                return
        page = self.client.get("/account/login/", name="login GET")
        with self.client.post("/account/login/", {"username": username, "password": PLAN["password"],
                                                  "csrfmiddlewaretoken": _csrf(page)},
                              name="login POST", allow_redirects=False, catch_response=True) as r:
            if r.status_code != 302:
                r.failure(f"sign-in of {username} answered {r.status_code}")

    def expect(self, response, status: int, label: str):
        if response.status_code != status:
            response.failure(f"{label}: expected {status}, got {response.status_code}")
            return False
        return True


class SiteUser(_Signed):
    """An investigator at a site (screens, confirms, randomizes, opens the visits)."""

    wait_time = between(5, 15) if PACE == "person" and SCENARIO != "alone" else between(1, 3)
    fixed_count = 1 if SCENARIO == "alone" else int(os.environ.get("EDC_LOAD_SITE_USERS", "50"))

    def on_start(self):
        self.account = next(_site_users)
        self.sign_in(self.account["username"])

    @task
    def screen_confirm_randomize_enter(self):
        form = self.client.get("/screening/new/", name="screening form GET")
        if not form.ok:
            return  # counted as that GET's failure; a person would reload the form, not post a blank one
        body = dict(PLAN["screening_post"], site=str(self.account["site_id"]), csrfmiddlewaretoken=_csrf(form))
        think(SCREENING_INPUTS * SECONDS_PER_INPUT[0], SCREENING_INPUTS * SECONDS_PER_INPUT[1])
        with self.client.post("/screening/new/", body, name="screening POST", allow_redirects=False,
                              catch_response=True) as r:
            if not self.expect(r, 302, "screening"):
                return
            detail_url = r.headers["Location"]
        detail = self.client.get(detail_url, name="screening detail GET")
        pk = detail_url.rstrip("/").split("/")[-1]
        think(3, 8)  # the investigator reads the verdict and confirms
        with self.client.post(f"/screening/{pk}/confirm/", {"confirm": "on", "csrfmiddlewaretoken": _csrf(detail)},
                              name="confirm POST", allow_redirects=False, catch_response=True) as r:
            if not self.expect(r, 302, "confirm"):
                return
        page = self.client.get(f"/randomization/screening/{pk}/", name="randomize GET")
        think(2, 5)  # checks the subject and presses Randomize
        with self.client.post(f"/randomization/screening/{pk}/", {"csrfmiddlewaretoken": _csrf(page)},
                              name="randomize POST", allow_redirects=False, catch_response=True) as r:
            if not self.expect(r, 302, "randomize"):
                return
            result_url = r.headers["Location"]
        result = self.client.get(result_url, name="randomization result GET")
        number = re.search(r'data-testid="subject-number">([^<]+)<', result.text)
        if number is None:
            return
        subject = number.group(1).strip()
        think(2, 5)  # reads the arm, opens V1
        self.client.get(f"/subjects/{subject}/form/V1/", name="V1 form GET")
        think(5, 15)
        self.client.get(f"/subjects/{subject}/", name="casebook GET")
        think(3, 8)
        self.client.get("/subjects/", name="subjects GET")


class Monitor(_Signed):
    wait_time = between(5, 15) if PACE == "person" else between(1, 2)
    fixed_count = 0 if SCENARIO == "alone" else 1

    def on_start(self):
        self.sign_in(PLAN["monitor"])

    @task
    def review(self):
        self.client.get("/subjects/", name="monitor subjects GET")
        think(5, 15)
        self.client.get("/data/queries/", name="monitor queries GET")
        think(5, 15)
        self.client.get("/data/forms/", name="monitor forms to review GET")
        think(5, 15)
        self.client.get("/data/audit/", name="monitor audit GET")


class Exporter(_Signed):
    wait_time = between(30, 90) if PACE == "person" else between(3, 6)
    fixed_count = 0 if SCENARIO == "alone" else 1

    def on_start(self):
        self.sign_in(PLAN["exporter"])

    @task
    def export(self):
        center = self.client.get("/exports/center/", name="export center GET")
        think(5, 10)  # chooses the formats
        body = {"formats": "csv", "blinded": "1", "csrfmiddlewaretoken": _csrf(center)}
        with self.client.post("/exports/center/", body, name="export POST", allow_redirects=False,
                              catch_response=True) as r:
            self.expect(r, 302, "export")


@events.quitting.add_listener
def _no_exit_code_override(environment, **kwargs):
    environment.process_exit_code = 0  # bench_load reads the statistics and judges them itself
