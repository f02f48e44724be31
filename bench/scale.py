#!/usr/bin/env python3
"""Measures how Segue's engine scales with many jobs and a long history.

Part one queues a batch of 10,000 transitions through the engine's enqueue
path (the path `segue batch FOLDER` takes) with the queue paused, so nothing
renders. It records the time, the SQLite file size and the process's peak
RSS. The peer stores the same rows, read back from the engine's database,
into the same schema with Python's sqlite3 module in one transaction of
plain INSERTs, which is the floor for SQLite on this machine. Runs are
interleaved and the table gives medians.

Part two fills a history of 100,000 realistic rows and times the store
calls behind `segue history`, `segue show` and the desktop app's history,
queue and overview screens: the median of repeated runs per query.

Both parts run crates/engine/examples/scale.rs. The results go to the
"scale" section of docs/benchmarks.md.

    python3 bench/scale.py [--quick] [--runs 3]
"""

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, header, median, table, write_section  # noqa: E402

EXAMPLE = ROOT / "target" / "release" / "examples" / "scale"
IMAGE = ROOT / "samples" / "01-dandelions-1920x1080.jpg"
MIGRATIONS = ROOT / "crates" / "engine" / "migrations"
# Queries slower than this, in ms, are marked in the table.
SLOW_MS = 50
FULL = {"jobs": 10_000, "rows": 100_000, "reps": 15}
QUICK = {"jobs": 500, "rows": 5_000, "reps": 3}


def build():
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "segue-engine",
                    "--example", "scale"], cwd=ROOT, check=True)


