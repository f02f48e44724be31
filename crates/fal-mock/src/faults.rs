//! Fault injection: which request gets which fault.
//!
//! A [`FaultRule`] names a [`Step`] (one kind of request), a [`Fault`] and
//! filters: a prompt marker, a model id prefix, the nth matching request, a
//! maximum number of firings and a probability. Rules come from the config,
//! from [`MockServer::add_fault`](crate::MockServer::add_fault) and from
//! `POST /_mock/faults`, and are tried in that order.
//!
//! A job's prompt can also carry rules inline as `[fault:SPEC]`, where SPEC is
//! the text form parsed by [`FaultRule::parse`], for example
//! `[fault:status:503:times=2]`. A marker without a colon, `[fault:NAME]`,
//! tags the job for rules whose `marker` is `NAME`. Inline rules of the
//! `submit` and `job` steps count requests per distinct input, so a client that
//! resubmits the same input continues the count. Inline rules of the other
//! steps count per job.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::duration_serde;

/// Kind of request a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `POST /{owner}/{app}/{path}`: queue submission.
    Submit,
    /// The outcome of an accepted submission, decided once when the job is
    /// created.
    Job,
    /// `GET .../requests/{id}/status`.
    Status,
    /// `GET .../requests/{id}/status/stream`.
    Stream,
    /// `GET .../requests/{id}`: the result.
    Result,
    /// `PUT .../requests/{id}/cancel`.
    Cancel,
    /// `POST /storage/upload/initiate`.
    UploadInitiate,
    /// `PUT` to a signed upload URL.
    UploadPut,
    /// `GET` of a stored file: an upload or a generated clip.
    FileGet,
}

impl Step {
    /// Every step, in request order.
    pub const ALL: [Step; 9] = [
        Step::Submit,
        Step::Job,
        Step::Status,
        Step::Stream,
        Step::Result,
        Step::Cancel,
        Step::UploadInitiate,
        Step::UploadPut,
        Step::FileGet,
    ];

    /// Name used in JSON, in the text form of rules and in stats.
    pub fn name(self) -> &'static str {
        match self {
            Step::Submit => "submit",
            Step::Job => "job",
            Step::Status => "status",
            Step::Stream => "stream",
            Step::Result => "result",
            Step::Cancel => "cancel",
            Step::UploadInitiate => "upload_initiate",
            Step::UploadPut => "upload_put",
            Step::FileGet => "file_get",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key = text.trim().replace('-', "_").to_ascii_lowercase();
        Step::ALL.into_iter().find(|step| step.name() == key).ok_or_else(|| {
            let names: Vec<&str> = Step::ALL.iter().map(|step| step.name()).collect();
            format!("invalid fault step {text:?}; expected one of: {}", names.join(", "))
        })
    }
}

fn default_true() -> bool {
    true
}

fn default_retry_after() -> Option<u64> {
    None
}

fn default_result_status() -> u16 {
    422
}

fn default_result_error_type() -> String {
    "content_policy_violation".to_owned()
}

fn default_completed_error_type() -> String {
    "runner_disconnected".to_owned()
}

