#!/usr/bin/env python3
"""Benchmark: Segue's job queue against Celery prefork workers with a Redis
broker, both running the same fal jobs against one fal-mock server.

    target/bench-venv/bin/python bench/queue_bench.py [--runs N] [--jobs N] [--quick]

Each case runs N jobs (default 200) of 2 s simulated generation at 10 and at
50 jobs at once, interleaved: Segue c=10, Celery c=10, Segue c=50, Celery
c=50, then again for each run. A second test times Celery's apply_async of
10,000 tasks into Redis with no worker running. The medians go into the
queue-bench section of docs/benchmarks.md.

Needs target/release/segue and target/release/fal-mock (cargo build
--release --locked --bin segue --bin fal-mock), redis-server, ffmpeg and the
virtual environment that bench/setup.sh makes.
"""

import argparse
import csv
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import common

ROOT = common.ROOT
SEGUE = ROOT / "target" / "release" / "segue"
FAL_MOCK = ROOT / "target" / "release" / "fal-mock"
PEER_DIR = Path(__file__).resolve().parent / "celery_peer"
PYTHON = sys.executable
FRONT_SOURCE = ROOT / "tests" / "fixtures" / "images" / "04-coffee-600x400.jpg"
TAIL_SOURCE = ROOT / "tests" / "fixtures" / "images" / "03-astronaut-512x512.jpg"

MODEL = "fal-ai/kling-video/v2.1/pro/image-to-video"
# The input fields of MODEL, as crates/fal/src/models.rs builds them for a
# 5 s CALM transition with no negative prompt.
FIRST_FRAME_FIELD = "image_url"
LAST_FRAME_FIELD = "tail_image_url"
MODEL_INPUT = {"duration": "5", "cfg_scale": 0.5}
KEY = "bench-key"
GENERATION_S = 2.0
CONCURRENCIES = (10, 50)
ENQUEUE_COUNT = 10_000
# Maximum time of one side's run before it is stopped, in seconds.
RUN_TIMEOUT_S = 900
MIB = 2**20


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per run (default 200)")
    parser.add_argument("--quick", action="store_true",
                        help="20 jobs, one run of each case and 1,000 enqueued tasks, to check the script")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.jobs = 1, 20
    args.enqueue_count = 1_000 if args.quick else ENQUEUE_COUNT
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs must be at least 1")
    return args


# --- processes --------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_time(pid):
    """Returns the start time of process `pid` in clock ticks after boot, or
    None when it is gone. A pid with another start time is a new process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def stop_process(process, grace_s=10.0):
    """Stops a process this script started, and every process under it:
    SIGTERM to the root, then SIGKILL to whatever is left after `grace_s`.
    Each process is recognized by its pid and start time, so a pid that the
    system has given to a new process in between is left alone."""
    if process is None or process.poll() is not None:
        return
    started = {pid: start_time(pid) for pid in common.tree_pids([process.pid])}
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    for pid, ticks in started.items():
        if ticks is not None and start_time(pid) == ticks:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"warning: process {process.pid} did not stop after SIGKILL", file=sys.stderr)


def wait_with_rusage(process, timeout_s):
    """Reaps `process` and returns (exit code, resource usage). Kills the
    process tree and raises when it runs longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage
        if time.monotonic() > deadline:
            stop_process(process, grace_s=2.0)
            raise RuntimeError(f"{process.args[0]} ran longer than {timeout_s} s and was stopped")
        time.sleep(0.02)


def cpu_of(usage):
    return usage.ru_utime + usage.ru_stime


# --- inputs -----------------------------------------------------------------


def make_clip(path):
    """Writes the MP4 that fal-mock serves for every job: 5 s of H.264 at
    320x180 and 30 fps."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=size=320x180:rate=30:duration=5", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
        check=True,
    )


def write_manifest(path, jobs):
    """Writes Segue's CSV manifest: one row per job, each with its own prompt
    and name so that no two submissions have the same input."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["front", "tail", "prompt", "name"])
        for index in range(jobs):
            writer.writerow([FRONT_SOURCE, TAIL_SOURCE, f"bench job {index}", f"job-{index:05d}"])


