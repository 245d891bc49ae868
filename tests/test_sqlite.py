"""`make run` serves from SQLite: the code paths that differ there (no LATERAL, moments stored as text in the
compiled-once statements) work end to end."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_code_is_issued_read_back_and_checked_on_sqlite(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "tests.sqlite_flows", str(tmp_path / "db.sqlite3")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    steps = {}
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            step = json.loads(line)
            steps[step.pop("step")] = step
    assert set(steps) == {"generate", "read back", "validate wrong", "validate right", "allowance and sign-in"}, (
        completed.stderr[-3000:]
    )
    assert steps["generate"]["status"] == 200 and steps["generate"]["body"]["createdId"] > 1
    assert steps["read back"]["status"] == 200 and len(steps["read back"]["body"]["code"]) == 6
    assert steps["validate wrong"] == {"status": 200, "body": {"entity": False, "warnings": []}}
    assert steps["validate right"] == {"status": 200, "body": {"entity": True, "warnings": []}}
    assert steps["allowance and sign-in"] == {
        "allowed": 5,
        "signed_in": True,
        "events": [["app_access.update", {"allowed_downloads_num": [3, 5]}], ["app_access.login", {}]],
    }
