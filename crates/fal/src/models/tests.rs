use super::*;
use segue_render::{OutputSettings, Resolution};

fn spec(model: &str, duration_s: f64) -> JobSpec {
    JobSpec {
        name: "t".into(),
        front: "/f.jpg".into(),
        tail: "/t.jpg".into(),
        kind: TransitionKind::Calm,
        prompt: "a beach at dusk".into(),
        negative_prompt: String::new(),
        seed: None,
        provider: "fal".into(),
        model: model.into(),
        output: OutputSettings { duration_s, ..OutputSettings::default() },
    }
}

fn input_of(spec: &JobSpec) -> Value {
    plan(spec).unwrap().input("https://cdn/front.jpg", "https://cdn/tail.jpg", Some("16:9"))
}

fn keys(input: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = input.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    keys
}

#[test]
fn every_model_has_unique_id_and_alias() {
    for (i, a) in models().iter().enumerate() {
        for b in &models()[i + 1..] {
            assert_ne!(a.id, b.id);
            assert_ne!(a.alias, b.alias);
        }
        assert_eq!(find_model(a.id), Some(a));
        assert_eq!(find_model(&a.alias.to_uppercase()), Some(a));
    }
    assert!(find_model(DEFAULT_MODEL).is_some());
}

#[test]
fn kling_v16_input() {
    let input = input_of(&spec("fal-ai/kling-video/v1.6/pro/image-to-video", 10.0));
    assert_eq!(
        keys(&input),
        ["aspect_ratio", "cfg_scale", "duration", "image_url", "prompt", "tail_image_url"]
    );
    assert_eq!(input["duration"], "10");
    assert_eq!(input["image_url"], "https://cdn/front.jpg");
    assert_eq!(input["tail_image_url"], "https://cdn/tail.jpg");
    assert_eq!(input["cfg_scale"], 0.5);
    assert_eq!(input["aspect_ratio"], "16:9");
}

#[test]
fn kling_v21_and_v25_have_no_aspect_field() {
    for id in [
        "fal-ai/kling-video/v2.1/pro/image-to-video",
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
    ] {
        let input = input_of(&spec(id, 5.0));
        assert_eq!(
            keys(&input),
            ["cfg_scale", "duration", "image_url", "prompt", "tail_image_url"]
        );
        assert_eq!(input["duration"], "5");
    }
}

#[test]
fn kling_v26_uses_start_end_and_no_audio() {
    let input = input_of(&spec("fal-ai/kling-video/v2.6/pro/image-to-video", 5.0));
    assert_eq!(
        keys(&input),
        ["duration", "end_image_url", "generate_audio", "prompt", "start_image_url"]
    );
    assert_eq!(input["generate_audio"], false);
}

#[test]
fn pixverse_input() {
    let mut job = spec("fal-ai/pixverse/v5/transition", 8.0);
    job.seed = Some(7);
    job.output.resolution = Resolution::P720;
    let input = input_of(&job);
    assert_eq!(
        keys(&input),
        [
            "aspect_ratio",
            "duration",
            "end_image_url",
            "first_image_url",
            "prompt",
            "resolution",
            "seed"
        ]
    );
    assert_eq!(input["duration"], "8");
    assert_eq!(input["resolution"], "720p");
    assert_eq!(input["seed"], 7);
}

#[test]
fn vidu_input_sets_movement() {
    let mut job = spec("fal-ai/vidu/start-end-to-video", 4.0);
    job.kind = TransitionKind::Whip;
    let input = input_of(&job);
    assert_eq!(keys(&input), ["end_image_url", "movement_amplitude", "prompt", "start_image_url"]);
    assert_eq!(input["movement_amplitude"], "large");
    job.kind = TransitionKind::Calm;
    assert_eq!(input_of(&job)["movement_amplitude"], "small");
}

#[test]
fn luma_input() {
    let input = input_of(&spec("fal-ai/luma-dream-machine/ray-2/image-to-video", 9.0));
    assert_eq!(
        keys(&input),
        ["aspect_ratio", "duration", "end_image_url", "image_url", "prompt", "resolution"]
    );
    assert_eq!(input["duration"], "9s");
    assert_eq!(input["resolution"], "1080p");
}

#[test]
fn wan_input_uses_frames() {
    let mut job = spec("fal-ai/wan-flf2v", 5.0);
    job.output.resolution = Resolution::P720;
    let input = input_of(&job);
    assert_eq!(
        keys(&input),
        [
            "aspect_ratio",
            "end_image_url",
            "frames_per_second",
            "num_frames",
            "prompt",
            "resolution",
            "start_image_url"
        ]
    );
    assert_eq!(input["num_frames"], 81);
    assert_eq!(input["frames_per_second"], 16);
    assert_eq!(input["resolution"], "720p");
}

#[test]
fn veo_input_has_no_audio() {
    let input = input_of(&spec("fal-ai/veo3.1/first-last-frame-to-video", 6.0));
    assert_eq!(
        keys(&input),
        [
            "aspect_ratio",
            "duration",
            "first_frame_url",
            "generate_audio",
            "last_frame_url",
            "prompt",
            "resolution"
        ]
    );
    assert_eq!(input["duration"], "6s");
    assert_eq!(input["generate_audio"], false);
}