def celery_job(base_url, index, output):
    return {
        "key": KEY,
        "queue_url": base_url,
        "rest_url": base_url,
        "model": MODEL,
        "first_frame_field": FIRST_FRAME_FIELD,
        "last_frame_field": LAST_FRAME_FIELD,
        "input": {"prompt": f"bench job {index}", **MODEL_INPUT},
        "front": str(FRONT_SOURCE),
        "tail": str(TAIL_SOURCE),
        "output": str(output),
    }


# --- fal-mock and Redis -----------------------------------------------------


def start_mock(clip, jobs, log_path):
    """Starts fal-mock on a free loopback port and returns (process, base URL)."""
    command = [
        str(FAL_MOCK), "--listen", "127.0.0.1:0", "--key", KEY,
        "--queue-time", "0s", "--generation-time", f"{GENERATION_S:g}s",
        "--concurrency", str(max(jobs, 200)), "--clip-file", str(clip),
    ]
    env = dict(os.environ, RUST_LOG="warn")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    line = process.stdout.readline().decode().strip()
    prefix = "fal-mock listening on "
    if not line.startswith(prefix):
        stop_process(process)
        raise RuntimeError(f"fal-mock did not start (first output {line!r}); see {log_path}")
    return process, line[len(prefix):].rstrip("/")