def run_example(args):
    """Runs the example and returns its JSON report."""
    result = subprocess.run([str(EXAMPLE), *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"scale example failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def engine_enqueue(jobs, work):
    return run_example(["enqueue", "--work", work, "--jobs", jobs, "--image", IMAGE])


def sqlite_floor(engine_db, work):
    """Copies the engine's rows into a new database of the same schema with
    plain INSERTs in one transaction, and returns the seconds the
    transaction took and the database size in bytes.

    The rows are read before the clock starts. The database uses the
    engine's settings: WAL, synchronous=FULL and foreign keys on.
    """
    source = sqlite3.connect(engine_db)
    transitions = source.execute("SELECT * FROM transitions ORDER BY rowid").fetchall()
    job_columns = [row[1] for row in source.execute("PRAGMA table_info(jobs)")]
    jobs = source.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
    source.close()

    path = Path(work) / "floor.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        db.executescript(migration.read_text())

    marks = ", ".join("?" for _ in transitions[0])
    job_marks = ", ".join("?" for _ in job_columns)
    job_insert = f"INSERT INTO jobs ({', '.join(job_columns)}) VALUES ({job_marks})"
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany(f"INSERT INTO transitions VALUES ({marks})", transitions)
    db.executemany(job_insert, jobs)
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    size = sum(p.stat().st_size for p in Path(work).glob("floor.db*"))
    return seconds, size


def measure_enqueue(jobs, runs):
    """Interleaves engine and floor runs; returns their samples."""
    engine_runs, floor_runs = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="segue-scale-") as work:
            report = engine_enqueue(jobs, work)
            seconds, size = sqlite_floor(Path(work) / "data" / "segue.db", work)
            engine_runs.append(report)
            floor_runs.append({"seconds": seconds, "bytes": size})
    return engine_runs, floor_runs


def mib(size):
    return f"{size / 2**20:.1f} MiB"


def enqueue_table(jobs, engine_runs, floor_runs):
    enqueue_ms = median([run["estimate_ms"] + run["enqueue_ms"] for run in engine_runs])
    store_ms = median([run["store_insert_ms"] for run in engine_runs])
    floor_ms = median([run["seconds"] * 1000 for run in floor_runs])
    engine_size = median([run["sizes"]["total_bytes"] for run in engine_runs])
    engine_db = median([run["sizes"]["db_bytes"] for run in engine_runs])
    engine_wal = median([run["sizes"]["wal_bytes"] for run in engine_runs])
    floor_size = median([run["bytes"] for run in floor_runs])
    rss = median([run["peak_rss_bytes"] for run in engine_runs])

    def row(what, ms, size, memory):
        return [what, f"{ms / 1000:.2f} s", f"{jobs / (ms / 1000):,.0f}",
                f"{ms / floor_ms:.1f}x", size, memory]

    rows = [
        row("engine: `Engine::estimate` + `Engine::enqueue`", enqueue_ms,
            f"{mib(engine_size)} ({mib(engine_db)} + WAL {mib(engine_wal)})", mib(rss)),
        row("engine: `Store::insert_jobs` alone, same rows", store_ms, "", ""),
        row("SQLite floor: Python sqlite3, one transaction", floor_ms, mib(floor_size), ""),
    ]
    columns = ["what", "median time", "jobs/s", "vs floor", "database with WAL",
               "process peak RSS"]
    phases = {
        "open": median([run["open_ms"] for run in engine_runs]),
        "intake": median([run["intake_ms"] for run in engine_runs]),
        "estimate": median([run["estimate_ms"] for run in engine_runs]),
        "enqueue": median([run["enqueue_ms"] for run in engine_runs]),
    }
    return table(columns, rows), phases


def history_table(report):
    rows = []
    for query in report["queries"]:
        split = ""
        if query["count_ms"] and query["page_ms"]:
            split = f"{query['count_ms']:.1f} + {query['page_ms']:.1f}"
        total = f"{query['total_ms']:.1f}"
        if query["total_ms"] > SLOW_MS:
            total = f"**{total}**"
        rows.append([query["caller"], query["name"], f"{query['matched']:,}", total, split])
    columns = ["caller", "query", "rows matched", "median ms", "count + page ms"]
    return table(columns, rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes ({QUICK['jobs']} jobs, {QUICK['rows']} rows) "
                             "to check the script")
    parser.add_argument("--runs", type=int, default=3,
                        help="interleaved enqueue runs of the engine and the floor (default 3)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    runs = 1 if args.quick else args.runs
    build()

    engine_runs, floor_runs = measure_enqueue(sizes["jobs"], runs)
    enqueue_text, phases = enqueue_table(sizes["jobs"], engine_runs, floor_runs)
    store_ms = median([run["store_insert_ms"] for run in engine_runs])
    per_job_us = (phases["enqueue"] - store_ms) * 1000 / sizes["jobs"]
    store_vs_floor = store_ms / median([run["seconds"] * 1000 for run in floor_runs])

    with tempfile.TemporaryDirectory(prefix="segue-history-") as work:
        history = run_example(["history", "--work", work, "--rows", sizes["rows"],
                               "--reps", sizes["reps"]])

    slow_count = sum(1 for query in history["queries"] if query["total_ms"] > SLOW_MS)
    command = "python3 bench/scale.py" + (" --quick" if args.quick else "")
    sqlite_engine = engine_runs[0]["sqlite_version"]
    body = f"""
{header(command)}
SQLite {sqlite_engine} in the engine (bundled by sqlx), {sqlite3.sqlite_version} in Python.

### Queuing {sizes['jobs']:,} jobs

`Engine::enqueue` with the queue paused, through the path of `segue batch
FOLDER`: a folder of {sizes['jobs'] + 1:,} images (hard links of one photo),
paired as a chain, then `Engine::estimate` and `Engine::enqueue`, as the
command calls them. Medians of {runs} interleaved runs, each in a new data
folder.

{enqueue_text}

Phases of the engine run (medians): opening the engine
{phases['open']:.0f} ms, listing and pairing the folder {phases['intake']:.0f} ms,
`estimate` {phases['estimate']:.0f} ms, `enqueue` {phases['enqueue']:.0f} ms.

Reading the numbers:

- `Store::insert_jobs` alone stores the same rows in one transaction, as
  the floor does, in {store_vs_floor:.1f}x the floor's time. The rest of
  `enqueue`, {per_job_us:.0f} µs per job, is work it does one job at a
  time before and after that transaction: it validates the request
  (checks that both images are files), writes and deletes a probe file in
  the output folder, and queries the database for whether the output name
  is taken. After the insert it reads each job back to schedule it. Every
  query crosses from the tokio task to sqlx's SQLite worker thread and
  back.
- The WAL file grows to the size of the batch's transaction. A checkpoint
  copies its pages into the database file, but SQLite reuses the WAL file
  rather than truncating it, so right after a batch the disk use is about
  twice the database.

### History queries at {history['rows']:,} rows

The rows are stored with `Store::insert_jobs` and then given realistic
contents ({history['fill_ms'] / 1000:.1f} s for both steps). Creation times
spread over a year. 80 % of the jobs succeeded, 10 % failed, and the rest
were cancelled, timed out or are waiting. The rows have six types, and 30 %
are hosted jobs on six fal models with prompts and request ids. Names and
paths look like `harbor-1234-to-harbor-1235-calm`. The database is
{mib(history['sizes']['total_bytes'])} with its WAL. Each query runs once to
warm the cache, then {history['reps']} times; the table gives the median in
milliseconds. "App history" is the desktop app's `list_jobs` command: a
count for the scroll bar, then a page of {100} rows.

{history_table(history)}

Queries slower than {SLOW_MS} ms are in bold ({slow_count} of
{len(history['queries'])} here). The queries whose time grows with the
history are the substring searches. The app's search box and `segue
history --name` match `LIKE '%text%'` on the name, prompt and both image
paths of every transition and on the request id and id of every job, and
`segue show PREFIX` matches `replace(id, '-', '') LIKE 'prefix%'` on every
job. EXPLAIN QUERY PLAN shows `SCAN j` with `LIST SUBQUERY` over `SCAN
transitions` for the search. A B-tree index cannot
serve a pattern that starts with a wildcard, so no index was added for
them: a covering index on jobs (created_at, id, provider_request_id,
transition_id) made no measurable difference in a test with the sqlite3
shell. An FTS5 table with the trigram tokenizer over the four transition
columns would serve the search from an index. The other queries are
served by the indexes of the second migration.
"""
    write_section("scale", body)
    print(body)


if __name__ == "__main__":
    main()
