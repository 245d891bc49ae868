"""What one PostgreSQL primary holds for the write paths: pgbench with custom scripts (bench/pgbench/*.sql)
that run validate's and generate's statements in one transaction each, on the seeded database, at several
client counts. The app is not in the loop, so this is the database's ceiling, not a node's."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

SCRIPTS = Path(__file__).resolve().parent / "pgbench"
CLIENTS = (1, 4, 8, 16)


def measure(*, database_url: str, organization_id: int, people: int, seconds: int = 15) -> list[dict]:
    pgbench = shutil.which("pgbench") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None)
    if pgbench is None:
        sys.stderr.write("bench: no pgbench; skipping the primary's ceiling\n")
        return []
    url = urlparse(database_url)
    results = []
    for script in ("validate", "generate"):
        for clients in CLIENTS:
            command = [
                str(pgbench), "-h", url.hostname, "-p", str(url.port or 5432), "-U", url.username or "postgres",
                "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
                "-D", f"org={organization_id}", "-D", f"people={people}", "-f", str(SCRIPTS / f"{script}.sql"),
                url.path.lstrip("/") or "postgres",
            ]  # fmt: skip
            output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            tps = re.search(r"tps = ([\d.]+)", output)
            latency = re.search(r"latency average = ([\d.]+) ms", output)
            failed = re.search(r"number of failed transactions: (\d+)", output)
            row = {
                "script": script,
                "clients": clients,
                "tps": round(float(tps.group(1)), 1) if tps else None,
                "latency_ms": float(latency.group(1)) if latency else None,
                "failed": int(failed.group(1)) if failed else None,
            }
            results.append(row)
            sys.stderr.write(f"bench: pgbench {script} x{clients}: {row['tps']} tps, {row['latency_ms']} ms\n")
    return results


def table(rows: list[dict]) -> str:
    lines = ["| pgbench script | clients | TPS | avg latency ms | failed |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['script']} | {row['clients']} | {row['tps']:,.0f} | {row['latency_ms']} | {row['failed']} |"
        )
    return "\n".join(lines)
