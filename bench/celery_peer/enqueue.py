"""Enqueuing client of the queue benchmark's Celery peer. Prints one JSON
object on standard output.

    python enqueue.py run JOBS.json
        Sends each job of the JSON array with apply_async, waits for every
        result, and prints the enqueue start time and each task's outcome.
    python enqueue.py fill COUNT JOB.json [--ignore-result]
        Sends COUNT copies of one job (each with its own prompt) with
        apply_async and no worker running, and prints the time taken, the
        queue length and Redis's used_memory before and after.

BENCH_BROKER_URL names the Redis server, as for tasks.py.
"""

import json
import sys
import time

from celery.result import ResultSet

from tasks import BROKER_URL, app, generate

# Maximum wait for all results of a run, in seconds.
RUN_TIMEOUT_S = 1800


def run(jobs_path):
    jobs = json.loads(open(jobs_path).read())
    started_at = time.time()
    results = [generate.apply_async(args=[job]) for job in jobs]
    enqueued_at = time.time()
    ResultSet(results).join(timeout=RUN_TIMEOUT_S, propagate=False)
    outcomes = []
    for result in results:
        if result.successful():
            outcomes.append({"ok": True, **result.result})
        else:
            outcomes.append({"ok": False, "state": result.state, "error": repr(result.result)})
    collected_at = time.time()
    print(json.dumps({
        "started_at": started_at,
        "enqueued_at": enqueued_at,
        "collected_at": collected_at,
        "outcomes": outcomes,
    }))


def fill(count, job_path, ignore_result):
    import redis

    job = json.loads(open(job_path).read())
    client = redis.Redis.from_url(BROKER_URL)
    memory_before = client.info("memory")["used_memory"]
    options = {"ignore_result": True} if ignore_result else {}
    started = time.perf_counter()
    for index in range(count):
        copy = dict(job, input=dict(job["input"], prompt=f"{job['input']['prompt']} #{index}"))
        generate.apply_async(args=[copy], **options)
    seconds = time.perf_counter() - started
    memory_after = client.info("memory")["used_memory"]
    queued = client.llen(app.conf.task_default_queue)
    print(json.dumps({
        "count": count,
        "seconds": seconds,
        "queued": queued,
        "used_memory_before": memory_before,
        "used_memory_after": memory_after,
    }))


def main(argv):
    if len(argv) == 2 and argv[0] == "run":
        run(argv[1])
    elif len(argv) in (3, 4) and argv[0] == "fill":
        ignore_result = argv[3:] == ["--ignore-result"]
        if len(argv) == 4 and not ignore_result:
            sys.exit(f"unknown option {argv[3]!r}; expected --ignore-result")
        fill(int(argv[1]), argv[2], ignore_result)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