/// Effect of a rule on a request it fires on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// An error response with the status code and the body fal sends for it:
    /// 401 the key error, 422 a `detail` array, 429 with `Retry-After`, 500 to
    /// 504 a flat `{detail, error_type}` body with `X-Fal-Error-Type`.
    Http {
        /// HTTP status code, 400 to 599.
        status: u16,
        /// Whether the response carries `x-fal-request-id`. Without it, 502,
        /// 503 and 504 look like errors from the nginx edge: an HTML body.
        #[serde(default = "default_true")]
        request_id: bool,
        /// `Retry-After` value in seconds; 429 sends 1 when unset.
        #[serde(default = "default_retry_after")]
        retry_after: Option<u64>,
        /// Whether a 504 carries `X-Fal-Request-Timeout-Type: user`.
        #[serde(default)]
        timeout_user: bool,
    },
    /// Closes the TCP connection with a reset before any response is sent.
    /// On `submit`, no job is created.
    Reset,
    /// Handles the request normally, then resets the connection instead of
    /// sending the reply. On `submit`, the job is created and counted.
    LostReply,
    /// Waits this long, then handles the request normally.
    Stall {
        /// Delay before the response.
        #[serde(with = "duration_serde")]
        duration: Duration,
    },
    /// Sends the normal status and headers with a body that is not valid JSON
    /// (the first half of the real body).
    MalformedJson,
    /// Declares the full `Content-Length`, sends half the body and closes the
    /// connection.
    Truncated,
    /// Sends half the body without `Content-Length` and closes the
    /// connection, so the short body looks complete.
    ShortNoLength,
    /// Sends half the body with a matching `Content-Length`.
    ShortDeclared,
    /// Sends the body followed by extra zero bytes, with a matching
    /// `Content-Length`.
    LongDeclared,
    /// Declares the real `Content-Length` but sends extra bytes after the body
    /// before closing the connection.
    Overlong,
    /// Responds 404 as if the request or file had expired.
    Expired,
    /// Status stream only: sends the first event, then breaks the connection
    /// without ending the stream.
    CutStream,
    /// Job step only: the job runs, then completes with `error` and
    /// `error_type` in its status, and its result returns that error.
    CompletedError {
        /// Machine-readable error type, such as `runner_disconnected`.
        #[serde(default = "default_completed_error_type")]
        error_type: String,
        /// Human-readable message; a fixed text per type when unset.
        #[serde(default)]
        error: Option<String>,
    },
    /// Job step only: the job completes without error fields but its result
    /// returns a model error with a `detail` array.
    ResultError {
        /// HTTP status code of the result.
        #[serde(default = "default_result_status")]
        status: u16,
        /// `type` of the error object, such as `content_policy_violation`.
        #[serde(default = "default_result_error_type")]
        error_type: String,
    },
    /// Job step only: the job never leaves IN_QUEUE and reports queue
    /// position 0.
    Stuck,
}

impl Fault {
    /// Short name used in the text form and in stats.
    pub fn name(&self) -> String {
        match self {
            Fault::Http { status, .. } => status.to_string(),
            Fault::Reset => "reset".to_owned(),
            Fault::LostReply => "lost_reply".to_owned(),
            Fault::Stall { .. } => "stall".to_owned(),
            Fault::MalformedJson => "malformed_json".to_owned(),
            Fault::Truncated => "truncated".to_owned(),
            Fault::ShortNoLength => "short_no_length".to_owned(),
            Fault::ShortDeclared => "short_declared".to_owned(),
            Fault::LongDeclared => "long_declared".to_owned(),
            Fault::Overlong => "overlong".to_owned(),
            Fault::Expired => "expired".to_owned(),
            Fault::CutStream => "cut_stream".to_owned(),
            Fault::CompletedError { .. } => "completed_error".to_owned(),
            Fault::ResultError { .. } => "result_error".to_owned(),
            Fault::Stuck => "stuck".to_owned(),
        }
    }

    fn is_job_outcome(&self) -> bool {
        matches!(self, Fault::CompletedError { .. } | Fault::ResultError { .. } | Fault::Stuck)
    }

    fn rewrites_body(&self) -> bool {
        matches!(
            self,
            Fault::MalformedJson
                | Fault::Truncated
                | Fault::ShortNoLength
                | Fault::ShortDeclared
                | Fault::LongDeclared
                | Fault::Overlong
        )
    }

    /// Checks that this fault can happen at `step`.
    pub fn check_step(&self, step: Step) -> Result<(), String> {
        match self {
            Fault::Http { status, .. } if !(400..=599).contains(status) => {
                return Err(format!("invalid HTTP fault status {status}: choose 400 to 599"));
            }
            Fault::ResultError { status, .. } if !(400..=599).contains(status) => {
                return Err(format!("invalid result error status {status}: choose 400 to 599"));
            }
            _ => {}
        }
        if step == Step::Job {
            if self.is_job_outcome() {
                return Ok(());
            }
            return Err(format!(
                "fault {} cannot be a job outcome; the job step takes completed_error, \
                 result_error or stuck",
                self.name()
            ));
        }
        let allowed = match self {
            _ if self.is_job_outcome() => false,
            Fault::CutStream => step == Step::Stream,
            Fault::LostReply => step != Step::Stream,
            _ if self.rewrites_body() => step != Step::Stream,
            Fault::Expired => matches!(
                step,
                Step::Status | Step::Stream | Step::Result | Step::Cancel | Step::FileGet
            ),
            _ => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!("fault {} cannot happen at step {step}", self.name()))
        }
    }
}

