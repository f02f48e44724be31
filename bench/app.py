#!/usr/bin/env python3
"""Measures the desktop app's cold start and idle memory under Xvfb.

Cold start: the release `segue-app` is launched through tauri-driver and
WebKitWebDriver (as tests/e2e does) with a new data folder and HOME. A
script in the page waits until the queue screen is on screen and the
footer shows the clip server's address, which the app's first IPC command
(`app_info`) returns. The time runs from the start of the segue-app process
(from /proc) to the animation frame after that, read from the page's clock.
The app's log line "desk open" gives the time at which the backend (the
history database, the task pools and the clip server) was ready.

Idle memory: the summed RSS and PSS of segue-app and its WebKit processes,
10 s after the window appeared, in a second launch without WebDriver.

Peer: a minimal WebKitGTK window (GTK 3 and WebKit2 4.1 through PyGObject
in /usr/bin/python3) that shows a static page, measured the same way: the
time from process start to the second animation frame after the page's load
event, and its memory after 10 s.

The script starts Xvfb and a D-Bus session itself (xvfb-run -a,
dbus-run-session) and stops everything it starts. Results go to the "app"
section of docs/benchmarks.md.

    python3 bench/app.py [--quick] [--runs 5]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, TreeMonitor, header, median, pss_bytes, table, tree_pids, write_section  # noqa: E402

APP = ROOT / "target" / "release" / "segue-app"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
SYSTEM_PYTHON = "/usr/bin/python3"
IDLE_SECONDS = 10
START_TIMEOUT = 120
INNER_FLAG = "--under-xvfb"

# Runs in the page through WebDriver's execute/async: resolves with the
# page's clock (Unix ms) at the second animation frame after the queue
# screen's tab and the clip server's address (from `app_info`) are shown.
READY_SCRIPT = """
const done = arguments[arguments.length - 1];
const ready = () => document.querySelector('[data-testid="nav-queue"]') !== null &&
  /Clip server: http:\\/\\/127\\.0\\.0\\.1:\\d+/.test(document.body.innerText);
const already = ready();
const finish = () => requestAnimationFrame(() => requestAnimationFrame(() =>
  done({ ready_ms: Date.now(), already, origin_ms: performance.timeOrigin })));
if (already) { finish(); } else {
  const poll = () => (ready() ? finish() : requestAnimationFrame(poll));
  poll();
}
"""

# The peer: a GTK window with one WebKit view that loads a static page and
# prints the page's clock at the second animation frame after `load`.
PEER_SCRIPT = r"""
import gi
gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import Gtk, WebKit2

PAGE = '''<!doctype html><html><head><meta charset="utf-8"><title>peer</title>
<style>body{margin:0;font:14px sans-serif;background:#1b1d21;color:#ddd}
nav{padding:8px;background:#25282e}main{display:flex;gap:16px;padding:16px}
section{flex:1;min-height:400px;border:1px dashed #555;padding:8px}</style></head>
<body><nav>Peer: a static page</nav><main><section>Drop zone</section>
<section>Queue</section></main><footer>status line</footer>
<script>addEventListener("load", () => requestAnimationFrame(() =>
  requestAnimationFrame(() => { document.title = "ready " + Date.now(); })));</script>
</body></html>'''

def on_title(view, _param):
    title = view.get_title() or ""
    if title.startswith("ready "):
        print(title.split()[1], flush=True)

window = Gtk.Window(title="Peer")
window.set_default_size(1280, 800)
view = WebKit2.WebView()
view.connect("notify::title", on_title)
window.add(view)
window.connect("destroy", Gtk.main_quit)
view.load_html(PAGE, "about:blank")
window.show_all()
Gtk.main()
"""


def boot_epoch():
    """Returns the Unix time of boot, for converting /proc start times."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def process_start(pid):
    """Returns the Unix time at which process `pid` started (10 ms steps)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])
    return boot_epoch() + ticks / os.sysconf("SC_CLK_TCK")


def process_name(pid):
    """Returns the file name of the program `pid` runs (argv[0]), which is
    not cut at 15 characters as /proc/PID/comm is."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return None
    return Path(argv0.decode(errors="replace")).name or None


def find_process(root, name, timeout):
    """Waits until a process named `name` appears in the tree under `root`;
    returns its pid."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for pid in tree_pids([root]):
            if process_name(pid) == name:
                return pid
        time.sleep(0.01)
    raise RuntimeError(f"no {name} process under pid {root} after {timeout} s")


def memory_of_tree(root):
    """Returns the summed RSS and PSS of the tree under `root`, and the PSS
    of each program in it by name."""
    monitor = TreeMonitor([root])
    monitor.sample()
    by_name = {}
    for pid in tree_pids([root]):
        name = process_name(pid)
        if name is not None:
            by_name[name] = by_name.get(name, 0) + (pss_bytes(pid) or 0)
    return {"rss": monitor.peak_rss, "pss": sum(by_name.values()), "by_name": by_name}


def stop_tree(process, root_pid=None):
    """Sends SIGTERM to the tree under `process` (leaves first), waits, and
    kills what is left by pid."""
    pids = tree_pids([root_pid or process.pid])
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in pids:
        if Path(f"/proc/{pid}").exists() and process_name(pid) is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def webdriver(port, method, path, body=None, timeout=START_TIMEOUT):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def fresh_env(work):
    """Returns an environment with a new HOME and data folder under `work`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")
           or key == "XDG_RUNTIME_DIR"}
    home = Path(work) / "home"
    home.mkdir(parents=True)
    env.update(HOME=str(home), SEGUE_DATA_DIR=str(Path(work) / "data"), SEGUE_LOG="info")
    return env


