//! The first/last-frame video models Segue can use on fal, what each one
//! accepts, and the translation of a job's settings into a model's input.
//!
//! Field names, enum values and prices are fal's as of August 2026, and fal
//! changes models and prices often. A setting a model cannot honour is
//! rejected by [`plan`] with the allowed values named, before anything is
//! uploaded. No duration or aspect is mapped to a different one, except that
//! `auto` becomes the model's ratio nearest to the front image when the
//! model has no `auto` of its own.

use segue_engine::job::JobSpec;
use segue_render::{Aspect, TransitionKind};
use serde_json::{Map, Value, json};

/// Model used when a fal job names none.
pub const DEFAULT_MODEL: &str = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video";

/// One model endpoint.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// Full fal endpoint id, as submitted.
    pub id: &'static str,
    /// Short name accepted in place of the id.
    pub alias: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Input field of the front (first) frame.
    pub first_frame_field: &'static str,
    /// Input field of the tail (last) frame.
    pub last_frame_field: &'static str,
    /// Clip lengths the model makes.
    pub durations: Durations,
    /// Values of the model's `aspect_ratio` field, or `None` when it has
    /// none and the clip takes the shape of the frames.
    pub aspect_ratios: Option<&'static [&'static str]>,
    /// Values of the model's `resolution` field. Empty when the model has
    /// none and picks its own output size. Any Segue resolution is accepted
    /// then, and it only sets the size of the uploaded frames.
    pub resolutions: &'static [&'static str],
    /// Maximum prompt length, when the model documents one.
    pub prompt_limit: Option<PromptLimit>,
    /// Whether the model takes `negative_prompt`.
    pub negative_prompt: bool,
    /// Whether the model takes `seed`.
    pub seed: bool,
    /// Boolean field that switches generated audio, sent as `false`.
    pub audio_field: Option<&'static str>,
    /// The model's own motion setting that the transition type sets.
    pub motion: MotionControl,
    /// Size and shape limits applied to the uploaded frames.
    pub frames: FrameLimits,
    /// Estimated price in US dollars, when known.
    pub price: Option<fn(&PriceInput) -> f64>,
}

/// Clip lengths of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Durations {
    /// A string `duration` field: `(seconds, value sent)` pairs.
    Choices(&'static [(u32, &'static str)]),
    /// No duration field: every clip lasts this many seconds.
    Fixed(u32),
    /// `num_frames` and `frames_per_second` fields with these bounds.
    Frames {
        /// Fewest frames.
        min_frames: u32,
        /// Most frames.
        max_frames: u32,
        /// Lowest frame rate.
        min_fps: u32,
        /// Highest frame rate.
        max_fps: u32,
        /// Frame rate preferred when several fit, the model's default.
        preferred_fps: u32,
    },
}

/// Maximum prompt length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptLimit {
    /// In Unicode characters.
    Chars(usize),
    /// In UTF-8 bytes.
    Bytes(usize),
}

/// A model's own motion setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MotionControl {
    /// None: the transition type only shapes the prompt.
    None,
    /// Kling's `cfg_scale` (0 to 1): how closely the clip follows the prompt.
    CfgScale,
    /// Vidu's `movement_amplitude`: `small`, `medium` or `large`.
    MovementAmplitude,
}

/// Limits applied when conforming the frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameLimits {
    /// Maximum length of the long side in pixels.
    pub max_side: u32,
    /// Shortest side in pixels.
    pub min_side: u32,
    /// Narrowest width / height ratio.
    pub min_ratio: f64,
    /// Widest width / height ratio.
    pub max_ratio: f64,
}

/// What a price depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceInput {
    /// Clip length in seconds as sent.
    pub seconds: f64,
    /// `resolution` value sent, or `""` when the model has none.
    pub resolution: &'static str,
    /// `num_frames` sent, for frame-based models.
    pub num_frames: Option<u32>,
}

// NOTE: fal documents input limits only for some models (Kling O1: 300 px
// minimum, ratio 0.4 to 2.5). These limits are that documented set, with a
// long side of 1920 px (1280 px for models that render at most 720p) chosen
// by Segue to keep uploads near 1 MB.
const FRAMES_1080: FrameLimits =
    FrameLimits { max_side: 1920, min_side: 300, min_ratio: 0.4, max_ratio: 2.5 };
