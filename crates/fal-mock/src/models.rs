//! Input schemas of the first/last-frame video models the mock serves, and
//! validation of submitted inputs against them.
//!
//! Field lists, types, enums and limits follow the types that fal-js
//! (`@fal-ai/client` 1.10.1) generates from fal's OpenAPI documents. Error
//! objects follow the pydantic shape fal returns:
//! `{"loc": ["body", FIELD], "msg", "type", "input", "ctx"}`. Validation is
//! strict: unknown fields, `null` values, integers given as strings and
//! numbers given for string enums are all rejected.

use serde_json::{Map, Value, json};

/// Type and limits of one input field.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A string, with an optional maximum in characters or UTF-8 bytes.
    Text { max_chars: Option<usize>, max_bytes: Option<usize> },
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A number within optional bounds.
    Float { min: Option<f64>, max: Option<f64> },
    /// An integer within optional bounds.
    Int { min: Option<i64>, max: Option<i64> },
    /// `true` or `false`.
    Bool,
    /// URL of an input image: a file in the mock's storage or a data URI.
    Image,
    /// An array of strings with at most this many items.
    TextList { max_items: usize },
    /// An array of objects.
    ObjectList,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn required(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: true }
}

const fn optional(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: false }
}

const TEXT: Kind = Kind::Text { max_chars: None, max_bytes: None };
const SEED: Kind = Kind::Int { min: None, max: None };
const KLING_DURATION: Kind = Kind::Choice(&["5", "10"]);

/// Schema of one model endpoint.
#[derive(Debug)]
pub(crate) struct ModelSpec {
    /// Endpoint id as submitted, `owner/app[/path]`.
    pub(crate) id: &'static str,
    fields: &'static [Field],
    /// Field of the first frame.
    pub(crate) first_frame: &'static str,
    /// Field of the last frame.
    pub(crate) last_frame: &'static str,
    /// Whether the output carries the `seed` used.
    pub(crate) output_seed: bool,
}

const KLING_V16_PRO: &[Field] = &[
    required("prompt", TEXT),
    required("image_url", Kind::Image),
    optional("tail_image_url", Kind::Image),
    optional("duration", KLING_DURATION),
    optional("aspect_ratio", Kind::Choice(&["16:9", "9:16", "1:1"])),
    optional("negative_prompt", TEXT),
    optional("cfg_scale", Kind::Float { min: Some(0.0), max: Some(1.0) }),
];

const KLING_V2_PRO: &[Field] = &[
    required("prompt", TEXT),
    required("image_url", Kind::Image),
    optional("tail_image_url", Kind::Image),
    optional("duration", KLING_DURATION),
    optional("negative_prompt", TEXT),
    optional("cfg_scale", Kind::Float { min: Some(0.0), max: Some(1.0) }),
];

const KLING_V26_PRO: &[Field] = &[
    required("prompt", TEXT),
    required("start_image_url", Kind::Image),
    optional("end_image_url", Kind::Image),
    optional("duration", KLING_DURATION),
    optional("negative_prompt", TEXT),
    optional("generate_audio", Kind::Bool),
    optional("voice_ids", Kind::TextList { max_items: 2 }),
];

const PIXVERSE_V5_TRANSITION: &[Field] = &[
    required("prompt", Kind::Text { max_chars: None, max_bytes: Some(2048) }),
    required("first_image_url", Kind::Image),
    required("end_image_url", Kind::Image),
    optional("duration", Kind::Choice(&["5", "8"])),
    optional("aspect_ratio", Kind::Choice(&["16:9", "4:3", "1:1", "3:4", "9:16"])),
    optional("resolution", Kind::Choice(&["360p", "540p", "720p", "1080p"])),
    optional("negative_prompt", Kind::Text { max_chars: None, max_bytes: Some(2048) }),
    optional("seed", SEED),
    optional("style", Kind::Choice(&["anime", "3d_animation", "clay", "comic", "cyberpunk"])),
];

const VIDU_START_END: &[Field] = &[
    required("prompt", Kind::Text { max_chars: Some(1500), max_bytes: None }),
    required("start_image_url", Kind::Image),
    required("end_image_url", Kind::Image),
    optional("movement_amplitude", Kind::Choice(&["auto", "small", "medium", "large"])),
    optional("seed", SEED),
];