def desk_open_time(home):
    """Returns the Unix time of the app's "desk open" log line, or None."""
    for log in (Path(home) / ".local/share/app.segue.Segue/logs").glob("segue-app.log*"):
        for line in log.read_text(errors="replace").splitlines():
            if "desk open" in line:
                stamp = re.match(r"(\S+Z)", line)
                if stamp:
                    text = re.sub(r"\.(\d{6})\d*Z", r".\1+00:00", stamp.group(1))
                    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return None


def app_cold_start():
    """Launches segue-app once through WebDriver; returns its timings in ms
    and the peak memory of its process tree before it was interactive."""
    with tempfile.TemporaryDirectory(prefix="segue-app-bench-") as work:
        env = fresh_env(work)
        port, native_port = free_port(), free_port()
        log = open(Path(work) / "driver.log", "w")
        driver = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port",
                                   str(native_port), "--native-driver", WEBKIT_DRIVER],
                                  env=env, stdout=log, stderr=log)
        session = None
        try:
            # tauri-driver forwards to WebKitWebDriver, which starts listening
            # a little later than tauri-driver itself.
            wait_for_port(port)
            wait_for_port(native_port)
            capabilities = {"capabilities": {"alwaysMatch": {
                "tauri:options": {"application": str(APP)}}}}
            with TreeMonitor([driver.pid], interval=0.05) as monitor:
                session = webdriver(port, "POST", "/session", capabilities)["value"]["sessionId"]
                app_pid = find_process(driver.pid, "segue-app", 10)
                started = process_start(app_pid)
                ready = webdriver(port, "POST", f"/session/{session}/execute/async",
                                  {"script": READY_SCRIPT, "args": []})["value"]
            desk_open = desk_open_time(env["HOME"])
            return {
                "interactive_ms": ready["ready_ms"] - started * 1000,
                "page_start_ms": ready["origin_ms"] - started * 1000,
                "backend_ms": (desk_open - started) * 1000 if desk_open else None,
                "already_ready": ready["already"],
                "start_peak_rss": monitor.peak_rss,
            }
        finally:
            if session is not None:
                try:
                    webdriver(port, "DELETE", f"/session/{session}", timeout=20)
                except OSError:
                    pass
            stop_tree(driver)
            log.close()


def wait_for_window(title, timeout=START_TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = subprocess.run(["xdotool", "search", "--name", f"^{title}$"],
                               capture_output=True, text=True)
        if found.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"no window titled {title} after {timeout} s")