const FRAMES_720: FrameLimits = FrameLimits { max_side: 1280, ..FRAMES_1080 };

const KLING_DURATIONS: Durations = Durations::Choices(&[(5, "5"), (10, "10")]);
// Kling prompts: third-party pages state 2500 characters; fal's types give
// no limit.
const KLING_PROMPT: Option<PromptLimit> = Some(PromptLimit::Chars(2500));

fn price_kling_v21(input: &PriceInput) -> f64 {
    0.49 + 0.098 * (input.seconds - 5.0).max(0.0)
}

fn price_kling_v25_turbo(input: &PriceInput) -> f64 {
    0.35 + 0.07 * (input.seconds - 5.0).max(0.0)
}

fn price_kling_v26_silent(input: &PriceInput) -> f64 {
    0.07 * input.seconds
}

fn price_vidu(_: &PriceInput) -> f64 {
    0.20
}

/// Ray 2: $0.50 for 5 s at 540p, twice that for 9 s, and 2x at 720p or 4x
/// at 1080p. Those are the text-to-video prices; image-to-video is assumed
/// to cost the same.
fn price_luma_ray2(input: &PriceInput) -> f64 {
    let length = if input.seconds > 5.0 { 2.0 } else { 1.0 };
    let size = match input.resolution {
        "1080p" => 4.0,
        "720p" => 2.0,
        _ => 1.0,
    };
    0.50 * length * size
}

/// Wan 2.1 FLF2V: $0.20 at 480p, $0.40 at 720p, 1.25x above 81 frames.
fn price_wan_flf2v(input: &PriceInput) -> f64 {
    let base = if input.resolution == "480p" { 0.20 } else { 0.40 };
    let frames = if input.num_frames.is_some_and(|frames| frames > 81) { 1.25 } else { 1.0 };
    base * frames
}

/// Veo 3.1 standard without audio: $0.20 per second at 720p and 1080p (the
/// `fal-ai/veo3.1` price, assumed for first/last-frame too).
fn price_veo31(input: &PriceInput) -> f64 {
    0.20 * input.seconds
}

/// Veo 3.1 fast without audio: $0.10 per second at 720p and 1080p.
fn price_veo31_fast(input: &PriceInput) -> f64 {
    0.10 * input.seconds
}

const fn kling(
    id: &'static str,
    alias: &'static str,
    name: &'static str,
    price: Option<fn(&PriceInput) -> f64>,
) -> ModelInfo {
    ModelInfo {
        id,
        alias,
        name,
        first_frame_field: "image_url",
        last_frame_field: "tail_image_url",
        durations: KLING_DURATIONS,
        aspect_ratios: None,
        resolutions: &[],
        prompt_limit: KLING_PROMPT,
        negative_prompt: true,
        seed: false,
        audio_field: None,
        motion: MotionControl::CfgScale,
        frames: FRAMES_1080,
        price,
    }
}

const LUMA_ASPECTS: &[&str] = &["16:9", "9:16", "4:3", "3:4", "21:9", "9:21"];
const LUMA_RESOLUTIONS: &[&str] = &["540p", "720p", "1080p"];
const VEO_ASPECTS: &[&str] = &["auto", "16:9", "9:16"];
const VEO_RESOLUTIONS: &[&str] = &["720p", "1080p", "4k"];

