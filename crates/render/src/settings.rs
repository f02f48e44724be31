//! Output settings: the transition kinds, aspect ratios, resolutions and fit
//! rules a user can choose, their text forms, and [`OutputSettings`] with its
//! validation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Frame rates that [`OutputSettings::validate`] accepts.
pub const ALLOWED_FPS: [u32; 3] = [24, 25, 30];
/// Minimum clip duration in seconds.
pub const MIN_DURATION_S: f64 = 1.0;
/// Maximum clip duration in seconds.
pub const MAX_DURATION_S: f64 = 10.0;

/// Transition style: how the camera moves and how the front image turns into
/// the tail image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransitionKind {
    /// Crossfade with a slow push-in.
    Calm,
    /// Fast zoom-through with zoom blur and a white flash at the cut.
    Energetic,
    /// The tail pushes the front out sideways.
    Slide,
    /// Fade through black with a slow push-in and pull-out.
    FadeBlack,
    /// Very fast horizontal pan with strong motion blur.
    Whip,
    /// The front blurs out while the tail sharpens in.
    BlurDissolve,
}

impl TransitionKind {
    /// Every kind, in the order the user interface lists them.
    pub const ALL: [TransitionKind; 6] = [
        TransitionKind::Calm,
        TransitionKind::Energetic,
        TransitionKind::Slide,
        TransitionKind::FadeBlack,
        TransitionKind::Whip,
        TransitionKind::BlurDissolve,
    ];

    /// Canonical SCREAMING_SNAKE_CASE name, the same text serde writes.
    pub fn name(self) -> &'static str {
        match self {
            TransitionKind::Calm => "CALM",
            TransitionKind::Energetic => "ENERGETIC",
            TransitionKind::Slide => "SLIDE",
            TransitionKind::FadeBlack => "FADE_BLACK",
            TransitionKind::Whip => "WHIP",
            TransitionKind::BlurDissolve => "BLUR_DISSOLVE",
        }
    }

    /// One-line description for help text and docs.
    pub fn description(self) -> &'static str {
        match self {
            TransitionKind::Calm => "dissolve with a slow push-in",
            TransitionKind::Energetic => "fast zoom-through with motion blur and a white flash",
            TransitionKind::Slide => "the tail pushes the front out to the left",
            TransitionKind::FadeBlack => "fade through black with a slow push-in and pull-out",
            TransitionKind::Whip => "whip pan: a very fast horizontal pan with motion blur",
            TransitionKind::BlurDissolve => "the front blurs out as the tail sharpens in",
        }
    }
}

impl fmt::Display for TransitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransitionKind {
    type Err = ParseSettingError;

    /// Parses a kind name case-insensitively. `-`, `_` and spaces are all
    /// accepted as word separators, and the aliases an editor may use for each
    /// style ("dissolve", "zoom", "push", "fade", "whip-pan", "morph", "blur")
    /// map to their kind.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key: String = text
            .trim()
            .chars()
            .map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() })
            .collect();
        let kind = match key.as_str() {
            "calm" | "dissolve" => TransitionKind::Calm,
            "energetic" | "zoom" | "zoom_through" => TransitionKind::Energetic,
            "slide" | "push" => TransitionKind::Slide,
            "fade_black" | "fade" | "fade_through_black" => TransitionKind::FadeBlack,
            "whip" | "whip_pan" => TransitionKind::Whip,
            "blur_dissolve" | "morph" | "blur" => TransitionKind::BlurDissolve,
            _ => {
                let names: Vec<&str> = TransitionKind::ALL.iter().map(|k| k.name()).collect();
                return Err(ParseSettingError::new("transition", text, &names.join(", ")));
            }
        };
        Ok(kind)
    }
}

/// Aspect ratio of the output frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Aspect {
    /// 16:9 landscape.
    #[serde(rename = "16:9")]
    Landscape16x9,
    /// 9:16 portrait, as for phone stories.
    #[serde(rename = "9:16")]
    Portrait9x16,
    /// 1:1 square.
    #[serde(rename = "1:1")]
    Square1x1,
    /// The aspect ratio of the front image, clamped to between 9:21 and 21:9.
    #[serde(rename = "auto")]
    Auto,
}

impl Aspect {
    /// Text form: "16:9", "9:16", "1:1" or "auto".
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Landscape16x9 => "16:9",
            Aspect::Portrait9x16 => "9:16",
            Aspect::Square1x1 => "1:1",
            Aspect::Auto => "auto",
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Aspect {
    type Err = ParseSettingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "16:9" => Ok(Aspect::Landscape16x9),
            "9:16" => Ok(Aspect::Portrait9x16),
            "1:1" => Ok(Aspect::Square1x1),
            "auto" => Ok(Aspect::Auto),
            _ => Err(ParseSettingError::new("aspect ratio", text, "16:9, 9:16, 1:1, auto")),
        }
    }
}