const LUMA_RAY2_I2V: &[Field] = &[
    required("prompt", TEXT),
    optional("image_url", Kind::Image),
    optional("end_image_url", Kind::Image),
    optional("duration", Kind::Choice(&["5s", "9s"])),
    optional("aspect_ratio", Kind::Choice(&["16:9", "9:16", "4:3", "3:4", "21:9", "9:21"])),
    optional("resolution", Kind::Choice(&["540p", "720p", "1080p"])),
    optional("loop", Kind::Bool),
];

const WAN_FLF2V: &[Field] = &[
    required("prompt", TEXT),
    required("start_image_url", Kind::Image),
    required("end_image_url", Kind::Image),
    optional("negative_prompt", TEXT),
    optional("num_frames", Kind::Int { min: Some(81), max: Some(100) }),
    optional("frames_per_second", Kind::Int { min: Some(5), max: Some(24) }),
    optional("seed", SEED),
    optional("resolution", Kind::Choice(&["480p", "720p"])),
    optional("num_inference_steps", Kind::Int { min: Some(1), max: None }),
    optional("guide_scale", Kind::Float { min: None, max: None }),
    optional("shift", Kind::Float { min: None, max: None }),
    optional("enable_safety_checker", Kind::Bool),
    optional("enable_prompt_expansion", Kind::Bool),
    optional("acceleration", Kind::Choice(&["none", "regular"])),
    optional("aspect_ratio", Kind::Choice(&["auto", "16:9", "9:16", "1:1"])),
    optional("loras", Kind::ObjectList),
];

const VEO31_FLF: &[Field] = &[
    required("prompt", TEXT),
    required("first_frame_url", Kind::Image),
    required("last_frame_url", Kind::Image),
    optional("duration", Kind::Choice(&["4s", "6s", "8s"])),
    optional("aspect_ratio", Kind::Choice(&["auto", "16:9", "9:16"])),
    optional("resolution", Kind::Choice(&["720p", "1080p", "4k"])),
    optional("generate_audio", Kind::Bool),
    optional("negative_prompt", TEXT),
    optional("seed", SEED),
    optional("auto_fix", Kind::Bool),
    optional("safety_tolerance", Kind::Choice(&["1", "2", "3", "4", "5", "6"])),
];

const fn spec(
    id: &'static str,
    fields: &'static [Field],
    first_frame: &'static str,
    last_frame: &'static str,
) -> ModelSpec {
    ModelSpec { id, fields, first_frame, last_frame, output_seed: false }
}

/// Every model endpoint the mock accepts.
pub(crate) static MODELS: &[ModelSpec] = &[
    spec(
        "fal-ai/kling-video/v1.6/pro/image-to-video",
        KLING_V16_PRO,
        "image_url",
        "tail_image_url",
    ),
    spec("fal-ai/kling-video/v2.1/pro/image-to-video", KLING_V2_PRO, "image_url", "tail_image_url"),
    spec(
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        KLING_V2_PRO,
        "image_url",
        "tail_image_url",
    ),
    spec(
        "fal-ai/kling-video/v2.6/pro/image-to-video",
        KLING_V26_PRO,
        "start_image_url",
        "end_image_url",
    ),
    spec(
        "fal-ai/pixverse/v5/transition",
        PIXVERSE_V5_TRANSITION,
        "first_image_url",
        "end_image_url",
    ),
    spec("fal-ai/vidu/start-end-to-video", VIDU_START_END, "start_image_url", "end_image_url"),
    spec(
        "fal-ai/luma-dream-machine/ray-2/image-to-video",
        LUMA_RAY2_I2V,
        "image_url",
        "end_image_url",
    ),
    spec(
        "fal-ai/luma-dream-machine/ray-2-flash/image-to-video",
        LUMA_RAY2_I2V,
        "image_url",
        "end_image_url",
    ),
    ModelSpec {
        output_seed: true,
        ..spec("fal-ai/wan-flf2v", WAN_FLF2V, "start_image_url", "end_image_url")
    },
    spec("fal-ai/veo3.1/first-last-frame-to-video", VEO31_FLF, "first_frame_url", "last_frame_url"),
    spec(
        "fal-ai/veo3.1/fast/first-last-frame-to-video",
        VEO31_FLF,
        "first_frame_url",
        "last_frame_url",
    ),
];