static MODELS: [ModelInfo; 11] = [
    // Price of Kling 1.6 pro: not published in the sources read.
    ModelInfo {
        aspect_ratios: Some(&["16:9", "9:16", "1:1"]),
        ..kling(
            "fal-ai/kling-video/v1.6/pro/image-to-video",
            "kling-1.6-pro",
            "Kling 1.6 Pro",
            None,
        )
    },
    kling(
        "fal-ai/kling-video/v2.1/pro/image-to-video",
        "kling-2.1-pro",
        "Kling 2.1 Pro",
        Some(price_kling_v21),
    ),
    kling(
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        "kling-2.5-turbo-pro",
        "Kling 2.5 Turbo Pro",
        Some(price_kling_v25_turbo),
    ),
    ModelInfo {
        first_frame_field: "start_image_url",
        last_frame_field: "end_image_url",
        audio_field: Some("generate_audio"),
        motion: MotionControl::None,
        ..kling(
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            "kling-2.6-pro",
            "Kling 2.6 Pro",
            Some(price_kling_v26_silent),
        )
    },
    // Price of PixVerse v5 transition: not published in the sources read.
    ModelInfo {
        id: "fal-ai/pixverse/v5/transition",
        alias: "pixverse-5-transition",
        name: "PixVerse v5 Transition",
        first_frame_field: "first_image_url",
        last_frame_field: "end_image_url",
        durations: Durations::Choices(&[(5, "5"), (8, "8")]),
        aspect_ratios: Some(&["16:9", "4:3", "1:1", "3:4", "9:16"]),
        resolutions: &["360p", "540p", "720p", "1080p"],
        prompt_limit: Some(PromptLimit::Bytes(2048)),
        negative_prompt: true,
        seed: true,
        audio_field: None,
        motion: MotionControl::None,
        frames: FRAMES_1080,
        price: None,
    },
    // NOTE: Vidu's start-end endpoint has no duration field. Its price note
    // gives 4 s per clip, which is the only length accepted here.
    ModelInfo {
        id: "fal-ai/vidu/start-end-to-video",
        alias: "vidu-start-end",
        name: "Vidu Start-End",
        first_frame_field: "start_image_url",
        last_frame_field: "end_image_url",
        durations: Durations::Fixed(4),
        aspect_ratios: None,
        resolutions: &[],
        prompt_limit: Some(PromptLimit::Chars(1500)),
        negative_prompt: false,
        seed: true,
        audio_field: None,
        motion: MotionControl::MovementAmplitude,
        frames: FRAMES_720,
        price: Some(price_vidu),
    },
    ModelInfo {
        id: "fal-ai/luma-dream-machine/ray-2/image-to-video",
        alias: "luma-ray-2",
        name: "Luma Ray 2",
        first_frame_field: "image_url",
        last_frame_field: "end_image_url",
        durations: Durations::Choices(&[(5, "5s"), (9, "9s")]),
        aspect_ratios: Some(LUMA_ASPECTS),
        resolutions: LUMA_RESOLUTIONS,
        prompt_limit: None,
        negative_prompt: false,
        seed: false,
        audio_field: None,
        motion: MotionControl::None,
        frames: FRAMES_1080,
        price: Some(price_luma_ray2),
    },
    // Price of Ray 2 Flash: published for 540p only ($0.20 per 5 s), which
    // is not a Segue resolution.
    ModelInfo {
        id: "fal-ai/luma-dream-machine/ray-2-flash/image-to-video",
        alias: "luma-ray-2-flash",
        name: "Luma Ray 2 Flash",
        first_frame_field: "image_url",
        last_frame_field: "end_image_url",
        durations: Durations::Choices(&[(5, "5s"), (9, "9s")]),
        aspect_ratios: Some(LUMA_ASPECTS),
        resolutions: LUMA_RESOLUTIONS,
        prompt_limit: None,
        negative_prompt: false,
        seed: false,
        audio_field: None,
        motion: MotionControl::None,
        frames: FRAMES_1080,
        price: None,
    },
    ModelInfo {
        id: "fal-ai/wan-flf2v",
        alias: "wan-flf2v",
        name: "Wan 2.1 First-Last-Frame",
        first_frame_field: "start_image_url",
        last_frame_field: "end_image_url",
        durations: Durations::Frames {
            min_frames: 81,
            max_frames: 100,
            min_fps: 5,
            max_fps: 24,
            preferred_fps: 16,
        },
        aspect_ratios: Some(&["auto", "16:9", "9:16", "1:1"]),
        resolutions: &["480p", "720p"],
        prompt_limit: None,
        negative_prompt: true,
        seed: true,
        audio_field: None,
        motion: MotionControl::None,
        frames: FRAMES_720,
        price: Some(price_wan_flf2v),
    },
    ModelInfo {
        id: "fal-ai/veo3.1/first-last-frame-to-video",
        alias: "veo-3.1",
        name: "Veo 3.1 First-Last-Frame",
        first_frame_field: "first_frame_url",
        last_frame_field: "last_frame_url",
        durations: Durations::Choices(&[(4, "4s"), (6, "6s"), (8, "8s")]),
        aspect_ratios: Some(VEO_ASPECTS),
        resolutions: VEO_RESOLUTIONS,
        prompt_limit: None,
        negative_prompt: true,
        seed: true,
        audio_field: Some("generate_audio"),
        motion: MotionControl::None,
        frames: FRAMES_1080,
        price: Some(price_veo31),
    },
    ModelInfo {
        id: "fal-ai/veo3.1/fast/first-last-frame-to-video",
        alias: "veo-3.1-fast",
        name: "Veo 3.1 Fast First-Last-Frame",
        first_frame_field: "first_frame_url",
        last_frame_field: "last_frame_url",
        durations: Durations::Choices(&[(4, "4s"), (6, "6s"), (8, "8s")]),
        aspect_ratios: Some(VEO_ASPECTS),
        resolutions: VEO_RESOLUTIONS,
        prompt_limit: None,
        negative_prompt: true,
        seed: true,
        audio_field: Some("generate_audio"),
        motion: MotionControl::None,
        frames: FRAMES_1080,
        price: Some(price_veo31_fast),
    },
];