/// One fault rule. See the module documentation for how rules match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleForm")]
pub struct FaultRule {
    /// Kind of request the rule applies to.
    pub step: Step,
    /// Fault to inject.
    pub fault: Fault,
    /// Only requests about jobs whose prompt contains `[fault:MARKER]` match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Only requests whose model id starts with this text match. Requests
    /// with no model (uploads and uploaded files) never match a rule with a
    /// model filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Fires only on the nth matching request, counting from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Fires at most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Fires on each matching request with this probability, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// Accepted JSON forms of a rule: the object or its text form.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleForm {
    Text(String),
    Object(RuleObject),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleObject {
    step: Step,
    fault: Fault,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    nth: Option<u64>,
    #[serde(default)]
    times: Option<u64>,
    #[serde(default)]
    probability: Option<f64>,
}

impl TryFrom<RuleForm> for FaultRule {
    type Error = String;

    fn try_from(form: RuleForm) -> Result<Self, Self::Error> {
        let rule = match form {
            RuleForm::Text(text) => FaultRule::parse(&text)?,
            RuleForm::Object(object) => FaultRule {
                step: object.step,
                fault: object.fault,
                marker: object.marker,
                model: object.model,
                nth: object.nth,
                times: object.times,
                probability: object.probability,
            },
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl FaultRule {
    /// Returns a rule that fires `fault` on every request of `step`.
    pub fn new(step: Step, fault: Fault) -> Self {
        FaultRule {
            step,
            fault,
            marker: None,
            model: None,
            nth: None,
            times: None,
            probability: None,
        }
    }

    /// Returns this rule limited to jobs whose prompt contains
    /// `[fault:MARKER]`.
    pub fn with_marker(mut self, marker: &str) -> Self {
        self.marker = Some(marker.to_owned());
        self
    }

    /// Returns this rule firing only on the nth matching request.
    pub fn nth(mut self, nth: u64) -> Self {
        self.nth = Some(nth);
        self
    }

    /// Returns this rule firing at most `times` times.
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }

    /// Checks that the fault fits the step and that the filters are in range.
    pub fn validate(&self) -> Result<(), String> {
        self.fault.check_step(self.step)?;
        if self.nth == Some(0) {
            return Err("invalid nth 0: requests are counted from 1".to_owned());
        }
        if let Some(probability) = self.probability
            && !(0.0..=1.0).contains(&probability)
        {
            return Err(format!("invalid probability {probability}: choose 0 to 1"));
        }
        if let Some(marker) = &self.marker
            && (marker.is_empty() || marker.contains([':', ']']))
        {
            return Err(format!(
                "invalid marker {marker:?}: use a non-empty name without ':' or ']'"
            ));
        }
        Ok(())
    }

    /// Parses the text form `STEP:KIND[:KEY=VALUE]...`.
    ///
    /// KIND is an HTTP status code (`503`) or a [`Fault`] name in snake case
    /// (`reset`, `lost_reply`, `stall`, `truncated`, `completed_error`, ...).
    /// Keys: `nth`, `times`, `p` (probability), `marker`, `model`, and the
    /// fault's own arguments: `request_id` (true or false), `retry_after`
    /// (seconds), `timeout_user` (true or false), `duration` (for `stall`,
    /// such as `5s`, default 30s), `error_type`, `error` and `status` (for `result_error`).
    /// Examples: `status:503:times=2`, `submit:429:retry_after=3`,
    /// `job:completed_error:error_type=runner_disconnected`,
    /// `file_get:truncated`.
    pub fn parse(text: &str) -> Result<FaultRule, String> {
        let mut parts = text.trim().split(':');
        let step: Step = parts.next().unwrap_or_default().parse()?;
        let kind = parts.next().filter(|kind| !kind.is_empty()).ok_or_else(|| {
            format!("invalid fault rule {text:?}: expected STEP:KIND[:KEY=VALUE]...")
        })?;
        let mut options = HashMap::new();
        for part in parts {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("invalid option {part:?} in fault rule {text:?}: expected KEY=VALUE")
            })?;
            options.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        let mut options = Options { text, options };
        let fault = parse_fault(kind, &mut options)?;
        let rule = FaultRule {
            step,
            fault,
            marker: options.take("marker"),
            model: options.take("model"),
            nth: options.take_parsed("nth")?,
            times: options.take_parsed("times")?,
            probability: options.take_parsed("p")?,
        };
        options.finish()?;
        rule.validate()?;
        Ok(rule)
    }
}

impl FromStr for FaultRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FaultRule::parse(text)
    }
}

