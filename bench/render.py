#!/usr/bin/env python3
"""Times Segue's local renderer against ffmpeg's xfade filter with libx264,
compares the first and last frames of both with the fitted photos, and times
the encoders alone on the same raw frames.

Three measurements, each on 5 s clips at 30 frames/s:

1. Whole clips. `segue generate` (CALM) against ffmpeg's xfade with libx264
   at the ultrafast and veryfast presets, for two photo pairs from samples/
   at 1080p and 720p. ffmpeg gets the photos already fitted to the frame by
   Segue, as PNG files.
2. Quality. PSNR and SSIM (ffmpeg's psnr and ssim filters, on RGB) of the
   first and last frame of each clip against those fitted photos.
3. Encoders alone. The frames of one Segue clip are written once to a raw
   YUV 4:2:0 file; Segue's encoder and muxer (the encode_only example) and
   ffmpeg's libx264 then encode that file. Segue's whole-clip time minus its
   encoder time is what drawing, colour conversion, image decoding and
   process start add.

Runs are interleaved (every tool once, then again) so that load from other
work on a shared machine hits every tool alike. The report gives medians
and ratios. Results go to the render-bench section of docs/benchmarks.md.

    python3 bench/render.py [--runs 5] [--quick] [--baseline DIR]

`--quick` does one run at 720p only, to check that the script works.
`--baseline DIR` adds a second Segue build, DIR/segue and DIR/encode_only,
to every interleaved run, for before/after comparisons.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, header, median, table, tool_version, write_section  # noqa: E402

SAMPLES = ROOT / "samples"
PAIRS = [
    ("01-dandelions-1920x1080.jpg", "05-mountains-1600x1200.jpg"),
    ("07-fig-odd-height-1920x1299.jpg", "08-sunset-square-1440x1440.jpg"),
]
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}
FPS = 30
FRAMES = 150
PRESETS = ("ultrafast", "veryfast")
SECTION = "render-bench"
# Colour tags that match what Segue writes, so that every clip decodes with
# the same BT.709 limited-range matrix.
BT709_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
              "-color_range", "tv"]
DECODE_RGB = ("scale=in_color_matrix=bt709:in_range=tv:out_range=pc:"
              "flags=bicubic+accurate_rnd+full_chroma_int,format=gbrp")


def pair_name(pair):
    return f"{pair[0][:2]}→{pair[1][:2]}"


def run_timed(command):
    """Runs `command` and returns its wall time in seconds and its stdout."""
    start = time.perf_counter()
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return time.perf_counter() - start, result.stdout


def segue_command(binary, pair, resolution, out, data_dir):
    return [str(binary), "--data-dir", str(data_dir), "generate", str(SAMPLES / pair[0]),
            str(SAMPLES / pair[1]), "--type", "calm", "--duration", "5", "--fps", str(FPS),
            "--resolution", resolution, "--out", str(out)]


def xfade_command(front_png, tail_png, preset, out):
    # Each PNG is converted to BT.709 YUV 4:2:0 once and looped. xfade holds
    # the front for 1 s, crossfades for 3 s and holds the tail for the last
    # 1 s, so the first and last frames are the stills.
    still = (f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
             f"loop=loop={FRAMES - 1}:size=1:start=0,setpts=N/{FPS}/TB")
    graph = (f"[0:v]{still}[a];[1:v]{still}[b];"
             "[a][b]xfade=transition=fade:duration=3:offset=1,format=yuv420p")
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(front_png), "-i", str(tail_png),
            "-filter_complex", graph, "-frames:v", str(FRAMES), "-c:v", "libx264",
            "-preset", preset, "-crf", "20", *BT709_TAGS, "-movflags", "+faststart", str(out)]


def raw_x264_command(frames_yuv, size, preset, out):
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
            "-s", f"{size[0]}x{size[1]}", "-r", str(FPS), "-i", str(frames_yuv),
            "-c:v", "libx264", "-preset", preset, "-crf", "20", *BT709_TAGS,
            "-movflags", "+faststart", str(out)]


def encode_only_render(example, pair, resolution, out_dir, frames_yuv=None):
    """Writes the fitted photos (and the raw frames when asked) with the
    encode_only example."""
    command = [str(example), "render", str(SAMPLES / pair[0]), str(SAMPLES / pair[1]),
               "--resolution", resolution, "--out-dir", str(out_dir)]
    if frames_yuv is not None:
        command += ["--yuv", str(frames_yuv)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def frame_quality(clip, index, reference):
    """Returns (PSNR in dB, SSIM) of frame `index` of `clip` against the
    image file `reference`, both compared as 8-bit RGB."""
    graph = (f"[0:v]select=eq(n\\,{index}),setpts=PTS-STARTPTS,{DECODE_RGB}[main];"
             "[1:v]format=gbrp,split[ref1][ref2];"
             "[main][ref1]psnr[checked];[checked][ref2]ssim")
    result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(clip),
                             "-i", str(reference), "-lavfi", graph, "-f", "null", "-"],
                            check=True, capture_output=True, text=True)
    psnr = re.search(r"PSNR .*average:(\S+)", result.stderr)
    ssim = re.search(r"SSIM .*All:(\S+)", result.stderr)
    if psnr is None or ssim is None:
        raise RuntimeError(f"no PSNR or SSIM in ffmpeg's output for {clip}:\n{result.stderr}")
    return float(psnr.group(1)), float(ssim.group(1))


def stream_quality(clip, frames_yuv, size):
    """Returns (mean PSNR in dB over Y'CbCr, mean SSIM) of every frame of
    `clip` against the raw I420 frames it was encoded from."""
    graph = "[0:v]split[main1][main2];[1:v]split[ref1][ref2];[main1][ref1]psnr;[main2][ref2]ssim"
    result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(clip),
                             "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{size[0]}x{size[1]}",
                             "-r", str(FPS), "-i", str(frames_yuv), "-lavfi", graph,
                             "-f", "null", "-"], check=True, capture_output=True, text=True)
    psnr = re.search(r"PSNR .*average:(\S+)", result.stderr)
    ssim = re.search(r"SSIM .*All:(\S+)", result.stderr)
    if psnr is None or ssim is None:
        raise RuntimeError(f"no PSNR or SSIM in ffmpeg's output for {clip}:\n{result.stderr}")
    return float(psnr.group(1)), float(ssim.group(1))


def tools_for(args):
    """Returns the clip-making tools in run order, as (name, kind, binary)."""
    tools = [("segue", "segue", args.segue)]
    if args.baseline:
        tools.append(("segue baseline", "segue", args.baseline / "segue"))
    tools += [(f"ffmpeg {preset}", preset, None) for preset in PRESETS]
    return tools


def encoders_for(args):
    """Returns the encoders-alone tools in run order, as (name, kind, binary)."""
    encoders = [("segue encoder", "segue", args.encode_only)]
    if args.baseline:
        encoders.append(("segue baseline encoder", "segue", args.baseline / "encode_only"))
    encoders += [(f"x264 {preset}", preset, None) for preset in PRESETS]
    return encoders


def measure_clips(args, tmp, resolution, fitted):
    """Times every tool on every pair in interleaved runs. Returns
    {(pair, tool): {"times": [...], "clip": path}}."""
    results = {}
    for run in range(args.runs):
        for pair in PAIRS:
            front_png, tail_png = fitted[pair]
            for name, kind, binary in tools_for(args):
                out = tmp / f"{name.replace(' ', '-')}-{resolution}-{pair_name(pair)}-{run}.mp4"
                if kind == "segue":
                    command = segue_command(binary, pair, resolution, out, tmp / f"data-{name}")
                else:
                    command = xfade_command(front_png, tail_png, kind, out)
                seconds, _ = run_timed(command)
                entry = results.setdefault((pair, name), {"times": []})
                entry["times"].append(seconds)
                entry["clip"] = out
            print(f"{resolution} {pair_name(pair)} run {run + 1}/{args.runs} done", file=sys.stderr)
    return results


def measure_encoders(args, tmp, resolution, frames_yuv):
    """Times the encoders alone on the raw frames in interleaved runs.
    Returns {tool: {"wall": [...], "encode": [...], "bytes": n, "clip": path}}."""
    size = SIZES[resolution]
    results = {}
    for run in range(args.runs):
        for name, kind, binary in encoders_for(args):
            out = tmp / f"{name.replace(' ', '-')}-{resolution}-raw-{run}.mp4"
            if kind == "segue":
                command = [str(binary), "encode", str(frames_yuv), "--size",
                           f"{size[0]}x{size[1]}", "--fps", str(FPS), "--out", str(out)]
            else:
                command = raw_x264_command(frames_yuv, size, kind, out)
            seconds, stdout = run_timed(command)
            entry = results.setdefault(name, {"wall": [], "encode": []})
            entry["wall"].append(seconds)
            # Segue's example reports its own encoder time; ffmpeg's process
            # time is all there is for x264.
            entry["encode"].append(json.loads(stdout)["encode_s"] if kind == "segue" else seconds)
            entry["bytes"] = out.stat().st_size
            entry["clip"] = out
        print(f"{resolution} encoders run {run + 1}/{args.runs} done", file=sys.stderr)
    return results


def build(args):
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "segue"], cwd=ROOT,
                   check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "segue-render",
                    "--example", "encode_only"], cwd=ROOT, check=True)
    args.segue = ROOT / "target" / "release" / "segue"
    args.encode_only = ROOT / "target" / "release" / "examples" / "encode_only"


def speed_rows(resolution, clips):
    rows = []
    for pair in PAIRS:
        base = median(clips[(pair, "segue")]["times"])
        for (row_pair, name), entry in clips.items():
            if row_pair != pair:
                continue
            seconds = median(entry["times"])
            size = entry["clip"].stat().st_size
            rows.append([resolution, pair_name(pair), name, f"{seconds:.2f} s",
                         f"{seconds / base:.2f}x", f"{FRAMES / seconds:.0f}",
                         f"{size / 1e6:.1f} MB"])
    return rows


def quality_rows(resolution, clips, fitted):
    rows, records = [], []
    for (pair, name), entry in clips.items():
        front_png, tail_png = fitted[pair]
        first = frame_quality(entry["clip"], 0, front_png)
        last = frame_quality(entry["clip"], FRAMES - 1, tail_png)
        rows.append([resolution, pair_name(pair), name, f"{first[0]:.1f} dB", f"{last[0]:.1f} dB",
                     f"{first[1]:.4f}", f"{last[1]:.4f}"])
        records.append({"frame": resolution, "pair": pair_name(pair), "tool": name,
                        "first_psnr_db": first[0], "last_psnr_db": last[0],
                        "first_ssim": first[1], "last_ssim": last[1]})
    return rows, records


def encoder_rows(resolution, clips, encoders, frames_yuv):
    """Rows of the encoders-alone table. Segue's rows add its whole-clip time
    on the same pair and what drawing, conversion, decoding and process start
    add to the encoder. x264 rows leave those out, because ffmpeg's whole
    clip encodes other frames (a crossfade of stills, with no camera move)."""
    pair = PAIRS[0]
    whole_clip = {"segue encoder": "segue", "segue baseline encoder": "segue baseline"}
    rows, records = [], []
    for name, entry in encoders.items():
        wall, encode = median(entry["wall"]), median(entry["encode"])
        psnr, ssim = stream_quality(entry["clip"], frames_yuv, SIZES[resolution])
        if name in whole_clip:
            total = median(clips[(pair, whole_clip[name])]["times"])
            whole, rest = f"{total:.2f} s", f"{total - encode:.2f} s"
        else:
            whole, rest = "", ""
        rows.append([resolution, name, f"{encode:.2f} s", f"{wall:.2f} s",
                     f"{FRAMES / encode:.0f}", f"{entry['bytes'] / 1e6:.1f} MB",
                     f"{psnr:.2f} dB", f"{ssim:.4f}", whole, rest])
        records.append({"frame": resolution, "encoder": name, "median_encode_s": encode,
                        "median_wall_s": wall, "bytes": entry["bytes"],
                        "mean_psnr_db": psnr, "mean_ssim": ssim})
    return rows, records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per tool (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one run at 720p only, to check the script; not for the record")
    parser.add_argument("--baseline", type=Path,
                        help="folder with a second build's segue and encode_only binaries")
    args = parser.parse_args()
    sizes = {"720p": SIZES["720p"]} if args.quick else SIZES
    if args.quick:
        args.runs = 1
    build(args)

    speed, quality, encoder, records = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for resolution in sizes:
            fitted = {}
            for pair in PAIRS:
                folder = tmp / f"fitted-{resolution}-{pair_name(pair)}"
                frames_yuv = tmp / f"frames-{resolution}.yuv" if pair == PAIRS[0] else None
                encode_only_render(args.encode_only, pair, resolution, folder, frames_yuv)
                fitted[pair] = (folder / "front.png", folder / "tail.png")
            clips = measure_clips(args, tmp, resolution, fitted)
            frames_yuv = tmp / f"frames-{resolution}.yuv"
            encoders = measure_encoders(args, tmp, resolution, frames_yuv)
            speed += speed_rows(resolution, clips)
            rows, quality_records = quality_rows(resolution, clips, fitted)
            quality += rows
            rows, encoder_records = encoder_rows(resolution, clips, encoders, frames_yuv)
            encoder += rows
            records += quality_records + encoder_records
            for (pair, name), entry in clips.items():
                records.append({"frame": resolution, "pair": pair_name(pair), "tool": name,
                                "median_s": median(entry["times"]), "runs": entry["times"],
                                "bytes": entry["clip"].stat().st_size})
            frames_yuv.unlink()

    command = "python3 bench/render.py" + (" --quick" if args.quick else f" --runs {args.runs}")
    if args.baseline:
        command += " --baseline DIR"
    body = "\n".join([
        header(command),
        f"ffmpeg: {tool_version(['ffmpeg', '-version'])}.",
        "",
        "Whole clips, 5 s CALM at 30 frames/s (the ffmpeg peer crossfades stills):",
        "",
        table(["frame", "pair", "tool", "median wall time", "vs segue", "frames/s", "file size"],
              speed),
        "",
        "First and last frames against the fitted photos (RGB; PSNR over all channels, "
        "SSIM from ffmpeg's ssim filter):",
        "",
        table(["frame", "pair", "tool", "first PSNR", "last PSNR", "first SSIM", "last SSIM"],
              quality),
        "",
        f"Encoders alone on the raw frames of Segue's {pair_name(PAIRS[0])} clip. Encode time is "
        "Segue's encoder and muxer timed inside the encode_only example, and ffmpeg's process "
        "time for x264. Quality is the mean over all frames against the raw frames (PSNR over "
        "Y'CbCr). \"The rest\" is Segue's whole-clip time minus its encode time:",
        "",
        table(["frame", "encoder", "encode time", "process wall time", "frames/s", "file size",
               "mean PSNR", "mean SSIM", "whole clip", "the rest"], encoder),
    ])
    write_section(SECTION, body)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