/// Models are equal when their ids are.
impl PartialEq for ModelInfo {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Returns every model Segue can use on fal.
pub fn models() -> &'static [ModelInfo] {
    &MODELS
}

/// Finds a model by full id or alias, ignoring case.
pub fn find_model(name: &str) -> Option<&'static ModelInfo> {
    let name = name.trim();
    MODELS
        .iter()
        .find(|model| model.id.eq_ignore_ascii_case(name) || model.alias.eq_ignore_ascii_case(name))
}

/// A job's settings checked against one model, ready to become its input.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The model.
    pub model: &'static ModelInfo,
    /// Prompt sent: the user's text and the transition's motion.
    pub prompt: String,
    /// Negative prompt sent, if any.
    pub negative_prompt: Option<String>,
    /// Length fields sent.
    pub length: LengthPlan,
    /// `resolution` sent, if the model has the field.
    pub resolution: Option<&'static str>,
    /// Rule that picks the frame shape and `aspect_ratio`.
    pub aspect: AspectPlan,
    /// `seed` sent.
    pub seed: Option<i64>,
    /// Transition type.
    pub kind: TransitionKind,
}

/// Length fields of a planned input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LengthPlan {
    /// `duration` with this value, for a clip of `seconds`.
    Duration {
        /// Value sent.
        value: &'static str,
        /// Clip length.
        seconds: u32,
    },
    /// No length field; the model makes clips of `seconds`.
    Fixed {
        /// Clip length.
        seconds: u32,
    },
    /// `num_frames` and `frames_per_second`.
    Frames {
        /// Frames.
        num_frames: u32,
        /// Frame rate.
        fps: u32,
    },
}

impl LengthPlan {
    /// Clip length in seconds.
    pub fn seconds(&self) -> f64 {
        match *self {
            LengthPlan::Duration { seconds, .. } | LengthPlan::Fixed { seconds } => {
                f64::from(seconds)
            }
            LengthPlan::Frames { num_frames, fps } => f64::from(num_frames) / f64::from(fps),
        }
    }
}

/// Rule that picks the frame shape and the `aspect_ratio` field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AspectPlan {
    /// The model has no aspect field; the frames are conformed to this
    /// width / height ratio, or to the front image's when `None`.
    FollowFrames(Option<f64>),
    /// `aspect_ratio` is this value, and the frames take its ratio.
    Fixed(&'static str),
    /// `aspect_ratio` is `"auto"`, and the frames take the front image's
    /// ratio within the model's limits.
    Auto,
    /// `aspect_ratio` is the model's value nearest to the front image's
    /// ratio, chosen once the image is loaded.
    Nearest(&'static [&'static str]),
}