/// Output resolution, named after the short side of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Resolution {
    /// 720 pixels on the short side.
    #[serde(rename = "720p")]
    P720,
    /// 1080 pixels on the short side.
    #[serde(rename = "1080p")]
    P1080,
}

impl Resolution {
    /// Short side of the output frame in pixels.
    pub fn short_side(self) -> u32 {
        match self {
            Resolution::P720 => 720,
            Resolution::P1080 => 1080,
        }
    }

    /// Text form: "720p" or "1080p".
    pub fn name(self) -> &'static str {
        match self {
            Resolution::P720 => "720p",
            Resolution::P1080 => "1080p",
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Resolution {
    type Err = ParseSettingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "720p" | "720" => Ok(Resolution::P720),
            "1080p" | "1080" => Ok(Resolution::P1080),
            _ => Err(ParseSettingError::new("resolution", text, "720p, 1080p")),
        }
    }
}

/// Rule for fitting an image whose aspect ratio differs from the frame's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Scale to fill the frame and crop the overflow equally on both sides.
    #[default]
    Cover,
    /// Scale to fit inside the frame and fill the rest with black bars.
    Letterbox,
}

impl Fit {
    /// Text form: "cover" or "letterbox".
    pub fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Letterbox => "letterbox",
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fit {
    type Err = ParseSettingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cover" => Ok(Fit::Cover),
            "letterbox" | "contain" => Ok(Fit::Letterbox),
            _ => Err(ParseSettingError::new("fit", text, "cover, letterbox")),
        }
    }
}

/// Error from parsing the text form of a setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} '{value}'; expected one of: {expected}")]
pub struct ParseSettingError {
    /// Setting that was parsed, for example "transition".
    pub setting: &'static str,
    /// Text that did not parse.
    pub value: String,
    /// Comma-separated list of the accepted names.
    pub expected: String,
}

impl ParseSettingError {
    fn new(setting: &'static str, value: &str, expected: &str) -> Self {
        ParseSettingError { setting, value: value.to_owned(), expected: expected.to_owned() }
    }
}

/// Error from [`OutputSettings::validate`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// Frame rate outside [`ALLOWED_FPS`].
    #[error("invalid frame rate {fps} fps; choose 24, 25 or 30")]
    Fps {
        /// Requested frame rate.
        fps: u32,
    },
    /// Duration outside [`MIN_DURATION_S`]..=[`MAX_DURATION_S`] or not finite.
    #[error("invalid duration {duration_s} s; choose a duration from 1 to 10 seconds")]
    Duration {
        /// Requested duration in seconds.
        duration_s: f64,
    },
}

/// Everything about the output clip except its two images and transition kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutputSettings {
    /// Aspect ratio of the frame.
    pub aspect: Aspect,
    /// Short side of the frame.
    pub resolution: Resolution,
    /// Frames per second: 24, 25 or 30.
    pub fps: u32,
    /// Fit rule for images whose aspect ratio differs from the frame's.
    pub fit: Fit,
    /// Clip duration in seconds, from 1 to 10.
    pub duration_s: f64,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            aspect: Aspect::Landscape16x9,
            resolution: Resolution::P1080,
            fps: 30,
            fit: Fit::Cover,
            duration_s: 5.0,
        }
    }
}