def mock_request(base_url, path, method="GET"):
    request = urllib.request.Request(f"{base_url}{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def check_mock_stats(base_url, jobs, side):
    """Fails unless the mock saw exactly `jobs` accepted submissions with
    distinct inputs, none rejected, all completed, and two uploads each."""
    stats = mock_request(base_url, "/_mock/stats")
    problems = []
    if stats["submissions"] != jobs:
        problems.append(f"{stats['submissions']} submissions, expected {jobs}")
    if stats["duplicates"]:
        problems.append(f"{len(stats['duplicates'])} inputs submitted more than once")
    if stats["rejected_submissions"]:
        problems.append(f"{stats['rejected_submissions']} rejected submissions")
    if stats["jobs"]["completed"] != jobs:
        problems.append(f"{stats['jobs']['completed']} jobs completed, expected {jobs}")
    if stats["uploads"]["stored"] != 2 * jobs:
        problems.append(f"{stats['uploads']['stored']} frames uploaded, expected {2 * jobs}")
    if problems:
        raise RuntimeError(f"fal-mock stats after the {side} run: " + "; ".join(problems))
    return stats


def start_redis(directory):
    """Starts redis-server on a free loopback port without persistence and
    returns (process, URL, client)."""
    import redis

    port = free_port()
    command = [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
        "--appendonly", "no", "--dir", str(directory), "--logfile", str(directory / "redis.log"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    try:
        client = redis.Redis.from_url(url)
        while True:
            try:
                client.ping()
                return process, url, client
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
                time.sleep(0.05)
    except BaseException:
        stop_process(process)
        raise


# --- Segue ------------------------------------------------------------------


def run_segue(base_url, jobs, concurrency, directory):
    """Runs `segue batch` over `jobs` fal jobs and returns its measurements."""
    manifest = directory / "manifest.csv"
    out = directory / "out"
    write_manifest(manifest, jobs)
    command = [
        str(SEGUE), "--data-dir", str(directory / "data"), "batch", str(manifest),
        "--provider", "fal", "--model", MODEL, "-j", str(concurrency),
        "--resolution", "720p", "--duration", "5", "--out", str(out),
    ]
    env = dict(os.environ, SEGUE_FAL_QUEUE_URL=base_url, SEGUE_FAL_REST_URL=base_url, FAL_KEY=KEY)
    finished = []
    tail = []

    def read_lines(stream):
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            if ": succeeded: " in line:
                finished.append(time.time())
            tail.append(line)
            del tail[:-40]

    started_at = time.time()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    readers = [threading.Thread(target=read_lines, args=(stream,), daemon=True)
               for stream in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    try:
        with common.TreeMonitor([process.pid]) as monitor, common.PssMonitor([process.pid]) as pss:
            code, usage = wait_with_rusage(process, RUN_TIMEOUT_S)
    finally:
        stop_process(process)
    for reader in readers:
        reader.join(timeout=10)

    clips = list(out.glob("*.mp4"))
    if code != 0 or len(finished) != jobs or len(clips) != jobs:
        raise RuntimeError(
            f"segue batch exited with {code}, reported {len(finished)} of {jobs} jobs succeeded "
            f"and wrote {len(clips)} clips; last output:\n" + "\n".join(tail)
        )
    return {
        "makespan": max(finished) - started_at,
        "cpu": cpu_of(usage),
        "rss": max(monitor.peak_rss, usage.ru_maxrss * 1024),
        "pss": pss.peak,
    }


# --- Celery -----------------------------------------------------------------


def peer_env(broker_url):
    return dict(os.environ, BENCH_BROKER_URL=broker_url, PYTHONPATH=str(PEER_DIR))


def start_worker(broker_url, concurrency, log_path):
    """Starts a Celery worker with a prefork pool of `concurrency` processes
    and waits until it replies to a ping and all pool processes exist."""
    from celery import Celery

    hostname = f"bench-{concurrency}-{os.getpid()}@127.0.0.1"
    command = [
        PYTHON, "-m", "celery", "-A", "tasks", "worker", "--pool", "prefork",
        "--concurrency", str(concurrency), "--loglevel", "WARNING", "--hostname", hostname,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PEER_DIR, env=peer_env(broker_url),
                                   stdout=log, stderr=subprocess.STDOUT)
    control = Celery(broker=broker_url)
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker was not ready within 60 s; see {log_path}")
            replies = control.control.ping(destination=[hostname], timeout=0.5)
            pool = len(common.tree_pids([process.pid])) - 1
            if replies and pool >= concurrency:
                return process
            time.sleep(0.1)
    except BaseException:
        stop_process(process)
        raise
    finally:
        control.close()


def run_celery(base_url, broker_url, redis_process, jobs, concurrency, directory):
    """Runs `jobs` fal jobs through Celery workers and returns the
    measurements of the workers, the enqueuing client and redis-server."""
    out = directory / "out"
    out.mkdir()
    jobs_path = directory / "jobs.json"
    job_list = [celery_job(base_url, index, out / f"job-{index:05d}.mp4") for index in range(jobs)]
    jobs_path.write_text(json.dumps(job_list))

    worker = start_worker(broker_url, concurrency, directory / "worker.log")
    client = None
    try:
        servers = [worker.pid, redis_process.pid]
        with common.TreeMonitor(servers) as monitor, common.PssMonitor(servers) as pss:
            before = common.tree_cpu_seconds(servers)
            with open(directory / "client.log", "wb") as client_log:
                client = subprocess.Popen(
                    [PYTHON, str(PEER_DIR / "enqueue.py"), "run", str(jobs_path)],
                    cwd=PEER_DIR, env=peer_env(broker_url), stdout=subprocess.PIPE,
                    stderr=client_log,
                )
            monitor.add_root(client.pid)
            pss.add_root(client.pid)
            output = []
            reader = threading.Thread(target=lambda: output.append(client.stdout.read()), daemon=True)
            reader.start()
            code, usage = wait_with_rusage(client, RUN_TIMEOUT_S)
            after = common.tree_cpu_seconds(servers)
            reader.join(timeout=10)
    finally:
        stop_process(client)
        stop_process(worker, grace_s=15.0)

    if code != 0 or not output or not output[0]:
        log = (directory / "client.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"the Celery client exited with {code}:\n{log}")
    report = json.loads(output[0])
    failed = [outcome for outcome in report["outcomes"] if not outcome["ok"]]
    clips = list(out.glob("*.mp4"))
    if failed or len(report["outcomes"]) != jobs or len(clips) != jobs:
        raise RuntimeError(
            f"Celery: {len(failed)} of {jobs} tasks failed and {len(clips)} clips were written; "
            f"first failures: {failed[:3]}; see {directory / 'worker.log'}"
        )
    finished = max(outcome["finished_at"] for outcome in report["outcomes"])
    return {
        "makespan": finished - report["started_at"],
        "cpu": common.cpu_seconds_between(before, after) + cpu_of(usage),
        "rss": monitor.peak_rss,
        "pss": pss.peak,
    }


def run_fill(broker_url, redis_client, base_url, count, ignore_result, directory):
    """Times apply_async of `count` tasks into Redis with no worker running."""
    redis_client.flushall()
    job_path = directory / f"fill-job-{int(ignore_result)}.json"
    job_path.write_text(json.dumps(celery_job(base_url, 0, directory / "unused.mp4")))
    command = [PYTHON, str(PEER_DIR / "enqueue.py"), "fill", str(count), str(job_path)]
    if ignore_result:
        command.append("--ignore-result")
    result = subprocess.run(command, cwd=PEER_DIR, env=peer_env(broker_url),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"enqueue.py fill exited with {result.returncode}:\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout)
    if report["queued"] != count:
        raise RuntimeError(f"Redis contains {report['queued']} queued tasks after {count} were enqueued")
    redis_client.flushall()
    return {
        "seconds": report["seconds"],
        "memory": report["used_memory_after"] - report["used_memory_before"],
    }


# --- report -----------------------------------------------------------------


def ideal_makespan(jobs, concurrency):
    return math.ceil(jobs / concurrency) * GENERATION_S


def summarize(samples, key):
    values = [sample[key] for sample in samples if sample[key] is not None]
    return common.median(values) if values else None


def mib(value):
    return "n/a" if value is None else f"{value / MIB:.0f}"


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}"


def throughput_tables(jobs, medians):
    rows, ratio_rows = [], []
    for concurrency in CONCURRENCIES:
        ideal = ideal_makespan(jobs, concurrency)
        for side in ("Segue", "Celery"):
            median = medians[(side, concurrency)]
            rows.append([
                side, concurrency, f"{median['makespan']:.2f}", f"{ideal:.0f}",
                ratio(median["makespan"], ideal), f"{median['cpu']:.2f}",
                f"{median['cpu'] / jobs * 1000:.0f}", f"{median['requests'] / jobs:.1f}",
                mib(median["rss"]), mib(median["pss"]),
            ])
        segue, celery = medians[("Segue", concurrency)], medians[("Celery", concurrency)]
        ratio_rows.append([
            concurrency, ratio(celery["makespan"], segue["makespan"]), ratio(celery["cpu"], segue["cpu"]),
            ratio(celery["rss"], segue["rss"]), ratio(celery["pss"], segue["pss"]),
        ])
    columns = ["side", "jobs at once", "makespan s", "ideal s", "makespan / ideal", "CPU s",
               "CPU ms per job", "HTTP requests per job", "peak RSS MiB", "peak PSS MiB"]
    ratio_columns = ["jobs at once", "makespan", "CPU", "peak RSS", "peak PSS"]
    return common.table(columns, rows), common.table(ratio_columns, ratio_rows)


def fill_table(count, fills):
    rows, rates = [], {}
    for ignore_result, label in ((False, "Redis broker and result backend"),
                                 (True, "Redis broker, `ignore_result=True`")):
        seconds = common.median([sample["seconds"] for sample in fills[ignore_result]])
        memory = common.median([sample["memory"] for sample in fills[ignore_result]])
        rates[ignore_result] = count / seconds
        rows.append([label, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}",
                     f"{memory / MIB:.1f}", f"{memory / count:,.0f}"])
    columns = ["client", "tasks", "seconds", "tasks per s", "Redis memory MiB", "bytes per task"]
    return common.table(columns, rows), rates


def wrap_markdown(text, width=80):
    """Fills `text` to `width` columns without breaking a `code span`."""
    parts = text.split("`")
    for index in range(1, len(parts), 2):
        parts[index] = parts[index].replace(" ", "\u00a0")
    # str.split() would also split at the no-break spaces, so only ASCII
    # spaces and line breaks are collapsed.
    flat = re.sub(r"[ \n]+", " ", "`".join(parts)).strip()
    filled = textwrap.fill(flat, width=width, break_long_words=False, break_on_hyphens=False)
    return filled.replace("\u00a0", " ")


def reading(jobs, medians, rates):
    """Returns the paragraph that reads the tables, with their numbers."""
    over = {key: value["makespan"] / ideal_makespan(jobs, key[1]) for key, value in medians.items()}
    per_job = {key: value["cpu"] / jobs * 1000 for key, value in medians.items()}
    requests = {key: value["requests"] / jobs for key, value in medians.items()}
    segue50, celery50 = medians[("Segue", 50)], medians[("Celery", 50)]
    # The profile's share of Segue's CPU that goes to preparing frames.
    wave_cpu = 50 * per_job[("Segue", 50)] / 1000 * 0.83
    enqueue = (f"In the enqueue test Celery sends {rates[True]:,.0f} tasks per second without a "
               f"result backend and {rates[False]:,.0f} with one.")
    if rates[False] < 0.9 * rates[True]:
        enqueue += (" The result backend costs time because each `apply_async` also subscribes "
                    "to the task's result channel in Redis.")
    text = f"""Segue takes {over[('Segue', 10)]:.2f}x the ideal makespan at 10 jobs at once
and {over[('Segue', 50)]:.2f}x at 50, Celery {over[('Celery', 10)]:.2f}x and {over[('Celery', 50)]:.2f}x. Segue spends
{per_job[('Segue', 50)]:.0f} ms of CPU per job against Celery's {per_job[('Celery', 50)]:.0f} ms at 50 at once, and
most of it is work the Celery tasks skip. A `perf record` of `segue batch` on
this workload (100 jobs, `-j 50`, same machine) put 83% of Segue's CPU in
preparing the frames, 71% in the `image` crate's JPEG encoder writing the two
1280x720 frames at quality 92 and 11% in resizing, and about 6% in SQLite
commits, which leaves roughly 12 ms per job for the queue, HTTP and history.
After that profile the frames moved to the `jpeg-encoder` crate with SIMD,
which halved the time to prepare a job's frames (106 to 57 ms a job in
`crates/fal/examples/frame_encode_timing.rs`); this table is from after the
change.
The same frame work is most of Segue's time over the ideal, because a wave of
50 jobs needs about {wave_cpu:.1f} s of CPU for its frames before its uploads go
out, on a machine with two cores. Celery's CPU goes to its {requests[('Celery', 50)]:.0f} HTTP requests
per job, most of them status polls, against Segue's {requests[('Segue', 50)]:.0f} (one status event
stream per job), each handled by `requests` in Python, and to the task and
result messages through Redis. Memory differs most: Segue is one process of
{mib(segue50['rss'])} MiB at 50 jobs at once, while the prefork pool is one Python process per
job slot, {mib(celery50['rss'])} MiB of RSS summed ({mib(celery50['pss'])} MiB PSS, which counts the pages
shared after the fork once). {enqueue}"""
    return wrap_markdown(text)


def section(args, results, fills, command, clip_kib, redis_version):
    jobs = args.jobs
    medians = {
        key: {name: summarize(samples, name) for name in ("makespan", "cpu", "requests", "rss", "pss")}
        for key, samples in results.items()
    }
    throughput, ratios = throughput_tables(jobs, medians)
    fills_text, rates = fill_table(args.enqueue_count, fills)
    quick = ("\n**Quick check (`--quick`): small sizes and one run; these numbers are not "
             "for the record.**\n" if args.quick else "")
    return f"""
## Queue: Segue against Celery on fal jobs

{common.header(command)}{quick}
Both sides run {jobs} jobs of Kling 2.1 (`{MODEL}`) against one `fal-mock`
(`--queue-time 0s --generation-time {GENERATION_S:g}s --concurrency {max(jobs, 200)}`), which serves one
pre-made 5 s 320x180 MP4 of {clip_kib:.0f} KiB for every job, so the mock never makes a
job wait. The ideal makespan is ceil(jobs / jobs at once) x {GENERATION_S:g} s. Runs are
interleaved (Segue c=10, Celery c=10, Segue c=50, Celery c=50), {args.runs} of each,
and the tables give medians. After every run the script checks that each job
succeeded and that the mock counted exactly {jobs} submissions, no duplicate
input and two uploads per job.

- **Segue**: `segue batch manifest.csv --provider fal --model {MODEL}
  -j C --resolution 720p`, one process. Per job it decodes the front (600x400
  JPEG) and tail (512x512 JPEG), fits both to 1280x720 and encodes them as
  JPEG, uploads each (initiate + PUT), submits, follows the status event
  stream, fetches the result, downloads the clip with fsync, parses the MP4 and
  renames it into the output folder, committing each state change to SQLite
  (WAL, `synchronous=FULL`). Makespan runs from the process start to the last
  job's `succeeded` line. CPU and peak RSS are the process's own (wait4), and
  PSS is sampled every 0.25 s.
- **Celery**: a worker with the default prefork pool (`--concurrency C`), Redis
  {redis_version} as broker and result backend (`--save "" --appendonly no`), and a
  client process that calls `apply_async` for every job and waits for the
  results. Per job a task reads the two JPEG files as they are, uploads each
  (initiate + PUT), submits, polls the status every 0.1 s (the default interval
  of fal's Python client) until COMPLETED, fetches the result and downloads the
  clip to a file with fsync. Makespan runs from the first `apply_async` to the
  end of the last task, and the worker is started and warm before that. CPU
  is that of the worker and its pool processes, redis-server and the client
  over the run. RSS (sampled every 0.1 s) and PSS (every 0.25 s) are summed
  over all of them.

{throughput}

Celery / Segue, from the medians above:

{ratios}

The Celery peer of the 10,000-job enqueue test (Segue's side is measured
separately): `apply_async` of {args.enqueue_count:,} tasks, each carrying a job like the
ones above, into an empty Redis with no worker running, median of {args.runs}.
Memory is the growth of Redis's `used_memory`.

{fills_text}

{reading(jobs, medians, rates)}
"""


def main():
    args = parse_args()
    for binary in (SEGUE, FAL_MOCK):
        if not binary.exists():
            sys.exit(f"{binary} is missing; build it with "
                     "`cargo build --release --locked --bin segue --bin fal-mock`")
    command = "target/bench-venv/bin/python bench/queue_bench.py" + (" --quick" if args.quick else f" --runs {args.runs}")
    if args.jobs != (20 if args.quick else 200):
        command += f" --jobs {args.jobs}"

    results = {(side, c): [] for c in CONCURRENCIES for side in ("Segue", "Celery")}
    fills = {False: [], True: []}
    mock = redis_process = None
    with tempfile.TemporaryDirectory(prefix="segue-queue-bench-") as temp:
        temp = Path(temp)
        try:
            clip = temp / "clip.mp4"
            make_clip(clip)
            clip_kib = clip.stat().st_size / 1024
            mock, base_url = start_mock(clip, args.jobs, temp / "fal-mock.log")
            redis_process, broker_url, redis_client = start_redis(temp)
            redis_version = redis_client.info("server")["redis_version"]
            for run in range(args.runs):
                for concurrency in CONCURRENCIES:
                    for side in ("Segue", "Celery"):
                        directory = temp / f"{side.lower()}-{concurrency}-{run}"
                        directory.mkdir()
                        mock_request(base_url, "/_mock/reset", method="POST")
                        redis_client.flushall()
                        if side == "Segue":
                            sample = run_segue(base_url, args.jobs, concurrency, directory)
                        else:
                            sample = run_celery(base_url, broker_url, redis_process, args.jobs,
                                                concurrency, directory)
                        stats = check_mock_stats(base_url, args.jobs, f"{side} c={concurrency}")
                        sample["requests"] = sum(stats["requests"].values())
                        results[(side, concurrency)].append(sample)
                        print(f"run {run + 1}/{args.runs} {side} c={concurrency}: "
                              f"makespan {sample['makespan']:.2f} s, CPU {sample['cpu']:.2f} s, "
                              f"{sample['requests']} requests, peak RSS {mib(sample['rss'])} MiB, "
                              f"PSS {mib(sample['pss'])} MiB", flush=True)
                for ignore_result in (False, True):
                    fill = run_fill(broker_url, redis_client, base_url, args.enqueue_count,
                                    ignore_result, temp)
                    fills[ignore_result].append(fill)
                    print(f"run {run + 1}/{args.runs} Celery enqueue of {args.enqueue_count} "
                          f"(ignore_result={ignore_result}): {fill['seconds']:.2f} s, "
                          f"Redis +{fill['memory'] / MIB:.1f} MiB", flush=True)
        finally:
            stop_process(mock)
            stop_process(redis_process)

    body = section(args, results, fills, command, clip_kib, redis_version)
    common.write_section("queue-bench", body)
    print("results written to docs/benchmarks.md (section queue-bench)")


if __name__ == "__main__":
    main()