def idle_memory(command, title, idle_seconds, env):
    """Starts `command`, waits for its window and `idle_seconds` more, and
    returns the memory of its process tree."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_window(title)
        time.sleep(idle_seconds)
        return memory_of_tree(process.pid)
    finally:
        stop_tree(process)


def app_idle(idle_seconds):
    with tempfile.TemporaryDirectory(prefix="segue-app-idle-") as work:
        return idle_memory([str(APP)], "Segue", idle_seconds, fresh_env(work))


def peer_run(script, idle_seconds):
    """Starts the peer once; returns its start time in ms and its memory
    after `idle_seconds`."""
    with tempfile.TemporaryDirectory(prefix="segue-peer-") as work:
        process = subprocess.Popen([SYSTEM_PYTHON, script], env=fresh_env(work),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            started = process_start(process.pid)
            line = process.stdout.readline().strip()
            if not line:
                raise RuntimeError("the peer window exited before its page was ready")
            interactive_ms = float(line) - started * 1000
            time.sleep(idle_seconds)
            return {"interactive_ms": interactive_ms, **memory_of_tree(process.pid)}
        finally:
            stop_tree(process)


def mib(size):
    return f"{size / 2**20:.0f} MiB"


def ms_text(value):
    return "n/a" if value is None else f"{value:.0f} ms"


def measure(runs, idle_seconds):
    script = Path(tempfile.mkdtemp(prefix="segue-peer-script-")) / "peer.py"
    script.write_text(PEER_SCRIPT)
    starts, idles, peers = [], [], []
    try:
        for run in range(runs):
            starts.append(app_cold_start())
            idles.append(app_idle(idle_seconds))
            peers.append(peer_run(script, idle_seconds))
            print(f"run {run + 1}: app {starts[-1]['interactive_ms']:.0f} ms, "
                  f"peer {peers[-1]['interactive_ms']:.0f} ms", flush=True)
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)
    return starts, idles, peers


def programs_text(samples):
    """Returns "name PSS, ..." with the median PSS of each program, largest
    first."""
    names = {name for sample in samples for name in sample["by_name"]}
    sizes = {name: median([sample["by_name"].get(name, 0) for sample in samples])
             for name in names}
    return ", ".join(f"{name} {mib(size)}" for name, size in
                     sorted(sizes.items(), key=lambda item: -item[1]))


def report(args, starts, idles, peers, idle_seconds):
    backend = [s["backend_ms"] for s in starts if s["backend_ms"] is not None]
    app_rss = median([idle["rss"] for idle in idles])
    app_pss = median([idle["pss"] for idle in idles])
    peer_rss = median([p["rss"] for p in peers])
    peer_pss = median([p["pss"] for p in peers])
    app_names = programs_text(idles)
    peer_names = programs_text(peers)
    rows = [
        ["segue-app (release)", ms_text(median(backend) if backend else None),
         ms_text(median([s["page_start_ms"] for s in starts])),
         ms_text(median([s["interactive_ms"] for s in starts])),
         mib(app_rss), mib(app_pss), app_names],
        ["peer: static page in a WebKitGTK window (PyGObject)", "", "",
         ms_text(median([p["interactive_ms"] for p in peers])),
         mib(peer_rss), mib(peer_pss), peer_names],
    ]
    columns = ["program", "start to backend ready", "start to UI load start",
               "start to interactive", f"RSS after {idle_seconds} s idle", "PSS",
               "PSS by program"]
    already = sum(1 for s in starts if s["already_ready"])
    command = "python3 bench/app.py" + (" --quick" if args.quick else "")
    webkit = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libwebkit2gtk-4.1-0"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    startup_peak = median([s["start_peak_rss"] for s in starts])
    return f"""
{header(command)}
WebKitGTK {webkit}, tauri-driver with WebKitWebDriver, Xvfb at 1920x1080x24
with no GPU. Medians of {len(starts)} runs; each run
starts the app with a new data folder and HOME, so the history database,
settings and WebKit caches are new, but the binaries and libraries are in
the OS page cache after the first run.

{table(columns, rows)}

What the times include, from the start of the `segue-app` process:

- **Start to backend ready**: the time of the log line `desk open`: Tauri's
  set-up, opening and migrating a new history database, the task pools,
  resuming jobs (none here), the loopback clip server and the watch folder.
  Tauri 2 creates the window just before it runs this set-up on the main
  thread (`fn setup` in tauri 2.12's `app.rs`).
- **Start to UI load start**: `performance.timeOrigin` of the page, when
  the webview began to load the UI.
- **Start to interactive**: the second animation frame after the queue
  screen's tabs are in the page and its footer shows the clip server's
  address, which comes from the app's first IPC command (`app_info`). This
  is measured through WebDriver (tauri-driver, WebKitWebDriver), which
  starts the app with WebKit's automation turned on, as tests/e2e does.
  In {already} of {len(starts)} runs the page was already interactive when the
  WebDriver session was created, so for those runs the time is an upper bound.
  The peer's time ends at the second animation frame after its page's
  `load` event.
- The app's process tree peaked at {mib(startup_peak)} RSS (summed) before it
  was interactive, sampled every 50 ms, WebDriver's processes included.

Memory is summed over the process tree (the program and the WebKit
processes it starts) after the window appeared and {idle_seconds} s
passed, in a launch without WebDriver.
RSS counts shared library pages once per process; PSS divides them among
the processes that share them, so the PSS sum is the better total. The
peer's numbers include the Python interpreter and PyGObject, so they are an
upper bound of what GTK and WebKitGTK alone cost. The app's release build
here is `cargo build --release --bin segue-app` without the
`custom-protocol` feature: tauri.conf.json has no `devUrl`, so Tauri 2
embeds `ui/dist` and serves it from `tauri://localhost` either way.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run with 3 s of idle time")
    parser.add_argument("--runs", type=int, default=5, help="cold starts (default 5)")
    parser.add_argument(INNER_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    idle_seconds = 3 if args.quick else IDLE_SECONDS

    if not args.under_xvfb:
        subprocess.run(["npm", "--prefix", "ui", "run", "build", "--silent"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "segue-app"],
                       cwd=ROOT, check=True)
        # xvfb-run picks a free display and stops Xvfb when the command
        # ends. dbus-run-session gives the app a session bus for its
        # single-instance check and ends with the command too.
        inner = [sys.executable, __file__, INNER_FLAG, *sys.argv[1:]]
        status = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24 -nolisten tcp",
                                 "dbus-run-session", "--", *inner], cwd=ROOT).returncode
        sys.exit(status)

    starts, idles, peers = measure(runs, idle_seconds)
    body = report(args, starts, idles, peers, idle_seconds)
    write_section("app", body)
    print(body)


if __name__ == "__main__":
    main()
