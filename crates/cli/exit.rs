//! Exit codes and the error type that selects exit code 2.

/// Process exit codes, documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitCode {
    /// Every job succeeded (or the command had nothing to run).
    Success = 0,
    /// At least one job failed, timed out or was cancelled.
    JobsFailed = 1,
    /// Invalid arguments or input (a missing file, a bad value, a bad
    /// manifest); nothing was queued.
    Usage = 2,
    /// The history database or the file system failed.
    Internal = 3,
    /// Interrupted with Ctrl-C; unfinished jobs wait for `segue resume`.
    Interrupted = 130,
}

/// An error the user can fix by changing the command or its input.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Picks the exit code for an error that ended the command.
pub(crate) fn code_for(err: &anyhow::Error) -> ExitCode {
    let is_usage = err.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<segue_engine::EnqueueError>()
            || cause.is::<segue_engine::intake::IntakeError>()
            || matches!(
                cause.downcast_ref::<segue_engine::StoreError>(),
                Some(
                    segue_engine::StoreError::NotFound(_) | segue_engine::StoreError::Ambiguous(_)
                )
            )
    });
    if is_usage { ExitCode::Usage } else { ExitCode::Internal }
}

/// Formats an error and its causes on one line, leaving out a cause whose
/// text the message before it already contains (many errors quote their
/// cause, and `{:#}` would print it twice).
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
