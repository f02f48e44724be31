//! The `segue` binary on real photos: the clips are probed and decoded with
//! ffmpeg and compared with the fitted input images.

mod support;

use std::path::Path;

use segue_render::{Aspect, Fit, OutputSettings, Resolution, TransitionKind};
use support::{decode_frame, fitted, fixture, probe, psnr, run, segue};

/// Checks one clip: container facts, first and last frame against the
/// fitted inputs, and a middle frame that is neither.
fn check_clip(clip: &Path, front: &Path, tail: &Path, settings: &OutputSettings) {
    let facts = probe(clip);
    let expected_frames = (settings.duration_s * f64::from(settings.fps)).round() as u32;
    assert_eq!(facts.codec, "h264", "{}", clip.display());
    assert_eq!(facts.pix_fmt, "yuv420p");
    assert_eq!(facts.color_space, "bt709");
    assert!((facts.fps - f64::from(settings.fps)).abs() < 1e-6, "fps {}", facts.fps);
    assert_eq!(facts.frames, expected_frames);
    let one_frame = 1.0 / f64::from(settings.fps);
    assert!(
        (facts.duration_s - settings.duration_s).abs() <= one_frame,
        "duration {} s, requested {} s",
        facts.duration_s,
        settings.duration_s
    );
    assert!(support::decodes_cleanly(clip), "ffmpeg reported decode errors for {}", clip.display());

    let front_fit = fitted(front, settings, front);
    let tail_fit = fitted(tail, settings, front);
    assert_eq!((facts.width, facts.height), front_fit.dimensions());
    let (w, h) = (facts.width, facts.height);
    let first = decode_frame(clip, 0, w, h);
    let last = decode_frame(clip, facts.frames - 1, w, h);
    let middle = decode_frame(clip, facts.frames / 2, w, h);
    let first_db = psnr(&first, &front_fit);
    let last_db = psnr(&last, &tail_fit);
    assert!(first_db >= 35.0, "first frame vs fitted front: {first_db:.1} dB");
    assert!(last_db >= 35.0, "last frame vs fitted tail: {last_db:.1} dB");
    let middle_front = psnr(&middle, &front_fit);
    let middle_tail = psnr(&middle, &tail_fit);
    assert!(middle_front < 30.0, "middle frame looks like the front ({middle_front:.1} dB)");
    assert!(middle_tail < 30.0, "middle frame looks like the tail ({middle_tail:.1} dB)");
}

#[test]
fn generate_landscape_to_portrait_1080p() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let front = fixture("01-dandelions-1920x1080.jpg");
    let tail = fixture("02-interior-portrait-1280x1920.jpg");
    let clip = out.path().join("clip.mp4");
    let output = run(segue(data.path())
        .args(["generate", "--type", "calm", "--duration", "2", "--out"])
        .arg(&clip)
        .arg(&front)
        .arg(&tail));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&*clip.to_string_lossy()), "stdout does not name the clip: {stdout}");
    let settings = OutputSettings { duration_s: 2.0, ..OutputSettings::default() };
    check_clip(&clip, &front, &tail, &settings);
    let facts = probe(&clip);
    assert_eq!((facts.width, facts.height), (1920, 1080));
}

#[test]
fn generate_odd_height_auto_aspect_letterbox() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let front = fixture("07-fig-odd-height-1920x1299.jpg");
    let tail = fixture("05-mountains-1600x1200.jpg");
    let output = run(segue(data.path())
        .args(["generate", "-t", "FADE_BLACK", "-d", "1.5", "--fps", "25", "-r", "720p"])
        .args(["--aspect", "auto", "--fit", "letterbox", "--out"])
        .arg(out.path())
        .arg(&front)
        .arg(&tail));
    assert!(output.status.success());
    let clips = support::files_in(out.path());
    assert_eq!(clips.len(), 1, "{clips:?}");
    let settings = OutputSettings {
        aspect: Aspect::Auto,
        resolution: Resolution::P720,
        fps: 25,
        fit: Fit::Letterbox,
        duration_s: 1.5,
    };
    check_clip(&clips[0], &front, &tail, &settings);
    let facts = probe(&clips[0]);
    assert_eq!(facts.height, 720);
    assert_eq!(facts.width % 2, 0, "width {} is odd", facts.width);
}