/// Options of one text rule, removed as they are read so leftovers can be
/// reported.
struct Options<'a> {
    text: &'a str,
    options: HashMap<String, String>,
}

impl Options<'_> {
    fn take(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    fn take_parsed<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, String> {
        match self.options.remove(key) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| {
                format!("invalid value {value:?} for {key} in fault rule {:?}", self.text)
            }),
        }
    }

    fn finish(self) -> Result<(), String> {
        let mut keys: Vec<&String> = self.options.keys().collect();
        keys.sort();
        match keys.first() {
            None => Ok(()),
            Some(key) => Err(format!("unknown option {key:?} in fault rule {:?}", self.text)),
        }
    }
}

fn parse_fault(kind: &str, options: &mut Options<'_>) -> Result<Fault, String> {
    if let Ok(status) = kind.parse::<u16>() {
        return Ok(Fault::Http {
            status,
            request_id: options.take_parsed("request_id")?.unwrap_or(true),
            retry_after: options.take_parsed("retry_after")?,
            timeout_user: options.take_parsed("timeout_user")?.unwrap_or(false),
        });
    }
    let fault = match kind {
        "reset" => Fault::Reset,
        "lost_reply" => Fault::LostReply,
        "stall" => {
            let duration = options.take("duration").unwrap_or_else(|| "30s".to_owned());
            let duration = humantime::parse_duration(&duration)
                .map_err(|error| format!("invalid stall duration {duration:?}: {error}"))?;
            Fault::Stall { duration }
        }
        "malformed_json" => Fault::MalformedJson,
        "truncated" => Fault::Truncated,
        "short_no_length" => Fault::ShortNoLength,
        "short_declared" => Fault::ShortDeclared,
        "long_declared" => Fault::LongDeclared,
        "overlong" => Fault::Overlong,
        "expired" => Fault::Expired,
        "cut_stream" => Fault::CutStream,
        "completed_error" => Fault::CompletedError {
            error_type: options.take("error_type").unwrap_or_else(default_completed_error_type),
            error: options.take("error"),
        },
        "result_error" => Fault::ResultError {
            status: options.take_parsed("status")?.unwrap_or_else(default_result_status),
            error_type: options.take("error_type").unwrap_or_else(default_result_error_type),
        },
        "stuck" => Fault::Stuck,
        _ => return Err(format!("unknown fault kind {kind:?} in fault rule {:?}", options.text)),
    };
    Ok(fault)
}

/// Markers found in a prompt.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Markers {
    /// Names from `[fault:NAME]`, matched against rules' `marker` field.
    pub(crate) names: Vec<String>,
    /// Rules from `[fault:SPEC]`, with SPEC as written (the key of their
    /// counters).
    pub(crate) inline: Vec<(String, FaultRule)>,
}

/// Extracts the `[fault:...]` markers of a prompt.
pub(crate) fn parse_markers(prompt: &str) -> Result<Markers, String> {
    const OPEN: &str = "[fault:";
    let mut markers = Markers::default();
    let mut rest = prompt;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let end = after.find(']').ok_or_else(|| {
            format!("invalid fault marker in prompt: '{OPEN}' without a closing ']'")
        })?;
        let body = after[..end].trim();
        if body.contains(':') {
            let rule = FaultRule::parse(body)?;
            if rule.marker.is_some() {
                return Err(format!(
                    "invalid fault marker [fault:{body}]: inline rules take no marker"
                ));
            }
            markers.inline.push((body.to_owned(), rule));
        } else if body.is_empty() {
            return Err("invalid fault marker [fault:]: give a name or a rule".to_owned());
        } else {
            markers.names.push(body.to_owned());
        }
        rest = &after[end + 1..];
    }
    Ok(markers)
}

/// Request counts of one rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounts {
    /// Matching requests that reached the rule.
    pub seen: u64,
    /// Requests the rule fired on.
    pub fired: u64,
}

/// A rule with its counts, as listed by `GET /_mock/faults`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    /// The rule.
    pub rule: FaultRule,
    /// Its counts so far.
    pub counts: RuleCounts,
}

/// Facts about a request, for matching rules.
pub(crate) struct RequestFacts<'a> {
    pub(crate) step: Step,
    pub(crate) model: Option<&'a str>,
    pub(crate) markers: Option<&'a Markers>,
    /// Key of the counters of inline rules: the input key for `submit` and
    /// `job`, the request id otherwise.
    pub(crate) scope: Option<&'a str>,
}

