#!/usr/bin/env python3
"""Times Segue's local renderer against ffmpeg's xfade filter with libx264.

Both make a 5 s transition between the same two photos at 1080p30 and
720p30. Runs are interleaved (segue, ffmpeg ultrafast, ffmpeg veryfast, then
again) so that load from other work on a shared machine hits every tool
alike; the report gives medians and ratios. Results are written to
docs/benchmarks.md between the render markers.

    python3 bench/render.py [--runs 5]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONT = ROOT / "samples" / "01-dandelions-1920x1080.jpg"
TAIL = ROOT / "samples" / "05-mountains-1600x1200.jpg"
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}
BEGIN = "<!-- render-bench:begin -->"
END = "<!-- render-bench:end -->"


def run_timed(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def segue_command(binary, resolution, out, data_dir):
    return [str(binary), "--data-dir", str(data_dir), "generate", str(FRONT), str(TAIL),
            "--type", "calm", "--duration", "5", "--fps", "30", "--resolution", resolution,
            "--out", str(out)]


def fitted_png(source, size, out):
    """Crops and scales to the frame the same way (cover), decoded once."""
    w, h = size
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf",
                    f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}",
                    str(out)], check=True)


def ffmpeg_command(front_png, tail_png, preset, out):
    # Each PNG is decoded once and looped, and format=yuv420p follows xfade
    # so that x264 writes 4:2:0 that browsers play.
    graph = ("[0:v]format=yuv420p,loop=loop=149:size=1:start=0,setpts=N/30/TB[a];"
             "[1:v]format=yuv420p,loop=loop=149:size=1:start=0,setpts=N/30/TB[b];"
             "[a][b]xfade=transition=fade:duration=3:offset=1,format=yuv420p")
    return ["ffmpeg", "-v", "error", "-y", "-i", str(front_png), "-i", str(tail_png),
            "-filter_complex", graph, "-frames:v", "150", "-c:v", "libx264", "-preset", preset,
            "-crf", "20", "-movflags", "+faststart", str(out)]


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores; {ffmpeg}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per tool (default 5)")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "segue"], cwd=ROOT, check=True)
    binary = ROOT / "target" / "release" / "segue"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for resolution, size in SIZES.items():
            front_png, tail_png = tmp / f"front-{resolution}.png", tmp / f"tail-{resolution}.png"
            fitted_png(FRONT, size, front_png)
            fitted_png(TAIL, size, tail_png)
            times = {"segue": [], "ffmpeg ultrafast": [], "ffmpeg veryfast": []}
            sizes = {}
            for run in range(args.runs):
                out = tmp / f"segue-{resolution}-{run}.mp4"
                times["segue"].append(run_timed(segue_command(binary, resolution, out, tmp / f"data-{run}")))
                sizes["segue"] = out.stat().st_size
                for preset in ("ultrafast", "veryfast"):
                    out = tmp / f"ffmpeg-{preset}-{resolution}-{run}.mp4"
                    times[f"ffmpeg {preset}"].append(run_timed(ffmpeg_command(front_png, tail_png, preset, out)))
                    sizes[f"ffmpeg {preset}"] = out.stat().st_size
            base = statistics.median(times["segue"])
            for tool, samples in times.items():
                median = statistics.median(samples)
                rows.append((resolution, tool, median, median / base, 150 / median, sizes[tool]))
                print(f"{resolution} {tool}: median {median:.2f} s over {len(samples)} runs", file=sys.stderr)
    table = ["| frame | tool | median wall time | vs segue | frames/s | file size |",
             "| --- | --- | --- | --- | --- | --- |"]
    for resolution, tool, median, ratio, fps, size in rows:
        table.append(f"| {resolution} | {tool} | {median:.2f} s | {ratio:.2f}x | {fps:.0f} | {size / 1e6:.1f} MB |")
    section = "\n".join([
        BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} with `python3 bench/render.py --runs {args.runs}`.",
        f"Machine: {machine()}.",
        "",
        *table,
        END,
    ])
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text + "\n" + section + "\n"
    doc.write_text(text)
    print(json.dumps([dict(zip(("frame", "tool", "median_s", "ratio", "fps", "bytes"), r)) for r in rows]))


if __name__ == "__main__":
    main()