#[test]
fn every_type_makes_its_own_motion() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let manifest = out.path().join("all-types.json");
    let front = fixture("05-mountains-1600x1200.jpg");
    let tail = fixture("08-sunset-square-1440x1440.jpg");
    let rows: Vec<serde_json::Value> = TransitionKind::ALL
        .iter()
        .map(|kind| {
            serde_json::json!({
                "front": front, "tail": tail, "type": kind.to_string().to_lowercase(),
                "name": kind.to_string(), "duration": 2, "fps": 24, "resolution": "720p"
            })
        })
        .collect();
    std::fs::write(&manifest, serde_json::to_string(&rows).unwrap()).unwrap();
    let clips_dir = out.path().join("clips");
    let output = run(segue(data.path()).arg("batch").arg(&manifest).arg("--out").arg(&clips_dir));
    assert!(output.status.success());
    let settings = OutputSettings {
        resolution: Resolution::P720,
        fps: 24,
        duration_s: 2.0,
        ..Default::default()
    };
    let mut frames = Vec::new();
    for kind in TransitionKind::ALL {
        let clip = clips_dir.join(format!("{kind}.mp4"));
        check_clip(&clip, &front, &tail, &settings);
        let at = |fraction: f64| decode_frame(&clip, (47.0 * fraction).round() as u32, 1280, 720);
        frames.push((kind, [at(0.4), at(0.5), at(0.6)]));
    }
    for (i, (kind_a, a)) in frames.iter().enumerate() {
        for (kind_b, b) in &frames[i + 1..] {
            let closest = (0..3).map(|k| psnr(&a[k], &b[k])).fold(0.0, f64::max);
            assert!(closest < 30.0, "{kind_a} and {kind_b} look alike mid-clip ({closest:.1} dB)");
        }
    }
}

#[test]
fn batch_folder_chain_and_history() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let photos = work.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for (i, name) in
        ["03-astronaut-512x512.jpg", "04-coffee-600x400.jpg", "08-sunset-square-1440x1440.jpg"]
            .iter()
            .enumerate()
    {
        std::fs::copy(fixture(name), photos.join(format!("shot{}.jpg", [10, 2, 1][i]))).unwrap();
    }
    let out = work.path().join("out");
    let output = run(segue(data.path())
        .args(["batch", "-d", "1", "-r", "720p", "--fps", "24", "--out"])
        .arg(&out)
        .arg(&photos));
    assert!(output.status.success());
    let names: Vec<String> = support::files_in(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["shot1-to-shot2-calm.mp4", "shot2-to-shot10-calm.mp4"]);

    let history = run(segue(data.path()).args(["history", "--json"]));
    assert!(history.status.success());
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|job| job["state"] == "succeeded"));
    let id = jobs[0]["id"].as_str().unwrap();

    let table = run(segue(data.path()).args(["history", "--state", "succeeded", "--type", "calm"]));
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert_eq!(table.lines().count(), 3, "{table}");
    let none = run(segue(data.path()).args(["history", "--state", "failed"]));
    assert_eq!(String::from_utf8_lossy(&none.stdout).lines().count(), 0);

    let show = run(segue(data.path()).args(["show", &id[..8]]));
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(id), "{text}");
    assert!(text.contains("#1 succeeded"), "{text}");
    assert!(text.contains("sha256"), "{text}");
}

