"""Helpers shared by the benchmark scripts: the machine line, sections of
docs/benchmarks.md, medians, and CPU time and peak memory of process trees.

Each script owns one section of docs/benchmarks.md, between the markers
`<!-- NAME:begin -->` and `<!-- NAME:end -->`, and replaces only that
section, so the scripts can run alone or all together from bench/run.sh.
"""

import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def machine():
    """Returns one line naming the OS, CPU, core count, memory and load."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
            f"{memory:.0f} GiB; load average {load:.1f} at the start")


def tool_version(command):
    """Returns the first line of `command --version`, or 'not installed'."""
    if shutil.which(command[0]) is None:
        return f"{command[0]} not installed"
    result = subprocess.run(command, capture_output=True, text=True)
    return (result.stdout or result.stderr).split("\n")[0].strip()


def write_section(name, body):
    """Replaces the section NAME of docs/benchmarks.md with `body`, or appends
    it when the markers are not there yet."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def header(command):
    """Returns the lines that open a section: date, command and machine."""
    return f"Measured {time.strftime('%Y-%m-%d')} with `{command}`.\nMachine: {machine()}.\n"


def median(samples):
    return statistics.median(samples) if samples else float("nan")


def table(columns, rows):
    """Formats a Markdown table from a header list and rows of strings."""
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _tree(pid):
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack.extend(_children(current))
    return pids


def _cpu_and_rss(pid):
    """Returns (user+system CPU seconds, RSS bytes) of one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except OSError:
        return None
    # The command name in field 2 may contain spaces, so split after its ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss = int(statm.split()[1]) * PAGE_SIZE
    return cpu, rss


class TreeMonitor:
    """Samples a set of process trees every `interval` seconds: the peak of
    their summed RSS, and the CPU seconds of every process seen, taken from
    its last sample. Processes that live shorter than one interval are
    missed, so the root processes' own wait4 rusage should be preferred for
    CPU where it is available."""

    def __init__(self, roots, interval=0.1):
        self.roots = list(roots)
        self.interval = interval
        self.peak_rss = 0
        self.cpu = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add_root(self, pid):
        self.roots.append(pid)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.sample()
        self._stop.set()
        self._thread.join()

    def sample(self):
        total = 0
        for root in list(self.roots):
            for pid in _tree(root):
                measured = _cpu_and_rss(pid)
                if measured is None:
                    continue
                cpu, rss = measured
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)
                total += rss
        self.peak_rss = max(self.peak_rss, total)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    @property
    def cpu_seconds(self):
        return sum(self.cpu.values())


def tree_pids(roots):
    """Returns the pids of the live process trees under `roots`, roots
    included."""
    pids = []
    for root in roots:
        pids.extend(_tree(root))
    return pids


def tree_cpu_seconds(roots):
    """Returns {pid: user+system CPU seconds} of every live process in the
    trees under `roots`. Subtract two snapshots to get the CPU time of
    long-lived processes over an interval."""
    cpu = {}
    for pid in tree_pids(roots):
        measured = _cpu_and_rss(pid)
        if measured is not None:
            cpu[pid] = measured[0]
    return cpu


def cpu_seconds_between(before, after):
    """Returns the CPU seconds spent between two tree_cpu_seconds snapshots.
    A process missing from `before` started in between and counts in full. A
    process missing from `after` ended in between and is left out, so keep
    the measured processes alive until the second snapshot."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def pss_bytes(pid):
    """Returns the proportional set size (PSS) of one process, read from
    /proc/PID/smaps_rollup, or None when the process is gone. PSS counts the
    private pages plus an equal share of each page shared with other
    processes, so a sum over processes counts each shared page once."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def tree_pss_bytes(roots):
    """Returns the summed proportional set size of the live process trees
    under `roots`."""
    return sum(pss or 0 for pss in map(pss_bytes, tree_pids(roots)))


class PssMonitor(TreeMonitor):
    """Samples the peak summed proportional set size of process trees into
    `peak`, like TreeMonitor samples RSS. Reading smaps_rollup costs more
    than statm, so the default interval is longer."""

    def __init__(self, roots, interval=0.25):
        super().__init__(roots, interval)
        self.peak = 0

    def sample(self):
        self.peak = max(self.peak, tree_pss_bytes(list(self.roots)))
