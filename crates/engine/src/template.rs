//! File-name templates: how a clip written into an output folder is named.
//!
//! A template is text with placeholders in braces, such as `{date}-{name}`.
//! `{{` and `}}` stand for literal braces. The queue renders the template
//! once per job at enqueue time, turns the result into a file stem with
//! [`crate::output::file_stem`] (so a `/` in a name or model id becomes
//! `_`) and then picks a free name with [`crate::output::unique_path`].
//!
//! | Placeholder  | Value                                              |
//! |--------------|----------------------------------------------------|
//! | `{name}`     | the transition name                                |
//! | `{front}`    | file stem of the front image                       |
//! | `{tail}`     | file stem of the tail image                        |
//! | `{type}`     | transition type, e.g. `CALM`                       |
//! | `{duration}` | clip length, e.g. `5s` or `1.5s`                   |
//! | `{model}`    | model id                                           |
//! | `{provider}` | provider name                                      |
//! | `{date}`     | enqueue date in UTC, `YYYY-MM-DD`                  |
//! | `{time}`     | enqueue time of day in UTC, `HHMMSS`               |
//! | `{id}`       | short job id (8 hex digits)                        |
//! | `{n}`        | 1-based position of the job in its enqueue batch   |

use std::path::Path;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::job::{JobId, JobSpec};

/// Template that names each clip after its transition.
pub const DEFAULT_TEMPLATE: &str = "{name}";

/// Placeholder names a template may use, without braces.
pub const PLACEHOLDERS: [&str; 11] =
    ["name", "front", "tail", "type", "duration", "model", "provider", "date", "time", "id", "n"];

/// An invalid file-name template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A placeholder name is not one of [`PLACEHOLDERS`].
    #[error(
        "file name template {template:?}: unknown placeholder {{{placeholder}}}; valid placeholders are {valid}",
        valid = placeholder_list()
    )]
    UnknownPlaceholder {
        /// The whole template.
        template: String,
        /// Text between the braces.
        placeholder: String,
    },
    /// A `{` has no matching `}`.
    #[error(
        "file name template {template:?}: the {{ at character {position} has no closing }}; write {{{{ for a literal {{"
    )]
    Unclosed {
        /// The whole template.
        template: String,
        /// 1-based character position of the `{`.
        position: usize,
    },
    /// The template is empty or only spaces.
    #[error("the file name template is empty; use {{name}} to name clips after their transition")]
    Empty,
}

/// Values the placeholders of one job's template stand for.
#[derive(Clone, Copy, Debug)]
pub struct NameFields<'a> {
    /// Settings of the job.
    pub spec: &'a JobSpec,
    /// Id of the job.
    pub id: JobId,
    /// 1-based position of the job in its enqueue batch.
    pub index: usize,
    /// Enqueue time, which `{date}` and `{time}` show in UTC.
    pub time: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    Name,
    Front,
    Tail,
    Type,
    Duration,
    Model,
    Provider,
    Date,
    Time,
    Id,
    Index,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "name" => Self::Name,
            "front" => Self::Front,
            "tail" => Self::Tail,
            "type" => Self::Type,
            "duration" => Self::Duration,
            "model" => Self::Model,
            "provider" => Self::Provider,
            "date" => Self::Date,
            "time" => Self::Time,
            "id" => Self::Id,
            "n" => Self::Index,
            _ => return None,
        })
    }

    fn value(self, fields: &NameFields<'_>) -> String {
        let spec = fields.spec;
        match self {
            Self::Name => spec.name.clone(),
            Self::Front => path_stem(&spec.front),
            Self::Tail => path_stem(&spec.tail),
            Self::Type => spec.kind.to_string(),
            // f64's Display prints 5.0 as "5" and 1.5 as "1.5".
            Self::Duration => format!("{}s", spec.output.duration_s),
            Self::Model => spec.model.clone(),
            Self::Provider => spec.provider.clone(),
            Self::Date => {
                let utc = fields.time.to_offset(time::UtcOffset::UTC);
                utc.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
            }
            Self::Time => {
                let utc = fields.time.to_offset(time::UtcOffset::UTC);
                utc.format(format_description!("[hour][minute][second]")).unwrap_or_default()
            }
            Self::Id => fields.id.short(),
            Self::Index => fields.index.to_string(),
        }
    }
}

enum Piece<'a> {
    Text(&'a str),
    Field(Placeholder),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    if template.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut consumed_chars = 0;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let position = consumed_chars + rest[..at].chars().count() + 1;
        let after = &rest[at + 1..];
        let brace = &rest[at..at + 1];
        let consumed = if after.starts_with(brace) {
            // `{{` or `}}`: one literal brace.
            pieces.push(Piece::Text(brace));
            at + 2
        } else if brace == "}" {
            // A lone `}` has no special meaning and is kept.
            pieces.push(Piece::Text(brace));
            at + 1
        } else {
            let Some(close) = after.find('}') else {
                return Err(TemplateError::Unclosed { template: template.to_string(), position });
            };
            let name = &after[..close];
            let field =
                Placeholder::parse(name).ok_or_else(|| TemplateError::UnknownPlaceholder {
                    template: template.to_string(),
                    placeholder: name.to_string(),
                })?;
            pieces.push(Piece::Field(field));
            at + 1 + close + 1
        };
        consumed_chars += rest[..consumed].chars().count();
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks a template without rendering it, for settings screens. The error
/// text names the invalid placeholder or brace and lists the valid
/// placeholders.
pub fn validate_template(template: &str) -> Result<(), String> {
    parse(template).map(|_| ()).map_err(|err| err.to_string())
}

/// Checks a template and returns the typed error.
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    parse(template).map(|_| ())
}

