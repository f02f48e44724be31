#!/usr/bin/env python3
"""Sends every file of tests/fixtures/images through the CLI and through
the desktop app's path, and tabulates what each does with it.

CLI: `segue generate FIXTURE GOOD_TAIL` per file, recording the exit code,
the error message or the clip. App: crates/desk/examples/bad_input.rs calls
`Desk::import_paths` (the probe and thumbnail a drop or the file picker
runs), then `Desk::check_requests` and `Desk::queue_requests` with the same
tail, and waits for the render. The tail is 04-coffee-600x400.jpg; clips are
1 s, 720p, 24 frames/s.

Each outcome is checked against the fixtures README
(tests/fixtures/images/README.md). A rejection must name the file and
contain the README's words. An accepted file must give a clip. The first
frames of some clips are compared with those of the photo they were made
from (orientation, CMYK, 16-bit, WebP), or checked for magenta (alpha) or
a colour cast (grayscale). Any other outcome is marked WRONG. The table goes
to the "bad-input" section of docs/benchmarks.md.

    python3 bench/bad_input.py [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, header, table, write_section  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "images"
NOT_IMAGES = {"README.md", "SHA256SUMS", "make_fixtures.py"}
TAIL = FIXTURES / "04-coffee-600x400.jpg"
SEGUE = ROOT / "target" / "release" / "segue"
EXAMPLE = ROOT / "target" / "debug" / "examples" / "bad_input"
WIDTH, HEIGHT = 1280, 720
# Files of a --quick run: one good photo, one reference pair and each kind
# of rejection.
QUICK = ["04-coffee-600x400.jpg", "02-interior-portrait-1280x1920.jpg",
         "exif-orientation-6.jpg", "empty.jpg", "fig.heic", "not-an-image.jpg",
         "tiny-8x8.png", "truncated.jpg"]

# Description of each fixture and the outcome a correct app gives, shortened
# from the fixtures README.
EXPECTED = {
    "01-dandelions-1920x1080.jpg": ("16:9 landscape photo", "accept, fitted to the frame"),
    "02-interior-portrait-1280x1920.jpg": ("2:3 portrait photo", "accept, cropped or letterboxed, never stretched"),
    "03-astronaut-512x512.jpg": ("512x512 square photo", "accept, scaled up"),
    "04-coffee-600x400.jpg": ("600x400 photo", "accept, scaled up"),
    "05-mountains-1600x1200.jpg": ("4:3 landscape photo", "accept"),
    "06-storm-road-1920x1280.jpg": ("3:2 dark, low-contrast photo", "accept"),
    "07-fig-odd-height-1920x1299.jpg": ("landscape with an odd height", "accept, even frame size"),
    "08-sunset-square-1440x1440.jpg": ("1440x1440 square photo", "accept"),
    "alpha-magenta-under-transparent.png": ("RGBA PNG, magenta under alpha 0", "accept, composited over black, no magenta"),
    "café crème d'été 写真.jpg": ("04 under a name with accents, CJK, a quote", "accept like 04, name intact"),
    "cmyk.jpg": ("CMYK JPEG (YCCK, inverted)", "accept, colours like 04"),
    "empty.jpg": ("0-byte file", "reject: empty"),
    "exif-orientation-6.jpg": ("02 stored sideways, EXIF orientation 6", "accept upright, like 02"),
    "fig.heic": ("HEIC (HEVC in HEIF)", "decode, or reject: HEIC, JPEG or PNG"),
    "grayscale.jpg": ("one-channel JPEG", "accept, neutral grey"),
    "huge-12000x8000.jpg": ("96-megapixel JPEG", "accept in bounded memory, or reject with size and limit"),
    "mountains.webp": ("lossy WebP of 05", "accept, like 05"),
    "not-an-image.jpg": ("text file named .jpg", "reject: not an image"),
    "rgb-16bit.png": ("16-bit RGB PNG of 08", "accept, scaled to 8 bits, like 08"),
    "tiny-8x8.png": ("8x8 PNG", "reject: 8x8 and the minimum size"),
    "truncated.jpg": ("JPEG cut after 45 % of its bytes", "reject: truncated"),
}
# Words a rejection must contain besides the file name (the same lists as
# tests/bad_input.rs).
REJECT_WORDS = {
    "empty.jpg": ["empty"],
    "fig.heic": ["HEIC", "JPEG or PNG"],
    "not-an-image.jpg": ["not an image"],
    "tiny-8x8.png": ["8x8", "64x64"],
    "truncated.jpg": ["truncated"],
}
# Files whose first frame must match the first frame made from another
# fixture: (reference, largest mean absolute difference per channel).
# The fixtures README gives the differences of the decoded images: 0.70 for
# EXIF, 3.3 for CMYK, 0.84 for 16-bit and 4.4 for WebP. The limits leave
# room for scaling and H.264, and a sideways or miscoloured frame is far
# above them.
SAME_AS = {
    "exif-orientation-6.jpg": ("02-interior-portrait-1280x1920.jpg", 4.0),
    "cmyk.jpg": ("04-coffee-600x400.jpg", 8.0),
    "café crème d'été 写真.jpg": ("04-coffee-600x400.jpg", 1.0),
    "rgb-16bit.png": ("08-sunset-square-1440x1440.jpg", 6.0),
    "mountains.webp": ("05-mountains-1600x1200.jpg", 8.0),
}


def fixture_files(quick):
    files = sorted(p for p in FIXTURES.iterdir() if p.name not in NOT_IMAGES)
    if quick:
        files = [p for p in files if p.name in QUICK]
    return files


def build():
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "segue"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--locked", "-p", "segue-desk", "--example", "bad_input"],
                   cwd=ROOT, check=True)


def error_text(stderr):
    """Returns the error a `segue` run printed: the text after `failed: `
    or `error: ` on the last line that has one."""
    for line in reversed(stderr.splitlines()):
        for marker in (" failed: ", "error: "):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return stderr.strip().splitlines()[-1] if stderr.strip() else ""


def run_cli(path, work):
    """Runs `segue generate` on one fixture; returns its exit code, error
    message, clip path and peak RSS in bytes."""
    out = Path(work) / "cli-clips" / f"{path.stem}.mp4"
    command = [str(SEGUE), "--data-dir", str(Path(work) / "cli-data"), "generate", str(path),
               str(TAIL), "--out", str(out), "--duration", "1", "--fps", "24",
               "--resolution", "720p"]
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr_file)
        # wait4 reaps the process itself, so its rusage is this run's alone.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", "replace")
    return {
        "exit": process.returncode,
        "error": error_text(stderr) if process.returncode else "",
        "clip": str(out) if process.returncode == 0 and out.is_file() else None,
        "peak_rss": usage.ru_maxrss * 1024,
    }


def first_frame(clip):
    """Decodes frame 0 of `clip` to RGB bytes with ffmpeg (BT.709, limited
    range, as the clips are tagged)."""
    scale = ("scale=in_color_matrix=bt709:in_range=tv:out_range=pc:"
             "flags=bicubic+accurate_rnd+full_chroma_int,format=rgb24")
    result = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-vf",
                             f"select=eq(n\\,0),{scale}", "-frames:v", "1", "-f", "rawvideo", "-"],
                            capture_output=True, check=True)
    return result.stdout


def probe_size(clip):
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                             "stream=width,height", "-of", "csv=p=0", str(clip)],
                            capture_output=True, text=True, check=True)
    width, height = result.stdout.strip().split(",")
    return int(width), int(height)


def mean_abs_diff(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def magenta_pixels(frame):
    """Counts pixels far more red and blue than green."""
    count = 0
    for i in range(0, len(frame), 3):
        r, g, b = frame[i], frame[i + 1], frame[i + 2]
        if r - g > 100 and b - g > 100:
            count += 1
    return count


def largest_cast(frame):
    """Returns the largest |R-G| or |B-G| over all pixels."""
    cast = 0
    for i in range(0, len(frame), 3):
        r, g, b = frame[i], frame[i + 1], frame[i + 2]
        cast = max(cast, abs(r - g), abs(b - g))
    return cast


def judge_rejection(name, error):
    """Returns (correct, note) for a file that was rejected with `error`."""
    words = REJECT_WORDS.get(name)
    if words is None:
        if name == "huge-12000x8000.jpg" and "12000x8000" in error:
            return True, ""
        return False, "WRONG: a usable image was rejected"
    missing = [word for word in [name, *words] if word not in error]
    if missing:
        return False, f"WRONG: the message lacks {', '.join(repr(w) for w in missing)}"
    return True, ""


def judge_clip(name, clip, frames):
    """Returns (correct, note) for a clip made from fixture `name`. `frames`
    maps fixture names to the first frames of their clips on the same path."""
    if name in REJECT_WORDS:
        return False, "WRONG: accepted a file that must be rejected"
    size = probe_size(clip)
    if size != (WIDTH, HEIGHT):
        return False, f"WRONG: frame {size[0]}x{size[1]}, expected {WIDTH}x{HEIGHT}"
    frame = frames[name]
    notes = []
    if name in SAME_AS:
        reference, limit = SAME_AS[name]
        if reference not in frames:
            notes.append(f"{reference} not in this run")
        else:
            difference = mean_abs_diff(frame, frames[reference])
            notes.append(f"first frame differs from {reference[:2]}'s by {difference:.1f}")
            if difference > limit:
                return False, f"WRONG: {notes[-1]}, more than {limit}"
    if name.startswith("alpha"):
        magenta = magenta_pixels(frame)
        notes.append(f"{magenta} magenta pixels")
        if magenta:
            return False, f"WRONG: {notes[-1]}"
    if name == "grayscale.jpg":
        cast = largest_cast(frame)
        notes.append(f"largest R-G or B-G {cast}")
        if cast > 2:
            return False, f"WRONG: colour cast, {notes[-1]}"
    return True, "; ".join(notes)


def outcome_text(correct, text, note):
    mark = "" if correct else "**"
    detail = f"{text}{'; ' + note if note else ''}"
    return f"{mark}{detail}{mark}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {len(QUICK)} of the fixtures, to check the script")
    args = parser.parse_args()
    build()
    files = fixture_files(args.quick)
    unknown = [p.name for p in files if p.name not in EXPECTED]

    with tempfile.TemporaryDirectory(prefix="segue-bad-input-") as work:
        cli = {path.name: run_cli(path, work) for path in files}
        result = subprocess.run([str(EXAMPLE), "--work", str(Path(work) / "app"), "--tail",
                                 str(TAIL), *map(str, files)], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"bad_input example failed ({result.returncode}):\n{result.stderr}")
        app = {row["file"]: row for row in json.loads(result.stdout)}

        cli_frames = {name: first_frame(run["clip"]) for name, run in cli.items() if run["clip"]}
        app_frames = {name: first_frame(row["output"]["path"]) for name, row in app.items()
                      if row.get("output")}

        rows, wrong = [], []
        for path in files:
            name = path.name
            what, expected = EXPECTED.get(name, ("not in the fixtures README", "?"))
            run = cli[name]
            if run["clip"]:
                correct, note = judge_clip(name, run["clip"], cli_frames)
                cli_text = outcome_text(correct, "exit 0, clip", note)
            elif run["exit"] in (1, 2):
                correct, note = judge_rejection(name, run["error"])
                cli_text = outcome_text(correct, f"exit {run['exit']}, job failed", note)
            else:
                correct = False
                cli_text = outcome_text(False, f"exit {run['exit']}", "WRONG: crashed or killed")
            if not correct:
                wrong.append(f"CLI {name}: {cli_text}")

            row = app[name]
            if row["import"] == "rejected":
                app_error = row["image"]["error"] or ""
                correct, note = judge_rejection(name, app_error)
                app_text = outcome_text(correct, "import rejects it", note)
            elif row.get("succeeded"):
                app_error = ""
                correct, note = judge_clip(name, row["output"]["path"], app_frames)
                image = row["image"]
                imported = f"imported as {image['width']}x{image['height']}"
                if not image["thumbnail"]:
                    correct, note = False, "WRONG: no thumbnail"
                app_text = outcome_text(correct, f"{imported}, clip", note)
            else:
                app_error = row.get("error") or "; ".join(row.get("check_errors", []))
                correct = False
                app_text = outcome_text(False, f"imported, then job {row.get('state')}",
                                        "WRONG: the import accepted a file the job cannot use")
            if not correct:
                wrong.append(f"app {name}: {app_text}")

            messages = []
            for source, message in (("CLI", run["error"]), ("app", app_error)):
                if message:
                    shown = message.replace(str(FIXTURES) + "/", "…/").replace("|", "\\|")
                    messages.append(f"{source}: {shown}")
            if len(messages) == 2 and messages[0][5:] == messages[1][5:]:
                messages = [f"both: {messages[0][5:]}"]
            rss = f"{run['peak_rss'] / 2**20:.0f} MiB"
            rows.append([f"`{name}`", what, expected, cli_text, rss, app_text,
                         "<br>".join(messages)])

    command = "python3 bench/bad_input.py" + (" --quick" if args.quick else "")
    verdict = ("Every file was handled as the fixtures README expects."
               if not wrong else "Outcomes marked in bold are wrong:\n\n" +
               "\n".join(f"- {line}" for line in wrong))
    if unknown:
        verdict += f"\n\nNot described in the fixtures README: {', '.join(unknown)}."
    columns = ["file", "what it is", "expected", "CLI (`segue generate`)", "CLI peak RSS",
               "app (import, then queue)", "message"]
    body = f"""
{header(command)}
Every file of `tests/fixtures/images` as the front image, with
`04-coffee-600x400.jpg` as the tail, through the CLI (`segue generate`, one
run per file) and the desktop app's path (`Desk::import_paths`, then
`check_requests` and `queue_requests` for the files the import accepts,
from `crates/desk/examples/bad_input.rs`). Clips are 1 s, 720p, 24 frames/s.
"Expected" shortens the fixtures README. A first frame "differs by" the mean
absolute difference per RGB channel (0 to 255) from the first frame made
from the photo the fixture was derived from.

{table(columns, rows)}

{verdict}
"""
    write_section("bad-input", body)
    print(body)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
