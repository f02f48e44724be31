#!/usr/bin/env python3
"""Runs the chaos test (tests/chaos.rs) in a release build and records its
report in docs/benchmarks.md between the chaos-bench markers.

The test queues a batch of fal jobs against the fal mock with every fault
the mock injects firing at random. It kills `segue` with SIGKILL at random
moments and continues with `segue resume`, then checks that no job was lost
and none was submitted or paid for twice. The default size is 500 jobs and
10 kills; `--quick` runs 40 jobs and 3 kills, whose numbers are not for the
record.

    python3 bench/chaos.py [--quick] [--jobs N] [--kills N] [--seed N]

Plain Python 3 standard library only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_SEED = 20261204


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 jobs and 3 kills, to check that the script works")
    parser.add_argument("--jobs", type=int, help="jobs in the batch (default 500)")
    parser.add_argument("--kills", type=int, help="SIGKILLs of segue (default 10)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the faults and kill moments (default {DEFAULT_SEED})")
    args = parser.parse_args()
    if args.jobs is None:
        args.jobs = 40 if args.quick else 500
    if args.kills is None:
        args.kills = 3 if args.quick else 10
    return args


def run_test(args, report_path):
    """Builds and runs the test; returns (exit code, wall seconds, output)."""
    env = dict(os.environ)
    env.update({
        "SEGUE_CHAOS_JOBS": str(args.jobs),
        "SEGUE_CHAOS_KILLS": str(args.kills),
        "SEGUE_CHAOS_SEED": str(args.seed),
        "SEGUE_CHAOS_REPORT": str(report_path),
    })
    build = ["cargo", "test", "--release", "--locked", "--test", "chaos", "--no-run"]
    subprocess.run(build, cwd=common.ROOT, env=env, check=True)
    command = ["cargo", "test", "--release", "--locked", "--test", "chaos", "--", "--nocapture"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=common.ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    sys.stdout.write(output)
    return result.returncode, seconds, output


def count_text(counts):
    """Formats {name: count} as 'name 3, other 1', largest first."""
    if not counts:
        return "none"
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered)


def faults_by_step(faults):
    """Sums the mock's 'STEP:KIND' counters per step."""
    steps = {}
    for key, count in faults.items():
        step = key.split(":", 1)[0]
        steps[step] = steps.get(step, 0) + count
    return steps


def section(args, command, report, passed, seconds):
    jobs = report["jobs"]
    states = report["final_states"]
    succeeded = states.get("succeeded", 0)
    attempts = report["attempts_per_job"]
    attempt_total = sum(int(n) * count for n, count in attempts.items())
    rows = [
        ["jobs", str(jobs)],
        ["kills with SIGKILL (planned)", f"{report['kills']} ({report['kills_planned']})"],
        ["`segue resume` runs", str(report["resumes"])],
        ["`segue retry` runs (submit not accepted)", str(report["retries"])],
        ["final states", count_text(states)],
        ["failures by state/error kind", count_text(report["failures_by_cause"])],
        ["submit_unknown: accepted at the mock / not",
         f"{report['submit_unknown_accepted_at_mock']} / {report['submit_unknown_not_accepted']}"],
        ["attempts per job (attempts: jobs)",
         ", ".join(f"{n}: {count}" for n, count in sorted(attempts.items(), key=lambda i: int(i[0])))],
        ["attempts cut short by a kill", str(report["interrupted_attempts"])],
        ["accepted submissions at the mock (rejected)",
         f"{report['mock_submissions']} ({report['mock_rejected_submissions']})"],
        ["requests that completed with a video", str(report["paid_videos"])],
        ["faults injected", f"{report['faults_injected_total']} from {report['fault_rules']} rules"],
        ["faults by step", count_text(faults_by_step(report["faults_injected"]))],
        ["lost jobs", str(len(report["lost_jobs"]))],
        ["duplicate submissions", str(len(report["duplicate_submissions"]))],
        ["hangs", str(len(report["hangs"]))],
        ["stray files in the output folder", str(len(report["stray_files"]))],
        ["test wall time", f"{report['duration_s']:.0f} s (cargo test: {seconds:.0f} s)"],
    ]
    kinds = sorted(report["faults_injected"].items(), key=lambda item: (-item[1], item[0]))
    kind_rows = [[kind, str(count)] for kind, count in kinds]
    quick = ("\n**Quick check (`--quick`): a small run; these numbers are not for the record.**\n"
             if args.quick else "")
    verdict = "passed" if passed else "FAILED"
    return f"""
## Chaos: kills and faults on fal jobs

{common.header(command)}{quick}
`tests/chaos.rs` with seed {report['seed']}: {jobs} fal jobs queued with `segue batch
--provider fal --resolution 720p --retry-delay 0.2 --soft-limit 20 --hard-limit 30`
against the fal mock (200 ms in queue, 400 ms of generation, 10 jobs at once),
with one probabilistic rule for every fault kind at every step where the mock
can inject it. `segue` is killed with SIGKILL at random moments and continued
with `segue resume` until every job is in a terminal state; `submit_unknown`
jobs of which the mock contains no unknown request are run again with `segue retry`.
The test {verdict}.

{common.table(["measure", "value"], rows)}

Faults injected by step and kind:

{common.table(["step:kind", "count"], kind_rows)}

{succeeded} of {jobs} jobs succeeded in {attempt_total} attempts. A job counts as
lost when it is missing from the history, not terminal at the end, or succeeded
without a valid clip at its output path that matches the history's hash and the
mock's clip. A job counts as a duplicate submission when the mock accepted more
requests of it than it has attempts that reached submission (a stored request id
or a `submit_unknown` attempt), or when two of its requests completed with a
video. The other jobs end in a state that names their cause. `failed` is the state for
errors the mock reports as permanent and `timed_out` for jobs stuck in the queue
past the soft limit. `remote_expired` follows injected 404s, and `submit_unknown`
follows submits whose reply was lost, which only `segue retry` sends again.
"""


def main():
    args = parse_args()
    command = "python3 bench/chaos.py" + (" --quick" if args.quick else "")
    default_jobs, default_kills = (40, 3) if args.quick else (500, 10)
    if args.jobs != default_jobs or args.kills != default_kills:
        command += f" --jobs {args.jobs} --kills {args.kills}"
    if args.seed != DEFAULT_SEED:
        command += f" --seed {args.seed}"
    with tempfile.TemporaryDirectory(prefix="segue-chaos-") as temp:
        report_path = Path(temp) / "report.json"
        code, seconds, output = run_test(args, report_path)
        if not report_path.exists():
            sys.exit(f"the chaos test wrote no report (exit code {code}); see its output above")
        report = json.loads(report_path.read_text())
    common.write_section("chaos-bench", section(args, command, report, code == 0, seconds))
    print(f"chaos report written to {common.DOC}", file=sys.stderr)
    if code != 0:
        sys.exit(f"the chaos test failed (exit code {code})")


if __name__ == "__main__":
    main()