impl OutputSettings {
    /// Checks the frame rate and duration.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !ALLOWED_FPS.contains(&self.fps) {
            return Err(SettingsError::Fps { fps: self.fps });
        }
        let duration_ok = (MIN_DURATION_S..=MAX_DURATION_S).contains(&self.duration_s);
        if !duration_ok {
            return Err(SettingsError::Duration { duration_s: self.duration_s });
        }
        Ok(())
    }

    /// Number of frames in the clip: `round(duration_s * fps)`, at least 2 so
    /// that the first and last frames are distinct.
    pub fn frame_count(&self) -> u32 {
        let frames = (self.duration_s * f64::from(self.fps)).round();
        if frames.is_finite() && frames >= 2.0 { frames.min(f64::from(u32::MAX)) as u32 } else { 2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_parses_names_and_aliases() {
        let cases = [
            ("calm", TransitionKind::Calm),
            ("CALM", TransitionKind::Calm),
            ("dissolve", TransitionKind::Calm),
            ("Energetic", TransitionKind::Energetic),
            ("zoom", TransitionKind::Energetic),
            ("zoom-through", TransitionKind::Energetic),
            ("push", TransitionKind::Slide),
            ("fade black", TransitionKind::FadeBlack),
            ("FADE_BLACK", TransitionKind::FadeBlack),
            ("fade-black", TransitionKind::FadeBlack),
            ("fade", TransitionKind::FadeBlack),
            ("fade-through-black", TransitionKind::FadeBlack),
            ("whip-pan", TransitionKind::Whip),
            ("Whip Pan", TransitionKind::Whip),
            ("morph", TransitionKind::BlurDissolve),
            ("blur", TransitionKind::BlurDissolve),
            ("blur-dissolve", TransitionKind::BlurDissolve),
        ];
        for (text, kind) in cases {
            assert_eq!(text.parse::<TransitionKind>(), Ok(kind), "parsing {text:?}");
        }
    }

    #[test]
    fn kind_parse_error_lists_names() {
        let error = "sparkle".parse::<TransitionKind>().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("'sparkle'"), "{message}");
        for kind in TransitionKind::ALL {
            assert!(message.contains(kind.name()), "{message} lacks {kind}");
        }
    }

    #[test]
    fn kind_display_round_trips() {
        for kind in TransitionKind::ALL {
            assert_eq!(kind.to_string().parse::<TransitionKind>(), Ok(kind));
            assert!(!kind.description().is_empty());
        }
    }

    #[test]
    fn kind_serde_uses_screaming_snake_case() {
        let json = serde_json::to_string(&TransitionKind::BlurDissolve).unwrap();
        assert_eq!(json, "\"BLUR_DISSOLVE\"");
        let json = serde_json::to_string(&TransitionKind::FadeBlack).unwrap();
        assert_eq!(json, "\"FADE_BLACK\"");
        let kind: TransitionKind = serde_json::from_str("\"CALM\"").unwrap();
        assert_eq!(kind, TransitionKind::Calm);
    }

    #[test]
    fn aspect_resolution_fit_text_forms() {
        for aspect in [Aspect::Landscape16x9, Aspect::Portrait9x16, Aspect::Square1x1, Aspect::Auto]
        {
            assert_eq!(aspect.to_string().parse::<Aspect>(), Ok(aspect));
            let json = serde_json::to_string(&aspect).unwrap();
            assert_eq!(json, format!("\"{aspect}\""));
        }
        assert_eq!("AUTO".parse::<Aspect>(), Ok(Aspect::Auto));
        assert!("4:3".parse::<Aspect>().is_err());

        assert_eq!("720".parse::<Resolution>(), Ok(Resolution::P720));
        assert_eq!("1080P".parse::<Resolution>(), Ok(Resolution::P1080));
        assert_eq!(Resolution::P720.to_string(), "720p");
        assert_eq!(serde_json::to_string(&Resolution::P1080).unwrap(), "\"1080p\"");
        assert!("4k".parse::<Resolution>().is_err());

        assert_eq!("contain".parse::<Fit>(), Ok(Fit::Letterbox));
        assert_eq!("Cover".parse::<Fit>(), Ok(Fit::Cover));
        assert_eq!(Fit::Letterbox.to_string(), "letterbox");
        assert_eq!(serde_json::to_string(&Fit::Cover).unwrap(), "\"cover\"");
        assert_eq!(Fit::default(), Fit::Cover);
    }

    #[test]
    fn settings_default_values() {
        let settings = OutputSettings::default();
        assert_eq!(settings.aspect, Aspect::Landscape16x9);
        assert_eq!(settings.resolution, Resolution::P1080);
        assert_eq!(settings.fps, 30);
        assert_eq!(settings.fit, Fit::Cover);
        assert_eq!(settings.duration_s, 5.0);
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.frame_count(), 150);
    }

    #[test]
    fn settings_validate_rejects_bad_values() {
        let bad_fps = OutputSettings { fps: 60, ..OutputSettings::default() };
        let error = bad_fps.validate().unwrap_err();
        assert_eq!(error, SettingsError::Fps { fps: 60 });
        assert!(error.to_string().contains("60"), "{error}");
        assert!(error.to_string().contains("24, 25 or 30"), "{error}");

        for duration_s in [0.5, 10.5, f64::NAN] {
            let settings = OutputSettings { duration_s, ..OutputSettings::default() };
            let error = settings.validate().unwrap_err();
            assert!(matches!(error, SettingsError::Duration { .. }), "{duration_s}");
            assert!(error.to_string().contains("1 to 10 seconds"), "{error}");
        }
        for fps in ALLOWED_FPS {
            let edge = OutputSettings { fps, duration_s: 10.0, ..OutputSettings::default() };
            assert_eq!(edge.validate(), Ok(()));
        }
    }

    #[test]
    fn frame_count_rounds_and_has_minimum() {
        let settings = OutputSettings { fps: 24, duration_s: 2.52, ..OutputSettings::default() };
        assert_eq!(settings.frame_count(), 60);
        let tiny = OutputSettings { fps: 24, duration_s: 0.01, ..OutputSettings::default() };
        assert_eq!(tiny.frame_count(), 2);
    }

    #[test]
    fn settings_serde_round_trip() {
        let settings = OutputSettings {
            aspect: Aspect::Portrait9x16,
            resolution: Resolution::P720,
            fps: 25,
            fit: Fit::Letterbox,
            duration_s: 3.5,
        };
        let json = serde_json::to_string(&settings).unwrap();
        assert!(json.contains("\"9:16\""), "{json}");
        let back: OutputSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
    }
}