/// Renders `template` for one job. The result is raw text: the queue turns
/// it into a file stem with [`crate::output::file_stem`].
pub fn render_template(template: &str, fields: &NameFields<'_>) -> Result<String, TemplateError> {
    let mut text = String::new();
    for piece in parse(template)? {
        match piece {
            Piece::Text(literal) => text.push_str(literal),
            Piece::Field(field) => text.push_str(&field.value(fields)),
        }
    }
    Ok(text)
}

fn path_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn placeholder_list() -> String {
    PLACEHOLDERS.iter().map(|name| format!("{{{name}}}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::file_stem;

    fn spec() -> JobSpec {
        JobSpec {
            name: "beach to city".into(),
            front: "/photos/Beach 01.jpg".into(),
            tail: "/photos/city.night.png".into(),
            kind: segue_render::TransitionKind::Energetic,
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: None,
            provider: "fal".into(),
            model: "fal-ai/kling-video/v2.5".into(),
            output: segue_render::OutputSettings {
                duration_s: 5.0,
                ..segue_render::OutputSettings::default()
            },
        }
    }

    fn fields(spec: &JobSpec) -> NameFields<'_> {
        NameFields {
            spec,
            id: "0123abcd-0000-4000-8000-000000000000".parse().unwrap(),
            index: 3,
            // 2026-12-05 07:08:09 at UTC+02:00 is 05:08:09 UTC.
            time: time::macros::datetime!(2026-12-05 07:08:09 +2),
        }
    }

    #[test]
    fn render_each_placeholder() {
        let spec = spec();
        let fields = fields(&spec);
        let cases = [
            ("{name}", "beach to city"),
            ("{front}", "Beach 01"),
            ("{tail}", "city.night"),
            ("{type}", "ENERGETIC"),
            ("{duration}", "5s"),
            ("{model}", "fal-ai/kling-video/v2.5"),
            ("{provider}", "fal"),
            ("{date}", "2026-12-05"),
            ("{time}", "050809"),
            ("{id}", "0123abcd"),
            ("{n}", "3"),
        ];
        assert_eq!(cases.len(), PLACEHOLDERS.len(), "a placeholder has no case");
        for (template, expected) in cases {
            assert_eq!(render_template(template, &fields).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn render_mixes_text_and_placeholders() {
        let spec = spec();
        let fields = fields(&spec);
        let text = render_template("{date}_{n} {front}-{tail} ({type})", &fields).unwrap();
        assert_eq!(text, "2026-12-05_3 Beach 01-city.night (ENERGETIC)");
    }

    #[test]
    fn fractional_duration_keeps_decimals() {
        let mut spec = spec();
        spec.output.duration_s = 1.5;
        assert_eq!(render_template("{duration}", &fields(&spec)).unwrap(), "1.5s");
    }

    #[test]
    fn doubled_braces_are_literal() {
        let spec = spec();
        let fields = fields(&spec);
        assert_eq!(render_template("{{n}}-{n}", &fields).unwrap(), "{n}-3");
        assert_eq!(render_template("a}b", &fields).unwrap(), "a}b");
    }

    #[test]
    fn slashes_are_sanitised_by_file_stem() {
        let spec = spec();
        let fields = fields(&spec);
        let stem = file_stem(&render_template("{provider}/{model}", &fields).unwrap());
        assert_eq!(stem, "fal_fal-ai_kling-video_v2.5");
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let err = check_template("{date}-{title}").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                template: "{date}-{title}".into(),
                placeholder: "title".into()
            }
        );
        let message = validate_template("{date}-{title}").unwrap_err();
        assert!(message.contains("{title}"), "{message}");
        for name in PLACEHOLDERS {
            assert!(message.contains(&format!("{{{name}}}")), "{name} missing from {message}");
        }
    }

    #[test]
    fn placeholders_are_case_sensitive() {
        assert!(validate_template("{Name}").is_err());
    }

    #[test]
    fn unclosed_brace_is_rejected() {
        let err = check_template("ab{name").unwrap_err();
        assert_eq!(err, TemplateError::Unclosed { template: "ab{name".into(), position: 3 });
        assert!(err.to_string().contains("{{"), "{err}");
    }

    #[test]
    fn empty_template_is_rejected() {
        assert_eq!(check_template(""), Err(TemplateError::Empty));
        assert_eq!(check_template("  "), Err(TemplateError::Empty));
    }

    #[test]
    fn default_and_plain_text_are_valid() {
        assert_eq!(validate_template(DEFAULT_TEMPLATE), Ok(()));
        assert_eq!(validate_template("clip"), Ok(()));
        assert_eq!(validate_template("写真 {n}"), Ok(()));
    }
}
