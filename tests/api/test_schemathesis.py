"""schemathesis against a live server: the OpenAPI schema's operations with example, random
and stateful inputs → 0 server errors and 0 schema violations (blinded and unblinded tokens)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("username", ["datamanager", "monitor"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(study, token_for, live_server, username,
                                                                     tmp_path):
    token = token_for(username)
    st = Path(sys.executable).with_name("schemathesis")
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [str(st), "run", f"{live_server.url}/api/v1/schema/", "-H", f"Authorization: Token {token}",
         "--checks", "not_a_server_error,response_schema_conformance",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "12", "--workers", "1",
         "--seed", "18", "--request-timeout", "30", "--report", "junit", "--report-junit-path", str(junit),
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1"}, cwd=tmp_path)
    output = result.stdout + result.stderr
    print(output[-4000:])
    assert result.returncode == 0, output[-6000:]
    # every operation of the schema was exercised, and every generated case passed
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    assert selected and selected.group(1) == selected.group(2) and int(selected.group(1)) >= 17
    assert f"Tested: {selected.group(1)}" in output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 100, output[-3000:]
