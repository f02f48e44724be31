//! Every image fixture through one batch: each gives a correct clip or a
//! clear error naming the file, never a panic, and the other jobs finish.

mod support;

use support::{all_fixture_images, decode_frame, fitted, fixture, psnr, segue};

/// Fixtures that must be rejected, with words the error must contain.
const REJECTED: [(&str, &[&str]); 5] = [
    ("empty.jpg", &["empty"]),
    ("fig.heic", &["HEIC", "JPEG or PNG"]),
    ("not-an-image.jpg", &["not an image"]),
    ("tiny-8x8.png", &["8x8"]),
    ("truncated.jpg", &["truncated"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_handled() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tail = fixture("04-coffee-600x400.jpg");
    let images = all_fixture_images();
    assert!(images.len() >= 21, "fixtures missing: {images:?}");
    let rows: Vec<serde_json::Value> = images
        .iter()
        .map(|front| {
            let name = front.file_stem().unwrap().to_string_lossy().into_owned();
            serde_json::json!({ "front": front, "tail": tail, "name": name, "duration": 1, "fps": 24, "resolution": "720p" })
        })
        .collect();
    let manifest = work.path().join("all.json");
    std::fs::write(&manifest, serde_json::to_string(&rows).unwrap()).unwrap();
    let out = work.path().join("out");
    let output =
        segue(data.path()).arg("batch").arg(&manifest).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let store = support::store(data.path()).await;
    let jobs = store.list_jobs(&Default::default()).await.unwrap();
    assert_eq!(jobs.len(), images.len());
    let settings = segue_render::OutputSettings {
        resolution: segue_render::Resolution::P720,
        fps: 24,
        duration_s: 1.0,
        ..Default::default()
    };
    for job in &jobs {
        let file_name = job.spec.front.file_name().unwrap().to_string_lossy().into_owned();
        match REJECTED.iter().find(|(name, _)| *name == file_name) {
            Some((_, words)) => {
                assert_eq!(job.state, segue_engine::JobState::Failed, "{file_name} was accepted");
                assert_eq!(job.attempt, 1, "{file_name} was retried");
                let message = job.error_message.clone().unwrap_or_default();
                assert!(
                    message.contains(&file_name),
                    "{file_name}: error does not name the file: {message}"
                );
                for word in *words {
                    assert!(message.contains(word), "{file_name}: error lacks {word:?}: {message}");
                }
                assert!(stderr.contains(&file_name), "stderr does not name {file_name}");
            }
            None => {
                assert_eq!(
                    job.state,
                    segue_engine::JobState::Succeeded,
                    "{file_name}: {:?}",
                    job.error_message
                );
                let clip = &job.output.as_ref().unwrap().path;
                let expected = fitted(&job.spec.front, &settings, &job.spec.front);
                let first = decode_frame(clip, 0, 1280, 720);
                let db = psnr(&first, &expected);
                assert!(db >= 35.0, "{file_name}: first frame {db:.1} dB from the fitted image");
                assert!(clip.file_name().unwrap().to_string_lossy().contains(&*job.spec.name));
            }
        }
    }
    let cafe =
        jobs.iter().find(|j| j.spec.name.starts_with("café")).expect("non-ASCII job is in history");
    assert_eq!(cafe.spec.name, "café crème d'été 写真");
    assert!(cafe.output_path.to_string_lossy().contains("café crème d'été 写真"));
}