/// A setting a model cannot honour.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Checks `spec` against its model and returns the plan of the input.
pub fn plan(spec: &JobSpec) -> Result<Plan, PlanError> {
    let model = find_model(&spec.model).ok_or_else(|| unknown_model(&spec.model))?;
    let length = plan_length(model, spec.output.duration_s)?;
    let resolution = plan_resolution(model, spec.output.resolution.name())?;
    let aspect = plan_aspect(model, spec.output.aspect)?;
    let prompt = transition_prompt(spec.kind, &spec.prompt);
    check_prompt_length(model, "prompt", &prompt)?;
    let negative_prompt = plan_negative_prompt(model, spec)?;
    if spec.seed.is_some() && !model.seed {
        return Err(PlanError(format!(
            "{} takes no seed; remove the seed or choose a model that takes one: {}",
            model.name,
            names_where(|model| model.seed)
        )));
    }
    Ok(Plan {
        model,
        prompt,
        negative_prompt,
        length,
        resolution,
        aspect,
        seed: spec.seed,
        kind: spec.kind,
    })
}

fn unknown_model(name: &str) -> PlanError {
    let known: Vec<String> =
        MODELS.iter().map(|model| format!("{} ({})", model.alias, model.id)).collect();
    PlanError(format!("unknown fal model {name:?}; choose one of: {}", known.join(", ")))
}

fn names_where(keep: impl Fn(&ModelInfo) -> bool) -> String {
    let names: Vec<&str> =
        MODELS.iter().filter(|model| keep(model)).map(|model| model.alias).collect();
    names.join(", ")
}

fn plan_length(model: &'static ModelInfo, duration_s: f64) -> Result<LengthPlan, PlanError> {
    let whole = (duration_s - duration_s.round()).abs() < 1e-6;
    let seconds = duration_s.round() as u32;
    match model.durations {
        Durations::Choices(choices) => choices
            .iter()
            .find(|(length, _)| whole && *length == seconds)
            .map(|&(seconds, value)| LengthPlan::Duration { value, seconds })
            .ok_or_else(|| {
                let allowed: Vec<String> = choices.iter().map(|(length, _)| length.to_string()).collect();
                PlanError(format!(
                    "{} cannot make a {duration_s} s clip; choose a duration of {} seconds",
                    model.name,
                    or_list(&allowed)
                ))
            }),
        Durations::Fixed(length) if whole && seconds == length => Ok(LengthPlan::Fixed { seconds }),
        Durations::Fixed(length) => Err(PlanError(format!(
            "{} makes only {length} s clips; choose a duration of {length} seconds",
            model.name
        ))),
        Durations::Frames { min_frames, max_frames, min_fps, max_fps, preferred_fps } => {
            frames_for(duration_s, min_frames, max_frames, min_fps, max_fps, preferred_fps).ok_or_else(
                || {
                    let shortest = f64::from(min_frames) / f64::from(max_fps);
                    let longest = f64::from(max_frames) / f64::from(min_fps);
                    PlanError(format!(
                        "{} cannot make a {duration_s} s clip; choose a duration from {:.1} to {:.0} seconds",
                        model.name, shortest, longest
                    ))
                },
            )
        }
    }
}

/// Largest difference between the requested and the planned clip length of
/// a frame-based model, in seconds.
const FRAMES_TOLERANCE_S: f64 = 0.1;

/// Picks `num_frames` and `frames_per_second` for a clip of `duration_s`:
/// the preferred rate when it fits, else the highest rate that fits, with
/// the fewest frames (each frame above the minimum can raise the price).
fn frames_for(
    duration_s: f64,
    min_frames: u32,
    max_frames: u32,
    min_fps: u32,
    max_fps: u32,
    preferred_fps: u32,
) -> Option<LengthPlan> {
    let fits = |fps: u32| {
        let frames = (duration_s * f64::from(fps)).round().max(f64::from(min_frames)) as u32;
        let error = (f64::from(frames) / f64::from(fps) - duration_s).abs();
        (frames <= max_frames && error <= FRAMES_TOLERANCE_S)
            .then_some(LengthPlan::Frames { num_frames: frames, fps })
    };
    fits(preferred_fps).or_else(|| (min_fps..=max_fps).rev().find_map(fits))
}