#[test]
fn csv_manifest_with_json_events() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("m.csv");
    std::fs::copy(fixture("04-coffee-600x400.jpg"), work.path().join("a b.jpg")).unwrap();
    std::fs::copy(fixture("03-astronaut-512x512.jpg"), work.path().join("c.jpg")).unwrap();
    std::fs::write(
        &manifest,
        "front,tail,type,duration,prompt\na b.jpg,c.jpg,whip,1,\"quick, bright\"\n",
    )
    .unwrap();
    let output = run(segue(data.path())
        .args(["--json", "batch", "-r", "720p", "--out"])
        .arg(work.path().join("out"))
        .arg(&manifest));
    assert!(output.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"queued"));
    assert!(kinds.contains(&"started"));
    assert!(kinds.contains(&"progress"));
    assert_eq!(kinds.last(), Some(&"succeeded"));
    let history = run(segue(data.path()).args(["history", "--json"]));
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(jobs[0]["spec"]["prompt"], "quick, bright");
    assert_eq!(jobs[0]["spec"]["kind"], "WHIP");
}

#[test]
fn usage_errors_exit_2_and_name_the_value() {
    let data = tempfile::tempdir().unwrap();
    let front = fixture("04-coffee-600x400.jpg");
    let cases: [(&[&str], &str); 5] = [
        (&["--type", "sparkle"], "sparkle"),
        (&["--duration", "11"], "11"),
        (&["--fps", "60"], "60"),
        (&["--resolution", "4k"], "4k"),
        (&["--fit", "stretch"], "stretch"),
    ];
    for (flags, named) in cases {
        let output = segue(data.path())
            .arg("generate")
            .args(flags)
            .arg(&front)
            .arg(&front)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{flags:?}: {stderr}");
    }
    let missing = segue(data.path()).args(["generate", "nope.jpg"]).arg(&front).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("nope.jpg"), "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
    let unknown = segue(data.path()).args(["show", "ffffffff"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn bad_image_fails_then_retry_succeeds() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken.jpg");
    std::fs::copy(fixture("truncated.jpg"), &broken).unwrap();
    let output = segue(data.path())
        .args(["generate", "-d", "1", "-r", "720p", "--out"])
        .arg(work.path().join("out"))
        .arg(&broken)
        .arg(fixture("04-coffee-600x400.jpg"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.jpg"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::copy(fixture("05-mountains-1600x1200.jpg"), &broken).unwrap();
    let history = run(segue(data.path()).args(["history", "--json", "--state", "failed"]));
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(jobs[0]["attempt"], 1, "a bad image was retried");
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let retried = run(segue(data.path()).args(["retry", &id]));
    assert!(retried.status.success());
    let show = run(segue(data.path()).args(["--json", "show", &id]));
    let record: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(record["job"]["state"], "succeeded");
    assert_eq!(record["attempts"].as_array().unwrap().len(), 2);
}

#[test]
fn types_lists_every_kind() {
    let data = tempfile::tempdir().unwrap();
    let output = run(segue(data.path()).arg("types"));
    let text = String::from_utf8_lossy(&output.stdout);
    for kind in TransitionKind::ALL {
        assert!(text.contains(&kind.to_string()), "{kind} missing from {text}");
    }
}

#[test]
fn retry_never_overwrites_another_clip() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let broken = work.path().join("front.jpg");
    std::fs::copy(fixture("empty.jpg"), &broken).unwrap();
    let tail = fixture("04-coffee-600x400.jpg");
    let args = ["generate", "-d", "1", "-r", "720p", "--name", "same", "--out"];
    let failed = segue(data.path()).args(args).arg(&out).arg(&broken).arg(&tail).output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let good = run(segue(data.path())
        .args(args)
        .arg(&out)
        .arg(fixture("03-astronaut-512x512.jpg"))
        .arg(&tail));
    assert!(good.status.success());
    let clip = out.join("same.mp4");
    let before = std::fs::read(&clip).unwrap();

    std::fs::copy(fixture("05-mountains-1600x1200.jpg"), &broken).unwrap();
    let history = run(segue(data.path()).args(["history", "--json", "--state", "failed"]));
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let failed_id = jobs[0]["id"].as_str().unwrap().to_string();
    assert!(
        run(segue(data.path()).args(["retry", &failed_id, "--hard-limit", "120"])).status.success()
    );
    assert_eq!(std::fs::read(&clip).unwrap(), before, "retry replaced another job's clip");
    let show = run(segue(data.path()).args(["--json", "show", &failed_id]));
    let record: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(record["job"]["state"], "succeeded");
    assert_eq!(record["job"]["output_path"], out.join("same-2.mp4").to_string_lossy().as_ref());
    assert_eq!(record["job"]["hard_limit_ms"], 120_000, "retry ignored --hard-limit");

    let succeeded =
        run(segue(data.path()).args(["history", "--json", "--state", "succeeded", "-n", "1"]));
    let jobs: serde_json::Value = serde_json::from_slice(&succeeded.stdout).unwrap();
    let again =
        segue(data.path()).args(["retry", jobs[0]["id"].as_str().unwrap()]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "a succeeded job was run again");
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let front = fixture("04-coffee-600x400.jpg");
    let made = run(segue(data.path())
        .args(["generate", "-d", "1", "-r", "720p", "--out"])
        .arg(out.path())
        .arg(&front)
        .arg(&front));
    assert!(made.status.success());
    for args in [&["history"][..], &["history", "--json"][..], &["types"][..]] {
        let mut child = segue(data.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn unwritable_output_fails_before_rendering() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let not_a_folder = work.path().join("afile");
    std::fs::write(&not_a_folder, b"x").unwrap();
    let front = fixture("04-coffee-600x400.jpg");
    let started = std::time::Instant::now();
    let output = segue(data.path())
        .args(["generate", "--out"])
        .arg(&not_a_folder)
        .arg(&front)
        .arg(&front)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("afile"), "{stderr}");
    assert!(stderr.contains("not a folder"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it rendered before failing");
    let history = run(segue(data.path()).args(["history", "--json"]));
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert!(jobs.as_array().unwrap().is_empty(), "a job was queued");
}

#[test]
fn error_chain_is_printed_once() {
    let data = tempfile::tempdir().unwrap();
    let front = fixture("04-coffee-600x400.jpg");
    let output = segue(data.path()).args(["generate", "nope.jpg"]).arg(&front).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("nope.jpg").count(), 1, "{stderr}");
}

#[test]
fn name_template_flag_names_clips() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let front = fixture("04-coffee-600x400.jpg");
    let tail = fixture("03-astronaut-512x512.jpg");
    let generated = run(segue(data.path())
        .args(["generate", "-d", "1", "-r", "720p", "-t", "whip"])
        .args(["--name-template", "{type}/{front}-{duration}", "--out"])
        .arg(&out)
        .arg(&front)
        .arg(&tail));
    assert!(generated.status.success());

    let photos = work.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for (i, name) in
        ["03-astronaut-512x512.jpg", "04-coffee-600x400.jpg", "05-mountains-1600x1200.jpg"]
            .iter()
            .enumerate()
    {
        std::fs::copy(fixture(name), photos.join(format!("shot{}.jpg", i + 1))).unwrap();
    }
    let batch = run(segue(data.path())
        .args(["batch", "-d", "1", "-r", "720p", "--name-template", "{n}_{tail}", "--out"])
        .arg(&out)
        .arg(&photos));
    assert!(batch.status.success());
    let names: Vec<String> = support::files_in(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["1_shot2.mp4", "2_shot3.mp4", "WHIP_04-coffee-600x400-1s.mp4"]);

    let bad = segue(data.path())
        .args(["generate", "--name-template", "{name}-{nope}", "--out"])
        .arg(&out)
        .arg(&front)
        .arg(&tail)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--name-template"), "{stderr}");
    assert!(stderr.contains("{nope}"), "{stderr}");
    assert!(stderr.contains("{front}"), "the valid placeholders are not listed: {stderr}");
    let history = run(segue(data.path()).args(["history", "--json"]));
    let jobs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 3, "a job with a bad template was queued");
}