/// Returns the schema of endpoint `id`, if the mock serves it.
pub(crate) fn find(id: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|model| model.id == id)
}

/// Reason an image URL could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImageProblem {
    /// The URL is not a live file of this mock nor a decodable data URI.
    Download(String),
    /// The bytes are not an image in a known format.
    NotImage,
}

/// Fetches the bytes behind an image URL.
pub(crate) trait ImageSource {
    fn fetch(&self, url: &str) -> Result<bytes::Bytes, ImageProblem>;
}

/// Input images found while validating, by field name.
pub(crate) type Frames = Vec<(&'static str, bytes::Bytes)>;

/// Validates `input` against `model` and returns the decoded images, or the
/// list of error objects for a 422 `detail` array.
pub(crate) fn validate(
    model: &ModelSpec,
    input: &Value,
    images: &dyn ImageSource,
) -> Result<Frames, Vec<Value>> {
    let Some(object) = input.as_object() else {
        return Err(vec![error(
            json!(["body"]),
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            Some(input),
            None,
        )]);
    };
    let mut errors = Vec::new();
    let mut frames = Vec::new();
    for field in model.fields {
        match object.get(field.name) {
            None if field.required => errors.push(error(
                json!(["body", field.name]),
                "Field required",
                "missing",
                Some(&Value::Object(object.clone())),
                None,
            )),
            None => {}
            Some(value) => match check(field, value, images) {
                Ok(Some(bytes)) => frames.push((field.name, bytes)),
                Ok(None) => {}
                Err(problem) => errors.push(problem),
            },
        }
    }
    for (name, value) in object {
        if !model.fields.iter().any(|field| field.name == name) {
            errors.push(error(
                json!(["body", name]),
                "Extra inputs are not permitted",
                "extra_forbidden",
                Some(value),
                None,
            ));
        }
    }
    if errors.is_empty() { Ok(frames) } else { Err(errors) }
}

/// Checks one present field. Returns the image bytes for image fields.
fn check(
    field: &Field,
    value: &Value,
    images: &dyn ImageSource,
) -> Result<Option<bytes::Bytes>, Value> {
    let loc = json!(["body", field.name]);
    let fail = |msg: &str, kind: &str, ctx: Option<Value>| {
        Err(error(loc.clone(), msg, kind, Some(value), ctx))
    };
    match field.kind {
        Kind::Text { max_chars, max_bytes } => {
            let Some(text) = value.as_str() else {
                return fail("Input should be a valid string", "string_type", None);
            };
            if let Some(max) = max_chars
                && text.chars().count() > max
            {
                let msg = format!("String should have at most {max} characters");
                return fail(&msg, "string_too_long", Some(json!({ "max_length": max })));
            }
            if let Some(max) = max_bytes
                && text.len() > max
            {
                let msg = format!("String should have at most {max} bytes in UTF-8");
                return fail(&msg, "string_too_long", Some(json!({ "max_length": max })));
            }
            Ok(None)
        }
        Kind::Choice(choices) => {
            if value.as_str().is_some_and(|text| choices.contains(&text)) {
                return Ok(None);
            }
            let expected = quoted_list(choices);
            fail(
                &format!("Input should be {expected}"),
                "enum",
                Some(json!({ "expected": expected })),
            )
        }
        Kind::Float { min, max } => {
            let Some(number) = value.as_f64() else {
                return fail("Input should be a valid number", "float_type", None);
            };
            check_bounds(number, min, max)
                .map_or(Ok(None), |(msg, kind, ctx)| fail(&msg, kind, Some(ctx)))
        }
        Kind::Int { min, max } => {
            let number = match (value.as_i64(), value.as_u64()) {
                (Some(number), _) => number as f64,
                (None, Some(number)) => number as f64,
                (None, None) => return fail("Input should be a valid integer", "int_type", None),
            };
            let to_f64 = |bound: Option<i64>| bound.map(|bound| bound as f64);
            check_bounds(number, to_f64(min), to_f64(max))
                .map_or(Ok(None), |(msg, kind, ctx)| fail(&msg, kind, Some(ctx)))
        }
        Kind::Bool => {
            if value.is_boolean() {
                Ok(None)
            } else {
                fail("Input should be a valid boolean", "bool_type", None)
            }
        }
        Kind::TextList { max_items } => {
            let Some(items) = value.as_array() else {
                return fail("Input should be a valid list", "list_type", None);
            };
            if items.len() > max_items {
                let msg = format!("List should have at most {max_items} items after validation");
                return fail(&msg, "too_long", Some(json!({ "max_length": max_items })));
            }
            if items.iter().all(Value::is_string) {
                Ok(None)
            } else {
                fail("Input should be a list of strings", "string_type", None)
            }
        }
        Kind::ObjectList => match value.as_array() {
            Some(items) if items.iter().all(Value::is_object) => Ok(None),
            _ => fail("Input should be a valid list of objects", "list_type", None),
        },
        Kind::Image => {
            let Some(url) = value.as_str() else {
                return fail("Input should be a valid string", "string_type", None);
            };
            match images.fetch(url) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(ImageProblem::Download(reason)) => {
                    let msg = format!("Failed to download the file: {reason}");
                    fail(&msg, "file_download_error", None)
                }
                Err(ImageProblem::NotImage) => fail(
                    "Failed to load the image; the file is not a JPEG, PNG, WebP, GIF, BMP or AVIF image",
                    "image_load_error",
                    None,
                ),
            }
        }
    }
}