fn plan_resolution(model: &ModelInfo, ours: &str) -> Result<Option<&'static str>, PlanError> {
    if model.resolutions.is_empty() {
        return Ok(None);
    }
    match model.resolutions.iter().find(|value| **value == ours) {
        Some(value) => Ok(Some(value)),
        None => {
            let ours_allowed: Vec<String> = ["720p", "1080p"]
                .iter()
                .filter(|name| model.resolutions.contains(name))
                .map(|name| name.to_string())
                .collect();
            Err(PlanError(format!(
                "{} cannot render {ours}; choose a resolution of {}",
                model.name,
                or_list(&ours_allowed)
            )))
        }
    }
}

fn plan_aspect(model: &ModelInfo, aspect: Aspect) -> Result<AspectPlan, PlanError> {
    let Some(values) = model.aspect_ratios else {
        return Ok(AspectPlan::FollowFrames(ratio_of(aspect.name())));
    };
    if aspect == Aspect::Auto {
        return Ok(if values.contains(&"auto") {
            AspectPlan::Auto
        } else {
            AspectPlan::Nearest(values)
        });
    }
    match values.iter().find(|value| **value == aspect.name()) {
        Some(value) => Ok(AspectPlan::Fixed(value)),
        None => {
            let ours: Vec<String> = ["16:9", "9:16", "1:1", "auto"]
                .iter()
                .filter(|name| **name == "auto" || values.contains(name))
                .map(|name| name.to_string())
                .collect();
            Err(PlanError(format!(
                "{} cannot make {} clips; choose an aspect of {}",
                model.name,
                aspect.name(),
                or_list(&ours)
            )))
        }
    }
}

/// Returns the width / height ratio of a `W:H` value.
pub(crate) fn ratio_of(value: &str) -> Option<f64> {
    let (width, height) = value.split_once(':')?;
    let width: f64 = width.trim().parse().ok()?;
    let height: f64 = height.trim().parse().ok()?;
    (width > 0.0 && height > 0.0).then(|| width / height)
}

/// Returns the value of `values` whose ratio is nearest to `ratio`, compared
/// on a log scale so that 2:1 and 1:2 are equally far from 1:1.
pub(crate) fn nearest_aspect(values: &[&'static str], ratio: f64) -> Option<&'static str> {
    let distance = |value: &&'static str| ratio_of(value).map(|r| (r.ln() - ratio.ln()).abs());
    values
        .iter()
        .filter(|value| ratio_of(value).is_some())
        .min_by(|a, b| distance(a).partial_cmp(&distance(b)).unwrap_or(std::cmp::Ordering::Equal))
        .copied()
}

fn plan_negative_prompt(model: &ModelInfo, spec: &JobSpec) -> Result<Option<String>, PlanError> {
    let user = spec.negative_prompt.trim();
    if !model.negative_prompt {
        if user.is_empty() {
            return Ok(None);
        }
        return Err(PlanError(format!(
            "{} takes no negative prompt; remove it or choose a model that takes one: {}",
            model.name,
            names_where(|model| model.negative_prompt)
        )));
    }
    let negative = if !user.is_empty() {
        user.to_string()
    } else if wants_motion_blur(spec.kind) {
        // Kling's default negative prompt, "blur, distort, and low quality",
        // works against a transition made of motion blur.
        "distortion, low quality".to_string()
    } else {
        return Ok(None);
    };
    check_prompt_length(model, "negative prompt", &negative)?;
    Ok(Some(negative))
}

fn wants_motion_blur(kind: TransitionKind) -> bool {
    matches!(kind, TransitionKind::Energetic | TransitionKind::Whip | TransitionKind::BlurDissolve)
}

fn check_prompt_length(model: &ModelInfo, what: &str, text: &str) -> Result<(), PlanError> {
    let (length, max, unit) = match model.prompt_limit {
        None => return Ok(()),
        Some(PromptLimit::Chars(max)) => (text.chars().count(), max, "characters"),
        Some(PromptLimit::Bytes(max)) => (text.len(), max, "bytes"),
    };
    if length <= max {
        return Ok(());
    }
    Err(PlanError(format!(
        "the {what} sent to {} would be {length} {unit}, over its limit of {max} {unit} \
         (the transition type adds its own words); shorten the {what}",
        model.name
    )))
}

/// Describes the motion of a transition type for a video model.
pub fn motion_words(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Calm => {
            "a calm, slow dissolve from the first image into the last, with a gentle push-in and a steady camera"
        }
        TransitionKind::Energetic => {
            "an energetic, fast zoom-through from the first image into the last, with motion blur and a bright flash at the cut"
        }
        TransitionKind::Slide => {
            "the last image slides in from the right and pushes the first image out to the left, in one smooth sideways camera move"
        }
        TransitionKind::FadeBlack => {
            "the first image fades to black, then the last image fades in from black, with a slow push-in and pull-out"
        }
        TransitionKind::Whip => {
            "a very fast horizontal whip pan with strong motion blur from the first image to the last"
        }
        TransitionKind::BlurDissolve => {
            "the first image blurs out of focus while the last image sharpens into focus"
        }
    }
}

/// Builds the prompt sent: the user's prompt, then the transition's motion.
pub fn transition_prompt(kind: TransitionKind, user_prompt: &str) -> String {
    let user = user_prompt.trim().trim_end_matches(['.', ' ']);
    if user.is_empty() {
        format!("Video transition: {}.", motion_words(kind))
    } else {
        format!("{user}. Transition: {}.", motion_words(kind))
    }
}

/// Kling `cfg_scale` per transition type: higher for the types whose
/// motion the prompt spells out, so the model follows it more closely.
fn cfg_scale(kind: TransitionKind) -> f64 {
    match kind {
        TransitionKind::Calm | TransitionKind::FadeBlack | TransitionKind::BlurDissolve => 0.5,
        TransitionKind::Slide => 0.6,
        TransitionKind::Energetic | TransitionKind::Whip => 0.7,
    }
}

fn movement_amplitude(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Calm | TransitionKind::FadeBlack | TransitionKind::BlurDissolve => "small",
        TransitionKind::Slide => "medium",
        TransitionKind::Energetic | TransitionKind::Whip => "large",
    }
}