/// Rules in force and their counters.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    rules: Vec<(FaultRule, RuleCounts)>,
    inline_counts: HashMap<(String, String), RuleCounts>,
}

impl FaultTable {
    pub(crate) fn new(rules: &[FaultRule]) -> Self {
        FaultTable {
            rules: rules.iter().map(|rule| (rule.clone(), RuleCounts::default())).collect(),
            inline_counts: HashMap::new(),
        }
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push((rule, RuleCounts::default()));
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.inline_counts.clear();
    }

    pub(crate) fn list(&self) -> Vec<RuleStatus> {
        self.rules
            .iter()
            .map(|(rule, counts)| RuleStatus { rule: rule.clone(), counts: *counts })
            .collect()
    }

    /// Returns the fault of the first rule that fires on this request, trying
    /// the request's inline rules first, and updates the counters.
    pub(crate) fn pick(&mut self, facts: &RequestFacts<'_>, rng: &mut impl Rng) -> Option<Fault> {
        if let (Some(markers), Some(scope)) = (facts.markers, facts.scope) {
            for (spec, rule) in &markers.inline {
                if rule.step != facts.step || !model_matches(rule, facts.model) {
                    continue;
                }
                let key = (scope.to_owned(), spec.clone());
                let counts = self.inline_counts.entry(key).or_default();
                if fires(rule, counts, rng) {
                    return Some(rule.fault.clone());
                }
            }
        }
        for (rule, counts) in &mut self.rules {
            if rule.step != facts.step || !model_matches(rule, facts.model) {
                continue;
            }
            if let Some(marker) = &rule.marker {
                let tagged = facts.markers.is_some_and(|markers| markers.names.contains(marker));
                if !tagged {
                    continue;
                }
            }
            if fires(rule, counts, rng) {
                return Some(rule.fault.clone());
            }
        }
        None
    }
}

fn model_matches(rule: &FaultRule, model: Option<&str>) -> bool {
    match (&rule.model, model) {
        (None, _) => true,
        (Some(prefix), Some(model)) => model.starts_with(prefix.as_str()),
        (Some(_), None) => false,
    }
}