/// Returns the message, type and context of a bound violation.
fn check_bounds(
    number: f64,
    min: Option<f64>,
    max: Option<f64>,
) -> Option<(String, &'static str, Value)> {
    if let Some(min) = min.filter(|min| number < *min) {
        let msg = format!("Input should be greater than or equal to {min}");
        return Some((msg, "greater_than_equal", json!({ "ge": min })));
    }
    if let Some(max) = max.filter(|max| number > *max) {
        let msg = format!("Input should be less than or equal to {max}");
        return Some((msg, "less_than_equal", json!({ "le": max })));
    }
    None
}

/// Formats choices the way pydantic does: `'5' or '10'`, `'a', 'b' or 'c'`.
fn quoted_list(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|choice| format!("'{choice}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Builds one error object of a 422 `detail` array.
pub(crate) fn error(
    loc: Value,
    msg: &str,
    kind: &str,
    input: Option<&Value>,
    ctx: Option<Value>,
) -> Value {
    let mut object = Map::new();
    object.insert("loc".to_owned(), loc);
    object.insert("msg".to_owned(), Value::from(msg));
    object.insert("type".to_owned(), Value::from(kind));
    if let Some(input) = input {
        object.insert("input".to_owned(), input.clone());
    }
    if let Some(ctx) = ctx {
        object.insert("ctx".to_owned(), ctx);
    }
    Value::Object(object)
}

/// Returns whether `bytes` start with the signature of an image format that
/// video models take: JPEG, PNG, WebP, GIF, BMP or AVIF.
pub(crate) fn looks_like_image(bytes: &[u8]) -> bool {
    let starts = |prefix: &[u8]| bytes.starts_with(prefix);
    starts(&[0xFF, 0xD8, 0xFF])
        || starts(b"\x89PNG\r\n\x1a\n")
        || (starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"))
        || starts(b"GIF87a")
        || starts(b"GIF89a")
        || starts(b"BM")
        || (bytes.get(4..8) == Some(b"ftyp")
            && matches!(bytes.get(8..12), Some(b"avif") | Some(b"avis")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one fixed PNG signature for `mock://png` and fails otherwise.
    struct FakeImages;

    impl ImageSource for FakeImages {
        fn fetch(&self, url: &str) -> Result<bytes::Bytes, ImageProblem> {
            match url {
                "mock://png" => Ok(bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\nrest")),
                "mock://text" => Err(ImageProblem::NotImage),
                _ => Err(ImageProblem::Download(format!("{url} is not served here"))),
            }
        }
    }

    fn kling() -> &'static ModelSpec {
        find("fal-ai/kling-video/v1.6/pro/image-to-video").unwrap()
    }

    fn types(errors: &[Value]) -> Vec<(String, String)> {
        errors
            .iter()
            .map(|error| {
                let field = error["loc"][1].as_str().unwrap_or("").to_owned();
                (field, error["type"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    #[test]
    fn valid_input_returns_frames() {
        let input = json!({
            "prompt": "calm", "image_url": "mock://png", "tail_image_url": "mock://png",
            "duration": "10", "aspect_ratio": "1:1", "cfg_scale": 0.5, "negative_prompt": "blur"
        });
        let frames = validate(kling(), &input, &FakeImages).unwrap();
        let names: Vec<&str> = frames.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["image_url", "tail_image_url"]);
    }

    #[test]
    fn invalid_fields_are_all_reported() {
        let input = json!({
            "image_url": "mock://elsewhere", "tail_image_url": "mock://text",
            "duration": 5, "cfg_scale": 1.5, "aspect_ratio": null, "colour": "red"
        });
        let errors = validate(kling(), &input, &FakeImages).unwrap_err();
        let expected = [
            ("prompt", "missing"),
            ("image_url", "file_download_error"),
            ("tail_image_url", "image_load_error"),
            ("duration", "enum"),
            ("aspect_ratio", "enum"),
            ("cfg_scale", "less_than_equal"),
            ("colour", "extra_forbidden"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(types(&errors), expected);
        assert_eq!(errors[3]["msg"], "Input should be '5' or '10'");
        assert_eq!(errors[5]["ctx"]["le"], 1.0);
    }

    #[test]
    fn text_limits_count_chars_or_bytes() {
        let vidu = find("fal-ai/vidu/start-end-to-video").unwrap();
        let base = |prompt: String| json!({"prompt": prompt, "start_image_url": "mock://png", "end_image_url": "mock://png"});
        assert!(validate(vidu, &base("é".repeat(1500)), &FakeImages).is_ok());
        let errors = validate(vidu, &base("é".repeat(1501)), &FakeImages).unwrap_err();
        assert_eq!(errors[0]["type"], "string_too_long");

        let pixverse = find("fal-ai/pixverse/v5/transition").unwrap();
        let input = |prompt: String| json!({"prompt": prompt, "first_image_url": "mock://png", "end_image_url": "mock://png"});
        assert!(validate(pixverse, &input("a".repeat(2048)), &FakeImages).is_ok());
        let errors = validate(pixverse, &input("é".repeat(1025)), &FakeImages).unwrap_err();
        assert_eq!(errors[0]["type"], "string_too_long");
    }

    #[test]
    fn integers_are_strict_and_bounded() {
        let wan = find("fal-ai/wan-flf2v").unwrap();
        let input = |frames: Value| {
            json!({"prompt": "p", "start_image_url": "mock://png", "end_image_url": "mock://png",
                   "num_frames": frames})
        };
        assert!(validate(wan, &input(json!(81)), &FakeImages).is_ok());
        assert!(validate(wan, &input(json!(100)), &FakeImages).is_ok());
        for bad in [json!(80), json!(101), json!("81"), json!(81.5)] {
            assert!(validate(wan, &input(bad.clone()), &FakeImages).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_object_body_is_rejected() {
        let errors = validate(kling(), &json!([1, 2]), &FakeImages).unwrap_err();
        assert_eq!(errors[0]["type"], "model_attributes_type");
    }

    #[test]
    fn image_signatures_are_recognised() {
        assert!(looks_like_image(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(looks_like_image(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(looks_like_image(b"\0\0\0\x1cftypavif"));
        assert!(!looks_like_image(b"\0\0\0\x1cftypisom"));
        assert!(!looks_like_image(b"hello"));
    }

    #[test]
    fn quoted_list_matches_pydantic() {
        assert_eq!(quoted_list(&["5", "10"]), "'5' or '10'");
        assert_eq!(quoted_list(&["a", "b", "c"]), "'a', 'b' or 'c'");
        assert_eq!(quoted_list(&["x"]), "'x'");
    }
}