impl Plan {
    /// Returns the estimated price in US dollars, when the model's is known.
    pub fn price(&self) -> Option<f64> {
        let num_frames = match self.length {
            LengthPlan::Frames { num_frames, .. } => Some(num_frames),
            _ => None,
        };
        let input = PriceInput {
            seconds: self.length.seconds(),
            resolution: self.resolution.unwrap_or(""),
            num_frames,
        };
        self.model.price.map(|price| (price(&input) * 1000.0).round() / 1000.0)
    }

    /// Builds the model's input JSON. `aspect_ratio` is the value chosen for
    /// the frames ([`AspectPlan::Nearest`] needs the front image to decide).
    pub fn input(&self, front_url: &str, tail_url: &str, aspect_ratio: Option<&str>) -> Value {
        let model = self.model;
        let mut input = Map::new();
        input.insert("prompt".into(), json!(self.prompt));
        input.insert(model.first_frame_field.into(), json!(front_url));
        input.insert(model.last_frame_field.into(), json!(tail_url));

        match self.length {
            LengthPlan::Duration { value, .. } => {
                input.insert("duration".into(), json!(value));
            }
            LengthPlan::Fixed { .. } => {}
            LengthPlan::Frames { num_frames, fps } => {
                input.insert("num_frames".into(), json!(num_frames));
                input.insert("frames_per_second".into(), json!(fps));
            }
        }

        if let Some(value) = aspect_ratio.filter(|_| model.aspect_ratios.is_some()) {
            input.insert("aspect_ratio".into(), json!(value));
        }
        if let Some(resolution) = self.resolution {
            input.insert("resolution".into(), json!(resolution));
        }
        if let Some(negative) = &self.negative_prompt {
            input.insert("negative_prompt".into(), json!(negative));
        }
        if let Some(seed) = self.seed {
            input.insert("seed".into(), json!(seed));
        }
        if let Some(field) = model.audio_field {
            input.insert(field.into(), json!(false));
        }

        match model.motion {
            MotionControl::None => {}
            MotionControl::CfgScale => {
                input.insert("cfg_scale".into(), json!(cfg_scale(self.kind)));
            }
            MotionControl::MovementAmplitude => {
                input.insert("movement_amplitude".into(), json!(movement_amplitude(self.kind)));
            }
        }
        Value::Object(input)
    }
}

/// Joins `["5", "10"]` as `5 or 10` and longer lists as `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "none".to_string(),
    }
}

#[cfg(test)]
mod tests;