/// Counts one matching request and decides whether the rule fires on it.
fn fires(rule: &FaultRule, counts: &mut RuleCounts, rng: &mut impl Rng) -> bool {
    counts.seen += 1;
    if rule.nth.is_some_and(|nth| nth != counts.seen) {
        return false;
    }
    if rule.times.is_some_and(|times| counts.fired >= times) {
        return false;
    }
    if let Some(probability) = rule.probability
        && rng.random::<f64>() >= probability
    {
        return false;
    }
    counts.fired += 1;
    true
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn parse_http_rule_with_options() {
        let rule = FaultRule::parse("submit:503:request_id=false:times=2").unwrap();
        assert_eq!(rule.step, Step::Submit);
        assert_eq!(
            rule.fault,
            Fault::Http { status: 503, request_id: false, retry_after: None, timeout_user: false }
        );
        assert_eq!(rule.times, Some(2));
        assert_eq!(rule.nth, None);
    }

    #[test]
    fn parse_named_faults() {
        let rule = FaultRule::parse("status:stall:duration=2s:nth=3").unwrap();
        assert_eq!(rule.fault, Fault::Stall { duration: Duration::from_secs(2) });
        assert_eq!(rule.nth, Some(3));
        let rule = FaultRule::parse("job:completed_error").unwrap();
        assert_eq!(
            rule.fault,
            Fault::CompletedError { error_type: "runner_disconnected".to_owned(), error: None }
        );
        let rule = FaultRule::parse("file-get:truncated:p=0.5").unwrap();
        assert_eq!(rule.step, Step::FileGet);
        assert_eq!(rule.probability, Some(0.5));
    }

    #[test]
    fn parse_rejects_bad_rules() {
        let cases = [
            ("nowhere:500", "invalid fault step"),
            ("status", "expected STEP:KIND"),
            ("status:bogus", "unknown fault kind"),
            ("status:500:colour=red", "unknown option"),
            ("status:500:nth=x", "invalid value"),
            ("status:stuck", "cannot happen at step"),
            ("job:500", "cannot be a job outcome"),
            ("result:cut_stream", "cannot happen"),
            ("status:700", "choose 400 to 599"),
            ("status:500:nth=0", "counted from 1"),
            ("status:500:p=2", "choose 0 to 1"),
        ];
        for (text, expected) in cases {
            let error = FaultRule::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn rule_json_accepts_object_and_text() {
        let json = r#"[
            {"step": "result", "fault": {"kind": "http", "status": 500}, "nth": 2},
            "cancel:reset"
        ]"#;
        let rules: Vec<FaultRule> = serde_json::from_str(json).unwrap();
        assert_eq!(rules[0].step, Step::Result);
        assert_eq!(
            rules[0].fault,
            Fault::Http { status: 500, request_id: true, retry_after: None, timeout_user: false }
        );
        assert_eq!(rules[1], FaultRule::new(Step::Cancel, Fault::Reset));
        let back: Vec<FaultRule> =
            serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
        assert_eq!(back, rules);
    }

    #[test]
    fn rule_json_rejects_misplaced_fault() {
        let json = r#"{"step": "status", "fault": {"kind": "stuck"}}"#;
        assert!(serde_json::from_str::<FaultRule>(json).is_err());
    }

    #[test]
    fn markers_split_names_and_inline_rules() {
        let markers =
            parse_markers("a calm dissolve [fault:slow] [fault:status:502:times=1]").unwrap();
        assert_eq!(markers.names, ["slow"]);
        assert_eq!(markers.inline.len(), 1);
        assert_eq!(markers.inline[0].0, "status:502:times=1");
        assert!(parse_markers("[fault:status:nope]").is_err());
        assert!(parse_markers("[fault:status:500").is_err());
        assert_eq!(parse_markers("no markers here").unwrap(), Markers::default());
    }

    #[test]
    fn table_counts_nth_and_times() {
        let mut rng = StdRng::seed_from_u64(1);
        let rules = [
            FaultRule::new(Step::Status, Fault::Reset).nth(2),
            FaultRule::new(Step::Status, Fault::Expired).times(1),
        ];
        let mut table = FaultTable::new(&rules);
        let facts = RequestFacts { step: Step::Status, model: None, markers: None, scope: None };
        let picks: Vec<Option<Fault>> = (0..4).map(|_| table.pick(&facts, &mut rng)).collect();
        assert_eq!(picks, [Some(Fault::Expired), Some(Fault::Reset), None, None]);
        let listed = table.list();
        assert_eq!(listed[0].counts, RuleCounts { seen: 4, fired: 1 });
        assert_eq!(listed[1].counts, RuleCounts { seen: 3, fired: 1 });
    }

    #[test]
    fn table_matches_markers_and_models() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut rule = FaultRule::new(Step::Result, Fault::Expired).with_marker("gone");
        rule.model = Some("fal-ai/vidu".to_owned());
        let mut table = FaultTable::new(&[rule]);
        let tagged = parse_markers("[fault:gone]").unwrap();
        let untagged = Markers::default();
        let facts = |model, markers| RequestFacts {
            step: Step::Result,
            model: Some(model),
            markers: Some(markers),
            scope: Some("id"),
        };
        assert_eq!(table.pick(&facts("fal-ai/vidu/start-end-to-video", &untagged), &mut rng), None);
        assert_eq!(table.pick(&facts("fal-ai/wan-flf2v", &tagged), &mut rng), None);
        assert_eq!(
            table.pick(&facts("fal-ai/vidu/start-end-to-video", &tagged), &mut rng),
            Some(Fault::Expired)
        );
    }

    #[test]
    fn inline_rules_count_per_scope() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut table = FaultTable::default();
        let markers = parse_markers("[fault:status:500:times=1]").unwrap();
        let facts = |scope| RequestFacts {
            step: Step::Status,
            model: None,
            markers: Some(&markers),
            scope: Some(scope),
        };
        assert!(table.pick(&facts("job-a"), &mut rng).is_some());
        assert_eq!(table.pick(&facts("job-a"), &mut rng), None);
        assert!(table.pick(&facts("job-b"), &mut rng).is_some());
    }

    #[test]
    fn probability_zero_never_fires() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut rule = FaultRule::new(Step::FileGet, Fault::Truncated);
        rule.probability = Some(0.0);
        let mut table = FaultTable::new(&[rule]);
        let facts = RequestFacts { step: Step::FileGet, model: None, markers: None, scope: None };
        assert!((0..50).all(|_| table.pick(&facts, &mut rng).is_none()));
    }
}
