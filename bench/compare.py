"""Side by side, in Markdown, what several `make bench` runs measured for each endpoint:

    .venv/bin/python -m bench.compare bench/results/A.json bench/results/B.json [...]

Each cell is req/s · ratio to the floor · p99 ms, as in the runs' own tables; the last columns are the last
run's SQL statements per request and the change of the ratio between the last two runs (e.g. 50 k and 1 M)."""

import json
import sys
from pathlib import Path

TARGETS = {"read": "≥ 60 %", "list": "≥ 40 %", "write": "≥ 35 %", "page": "≥ 50 %"}


def cell(row: dict | None) -> str:
    if row is None:
        return "—"
    return f"{row['rps']:,.0f} · {100 * row['ratio']:.0f} % · {row['p99_ms']:.1f}"


def table(paths: list[Path]) -> str:
    runs = [{row["name"]: row for row in json.loads(path.read_text())["endpoints"]} for path in paths]
    names = list(runs[-1])
    heads = " | ".join(path.stem for path in paths)
    lines = [
        f"| endpoint | target | {heads} | SQL/req | last two |",
        "|---|---:|" + "---:|" * len(paths) + "---:|---:|",
    ]
    for name in names:
        last = runs[-1][name]
        before = runs[-2].get(name) if len(runs) > 1 else None
        change = f"{100 * (last['ratio'] - before['ratio']) / before['ratio']:+.0f} %" if before else "—"
        cells = " | ".join(cell(run.get(name)) for run in runs)
        statements = "" if last["statements_per_request"] is None else f"{last['statements_per_request']:.1f}"
        lines.append(f"| {name} | {TARGETS.get(last['kind'], '—')} | {cells} | {statements} | {change} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(table([Path(argument) for argument in sys.argv[1:]]))