#[test]
fn unsupported_durations_name_allowed_values() {
    let cases = [
        ("kling-2.1-pro", 7.0, "5 or 10"),
        ("veo-3.1", 10.0, "4, 6 or 8"),
        ("luma-ray-2", 10.0, "5 or 9"),
        ("pixverse-5-transition", 10.0, "5 or 8"),
        ("vidu-start-end", 5.0, "4 seconds"),
        ("kling-2.1-pro", 5.5, "5 or 10"),
    ];
    for (model, duration, allowed) in cases {
        let err = plan(&spec(model, duration)).unwrap_err().0;
        assert!(err.contains(allowed), "{model} {duration}: {err}");
    }
}

#[test]
fn unsupported_aspect_and_resolution_are_rejected() {
    let mut job = spec("veo-3.1", 8.0);
    job.output.aspect = Aspect::Square1x1;
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("1:1"), "{err}");
    assert!(err.contains("16:9, 9:16 or auto"), "{err}");

    let job = spec("wan-flf2v", 5.0);
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("1080p"), "{err}");
    assert!(err.contains("720p"), "{err}");
}

#[test]
fn unknown_model_lists_choices() {
    let err = plan(&spec("fal-ai/nope", 5.0)).unwrap_err().0;
    assert!(err.contains("fal-ai/nope"), "{err}");
    assert!(err.contains("kling-2.1-pro"), "{err}");
}

#[test]
fn seed_and_negative_prompt_need_model_support() {
    let mut job = spec("kling-2.1-pro", 5.0);
    job.seed = Some(1);
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("takes no seed"), "{err}");

    let mut job = spec("luma-ray-2", 5.0);
    job.negative_prompt = "people".into();
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("no negative prompt"), "{err}");
}

#[test]
fn prompt_limits_count_the_full_prompt() {
    let mut job = spec("vidu-start-end", 4.0);
    job.prompt = "x".repeat(1500);
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("1500 characters"), "{err}");

    let mut job = spec("pixverse-5-transition", 5.0);
    job.prompt = "é".repeat(1000);
    let err = plan(&job).unwrap_err().0;
    assert!(err.contains("2048 bytes"), "{err}");
}

#[test]
fn motion_blur_types_override_kling_negative_default() {
    let mut job = spec("kling-2.1-pro", 5.0);
    job.kind = TransitionKind::Whip;
    let input = input_of(&job);
    assert_eq!(input["negative_prompt"], "distortion, low quality");
    assert_eq!(input["cfg_scale"], 0.7);
    assert!(input["prompt"].as_str().unwrap().contains("whip pan"));
}

#[test]
fn prompt_joins_user_text_and_motion() {
    let prompt = transition_prompt(TransitionKind::FadeBlack, "  a quiet harbour. ");
    assert!(
        prompt.starts_with("a quiet harbour. Transition: the first image fades to black"),
        "{prompt}"
    );
    let bare = transition_prompt(TransitionKind::Slide, "");
    assert!(bare.starts_with("Video transition: the last image slides in"), "{bare}");
}

#[test]
fn prices_follow_published_rates() {
    let price = |model: &str, duration: f64, resolution: Resolution| {
        let mut job = spec(model, duration);
        job.output.resolution = resolution;
        plan(&job).unwrap().price()
    };
    assert_eq!(price("kling-2.1-pro", 5.0, Resolution::P1080), Some(0.49));
    assert_eq!(price("kling-2.1-pro", 10.0, Resolution::P1080), Some(0.98));
    assert_eq!(price("kling-2.5-turbo-pro", 10.0, Resolution::P1080), Some(0.70));
    assert_eq!(price("kling-2.6-pro", 5.0, Resolution::P1080), Some(0.35));
    assert_eq!(price("vidu-start-end", 4.0, Resolution::P720), Some(0.20));
    assert_eq!(price("luma-ray-2", 9.0, Resolution::P720), Some(2.0));
    assert_eq!(price("wan-flf2v", 5.0, Resolution::P720), Some(0.40));
    assert_eq!(price("wan-flf2v", 10.0, Resolution::P720), Some(0.50));
    assert_eq!(price("veo-3.1-fast", 8.0, Resolution::P1080), Some(0.80));
    assert_eq!(price("kling-1.6-pro", 5.0, Resolution::P1080), None);
    assert_eq!(price("pixverse-5-transition", 5.0, Resolution::P720), None);
}

#[test]
fn wan_frames_fit_duration() {
    let frames = |d: f64| match plan_length(find_model("wan-flf2v").unwrap(), d) {
        Ok(LengthPlan::Frames { num_frames, fps }) => Some((num_frames, fps)),
        _ => None,
    };
    assert_eq!(frames(5.0), Some((81, 16)));
    assert_eq!(frames(6.0), Some((96, 16)));
    assert_eq!(frames(4.0), Some((96, 24)));
    assert_eq!(frames(10.0), Some((100, 10)));
    assert_eq!(frames(3.0), None);
}

#[test]
fn auto_aspect_without_model_auto_is_nearest() {
    let mut job = spec("kling-1.6-pro", 5.0);
    job.output.aspect = Aspect::Auto;
    let plan = plan(&job).unwrap();
    assert_eq!(plan.aspect, AspectPlan::Nearest(&["16:9", "9:16", "1:1"]));
    assert_eq!(nearest_aspect(&["16:9", "9:16", "1:1"], 0.7), Some("9:16"));
    assert_eq!(nearest_aspect(&["16:9", "9:16", "1:1"], 1.2), Some("1:1"));
    assert_eq!(nearest_aspect(&["16:9", "4:3", "1:1"], 1.4), Some("4:3"));
}
