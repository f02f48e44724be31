//! SQLite history: transitions, jobs and their attempts.
//!
//! The queue is the only writer of job state. Every state change is one short
//! write, committed before the queue acts on it. Several processes (the
//! desktop app and any number of `segue` commands) may have the same file
//! open: the database runs in WAL mode with a busy timeout, transactions that
//! write start with `BEGIN IMMEDIATE` so that they never fail on a lock
//! upgrade, and every write is retried while SQLite reports the file busy.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqlitePool, sqlite::SqliteRow};

use crate::job::{ErrorKind, JobId, JobSpec, JobState, Stage};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long one statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a write is tried again after SQLite still reports busy.
const BUSY_RETRIES: u32 = 20;
/// Error text of a job whose hosted submit outcome is unknown.
pub const SUBMIT_UNKNOWN_MESSAGE: &str = "the connection or the process stopped while the request \
     was being submitted, so whether the provider accepted (and bills) it is unknown; check the \
     provider's dashboard, then run `segue retry` to submit it again";

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or migrating the database failed.
    #[error("cannot open the history database {path}: {source}", path = path.display())]
    Open {
        /// Database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("cannot update the history database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("history database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored job spec is not valid JSON for this version.
    #[error("job {id} has an unreadable settings snapshot: {source}")]
    Spec {
        /// Job id.
        id: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// No job matches an id or id prefix.
    #[error("no job with id {0:?}; `segue history` lists job ids")]
    NotFound(String),
    /// An id prefix matches several jobs.
    #[error("job id prefix {0:?} matches several jobs; give more characters")]
    Ambiguous(String),
}

/// Facts about a finished clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutputInfo {
    /// Final path of the clip.
    pub path: PathBuf,
    /// File size in bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
    /// Duration in seconds, from the MP4's video track.
    pub duration_s: f64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Number of frames.
    pub frames: u32,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// One job as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobRecord {
    /// Job id.
    pub id: JobId,
    /// Position in the FIFO order.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: i64,
    /// Dispatch priority: within a provider, queued jobs start by priority
    /// (highest first) and then by `seq`. 0 unless `run_next` raised it.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub priority: i64,
    /// Provider name.
    pub provider: String,
    /// Current state.
    pub state: JobState,
    /// Step of a running attempt.
    pub stage: Option<Stage>,
    /// Fraction of the current stage done, 0 to 1.
    pub progress: f64,
    /// Attempts started.
    pub attempt: u32,
    /// Attempts that ended in an error and count against `max_attempts`.
    pub charged_attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// Soft time limit per attempt, in milliseconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub soft_limit_ms: u64,
    /// Hard time limit per attempt, in milliseconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub hard_limit_ms: u64,
    /// Settings snapshot taken at enqueue time.
    pub spec: JobSpec,
    /// Reserved path of the finished clip.
    pub output_path: PathBuf,
    /// Process that owns the job.
    pub runner_id: Option<String>,
    /// Whether a cancel was requested from another process.
    pub cancel_requested: bool,
    /// When a retrying job may run again (Unix ms).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub next_attempt_at: Option<i64>,
    /// Class of the last error.
    pub error_kind: Option<String>,
    /// Text of the last error.
    pub error_message: Option<String>,
    /// Hosted provider's request id.
    pub provider_request_id: Option<String>,
    /// Unix ms at which a hosted submit started and had no reply yet.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub submit_started_at: Option<i64>,
    /// Hosted provider's result JSON, stored as soon as it was fetched.
    pub provider_result: Option<String>,
    /// Estimated price in US dollars.
    pub price_estimate_usd: Option<f64>,
    /// Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: i64,
    /// Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub updated_at: i64,
    /// Unix ms of the first attempt's start.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub started_at: Option<i64>,
    /// Unix ms of reaching a terminal state.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub finished_at: Option<i64>,
    /// The finished clip, once the job succeeded.
    pub output: Option<OutputInfo>,
}

/// One attempt of a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub number: u32,
    /// `running`, `succeeded`, `failed`, `retrying`, `timed_out`,
    /// `cancelled` or `interrupted`.
    pub outcome: String,
    /// Process that ran it.
    pub runner_id: String,
    /// Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub started_at: i64,
    /// Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub finished_at: Option<i64>,
    /// Class of its error.
    pub error_kind: Option<String>,
    /// Text of its error.
    pub error_message: Option<String>,
    /// Hosted provider's request id.
    pub provider_request_id: Option<String>,
}

/// Fields of a new job besides its spec.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Job id (also the transition id).
    pub id: JobId,
    /// Validated settings.
    pub spec: JobSpec,
    /// Final clip path, already made unique.
    pub output_path: PathBuf,
    /// Attempt budget.
    pub max_attempts: u32,
    /// Soft time limit per attempt.
    pub soft_limit: Duration,
    /// Hard time limit per attempt.
    pub hard_limit: Duration,
    /// Owning process.
    pub runner_id: String,
    /// Estimated price in US dollars, when known.
    pub price_estimate_usd: Option<f64>,
}

/// Outcome of an attempt that did not succeed.
#[derive(Clone, Debug)]
pub struct AttemptFailure {
    /// State the job moves to.
    pub state: JobState,
    /// Attempt outcome as stored in `attempts.outcome`.
    pub outcome: &'static str,
    /// Class of the error.
    pub kind: ErrorKind,
    /// Text of the error.
    pub message: String,
    /// Whether the attempt counts against the budget.
    pub charged: bool,
    /// For `Retrying`: when the next attempt may start (Unix ms).
    pub next_attempt_at: Option<i64>,
}

/// Settings a retried job runs with.
#[derive(Clone, Debug)]
pub struct RetryReset {
    /// Attempts allowed on top of those already used.
    pub extra_attempts: u32,
    /// Soft time limit per attempt.
    pub soft_limit: Duration,
    /// Hard time limit per attempt.
    pub hard_limit: Duration,
    /// Output path, moved to a free name when the old one is now taken.
    pub output_path: PathBuf,
}

/// Filters for [`Store::list_jobs`] and [`Store::count_jobs`]. Every field
/// left at its default matches all jobs.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only jobs in one of these states (all when empty).
    pub states: Vec<JobState>,
    /// Only this transition type (canonical name).
    pub kind: Option<String>,
    /// Only this provider.
    pub provider: Option<String>,
    /// Only this model id.
    pub model: Option<String>,
    /// Only jobs created at or after this Unix ms.
    pub since_ms: Option<i64>,
    /// Only jobs created before this Unix ms.
    pub until_ms: Option<i64>,
    /// Only jobs whose name contains this text, with ASCII letters in any
    /// case. Like `search`, it reads the whole transitions table.
    pub name_contains: Option<String>,
    /// Only jobs where this text occurs in the name, the prompt, the hosted
    /// request id or the front or tail image path, or starts the job id
    /// (with or without dashes). ASCII letters match in any case. Other
    /// letters match only in the same case, because SQLite's LIKE folds
    /// ASCII only. Leading and trailing spaces are ignored, and an empty
    /// text matches all jobs. Unlike the other filters, a search uses no
    /// index: it reads the whole transitions table and every job row that
    /// the other filters leave.
    pub search: Option<String>,
    /// At most this many rows (all when `None`).
    pub limit: Option<u32>,
    /// Rows skipped before the first one returned, for paging.
    pub offset: Option<u32>,
}

impl JobFilter {
    /// Appends `WHERE` and this filter's conditions on the jobs table `j`.
    /// Only the fixed state names of [`JobState`] are written into the SQL
    /// text, and every value from the caller is bound. Conditions for unset
    /// fields are left out, so that SQLite can choose an index for the
    /// ones present.
    fn push_where(&self, query: &mut QueryBuilder<Sqlite>) {
        query.push(" WHERE 1 = 1");
        if !self.states.is_empty() {
            let names: Vec<String> =
                self.states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            query.push(format!(" AND j.state IN ({})", names.join(", ")));
        }

        if let Some(kind) = &self.kind {
            query.push(" AND j.kind = ").push_bind(kind.clone());
        }
        if let Some(provider) = &self.provider {
            query.push(" AND j.provider = ").push_bind(provider.clone());
        }
        if let Some(model) = &self.model {
            query.push(" AND j.model = ").push_bind(model.clone());
        }
        if let Some(since) = self.since_ms {
            query.push(" AND j.created_at >= ").push_bind(since);
        }
        if let Some(until) = self.until_ms {
            query.push(" AND j.created_at < ").push_bind(until);
        }

        // SQLite's LIKE ignores case for ASCII letters only. The transition
        // columns are matched in a subquery that scans the transitions
        // table once, which is cheaper than joining every job with its
        // transition.
        if let Some(name) = &self.name_contains {
            query.push(" AND j.transition_id IN (SELECT id FROM transitions WHERE name LIKE ");
            query.push_bind(format!("%{}%", like_escape(name))).push(" ESCAPE '\\')");
        }

        if let Some(text) = self.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let anywhere = format!("%{}%", like_escape(text));
            let prefix = format!("{}%", like_escape(text));
            query.push(" AND (j.transition_id IN (SELECT id FROM transitions WHERE ");
            for (i, column) in ["name", "prompt", "front_path", "tail_path"].iter().enumerate() {
                if i > 0 {
                    query.push(" OR ");
                }
                query.push(format!("{column} LIKE ")).push_bind(anywhere.clone());
                query.push(" ESCAPE '\\'");
            }
            query.push(") OR j.provider_request_id LIKE ").push_bind(anywhere);
            query.push(" ESCAPE '\\'");
            // Ids are stored as hyphenated UUIDs, and `history` shows them
            // without dashes.
            query.push(" OR j.id LIKE ").push_bind(prefix.clone()).push(" ESCAPE '\\'");
            query.push(" OR replace(j.id, '-', '') LIKE ").push_bind(prefix);
            query.push(" ESCAPE '\\')");
        }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Number of jobs in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "StoreStateCounts"))]
pub struct StateCounts {
    /// Jobs waiting for a slot.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub queued: u64,
    /// Jobs with an attempt under way.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub running: u64,
    /// Jobs waiting out a retry backoff.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub retrying: u64,
    /// Jobs whose clip is done.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub succeeded: u64,
    /// Jobs that failed.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub failed: u64,
    /// Jobs cancelled by the user.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub cancelled: u64,
    /// Jobs that passed a time limit.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub timed_out: u64,
    /// Hosted jobs whose result expired before download.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub remote_expired: u64,
    /// Hosted jobs whose submit outcome is unknown.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub submit_unknown: u64,
}

impl StateCounts {
    /// Returns the count of one state.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Queued => self.queued,
            JobState::Running => self.running,
            JobState::Retrying => self.retrying,
            JobState::Succeeded => self.succeeded,
            JobState::Failed => self.failed,
            JobState::Cancelled => self.cancelled,
            JobState::TimedOut => self.timed_out,
            JobState::RemoteExpired => self.remote_expired,
            JobState::SubmitUnknown => self.submit_unknown,
        }
    }

    fn get_mut(&mut self, state: JobState) -> &mut u64 {
        match state {
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Retrying => &mut self.retrying,
            JobState::Succeeded => &mut self.succeeded,
            JobState::Failed => &mut self.failed,
            JobState::Cancelled => &mut self.cancelled,
            JobState::TimedOut => &mut self.timed_out,
            JobState::RemoteExpired => &mut self.remote_expired,
            JobState::SubmitUnknown => &mut self.submit_unknown,
        }
    }

    /// Returns the number of jobs in all states.
    pub fn total(&self) -> u64 {
        JobState::ALL.iter().map(|&state| self.get(state)).sum()
    }
}

/// Yields `(state, count)` for every state, in [`JobState::ALL`] order.
impl IntoIterator for StateCounts {
    type Item = (JobState, u64);
    type IntoIter = std::array::IntoIter<(JobState, u64), 9>;

    fn into_iter(self) -> Self::IntoIter {
        JobState::ALL.map(|state| (state, self.get(state))).into_iter()
    }
}

/// Handle on the history database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

/// Returns the current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|err| StoreError::Open {
                path: path.to_path_buf(),
                source: sqlx::Error::Io(err),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit, so a stored request id or
            // state change survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        // Two processes opening a new database at once would both try to
        // create the schema, and sqlx takes no lock for SQLite. An OS lock
        // next to the file lets one migrate while the other waits.
        let lock_path = path.with_extension("db.migrate-lock");
        let open_err =
            |err| StoreError::Open { path: lock_path.clone(), source: sqlx::Error::Io(err) };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(open_err)?;
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .map_err(|join| open_err(std::io::Error::other(join)))?
            .map_err(open_err)?;
        let migrated =
            retry_busy(|| async { MIGRATOR.run(&pool).await.map_err(StoreError::from) }).await;
        let _ = lock.unlock();
        migrated?;
        Ok(Self { pool, path: path.to_path_buf() })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Underlying pool, for read-only queries in tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Stores the transitions and queued jobs of `jobs` in one transaction.
    pub async fn insert_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for job in jobs {
                insert_one(&mut tx, job).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Moves a queued job owned by `runner_id` to running and opens attempt
    /// `attempt + 1`. Returns the new attempt number, or `None` when the job
    /// is no longer queued (cancelled from elsewhere, say).
    pub async fn start_attempt(
        &self,
        id: JobId,
        runner_id: &str,
    ) -> Result<Option<u32>, StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let now = now_ms();
            let row = sqlx::query(
                "UPDATE jobs SET state = 'running', stage = 'preparing', progress = 0,
                    attempt = attempt + 1, started_at = COALESCE(started_at, ?1),
                    updated_at = ?1, next_attempt_at = NULL
                 WHERE id = ?2 AND state = 'queued' AND runner_id = ?3 AND cancel_requested = 0
                 RETURNING attempt, provider_request_id",
            )
            .bind(now)
            .bind(id.to_string())
            .bind(runner_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let attempt: i64 = row.get(0);
            let request_id: Option<String> = row.get(1);
            sqlx::query(
                "INSERT INTO attempts (job_id, number, outcome, runner_id, started_at, provider_request_id)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
            )
            .bind(id.to_string())
            .bind(attempt)
            .bind(runner_id)
            .bind(now)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(attempt as u32))
        })
        .await
    }

    /// Records the stage and progress of a running job.
    pub async fn set_stage(
        &self,
        id: JobId,
        stage: Stage,
        progress: f64,
    ) -> Result<(), StoreError> {
        retry_busy(|| async {
            sqlx::query(
                "UPDATE jobs SET stage = ?1, progress = ?2, updated_at = ?3
                 WHERE id = ?4 AND state = 'running'",
            )
            .bind(stage.as_str())
            .bind(progress)
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Journals that a hosted submit request is about to be sent.
    pub async fn set_submitting(&self, id: JobId) -> Result<(), StoreError> {
        retry_busy(|| async {
            let now = now_ms();
            sqlx::query(
                "UPDATE jobs SET submit_started_at = ?1, stage = 'submitting', updated_at = ?1
                 WHERE id = ?2",
            )
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Closes the submit journal entry of a job whose submit the provider
    /// rejected, so that no submit counts as in flight.
    pub async fn clear_submitting(&self, id: JobId) -> Result<(), StoreError> {
        retry_busy(|| async {
            sqlx::query(
                "UPDATE jobs SET submit_started_at = NULL, updated_at = ?1
                 WHERE id = ?2 AND provider_request_id IS NULL",
            )
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Stores a hosted provider's result JSON.
    pub async fn set_provider_result(&self, id: JobId, result: &str) -> Result<(), StoreError> {
        retry_busy(|| async {
            sqlx::query("UPDATE jobs SET provider_result = ?1, updated_at = ?2 WHERE id = ?3")
                .bind(result)
                .bind(now_ms())
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    /// Records a hosted provider's request id on the job and the attempt,
    /// and closes the submit journal entry.
    pub async fn set_request_id(
        &self,
        id: JobId,
        attempt: u32,
        request_id: &str,
    ) -> Result<(), StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(
                "UPDATE jobs SET provider_request_id = ?1, submit_started_at = NULL, updated_at = ?2
                 WHERE id = ?3",
            )
                .bind(request_id)
                .bind(now_ms())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE attempts SET provider_request_id = ?1 WHERE job_id = ?2 AND number = ?3",
            )
            .bind(request_id)
            .bind(id.to_string())
            .bind(attempt)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Closes a successful attempt and records the clip.
    pub async fn finish_succeeded(
        &self,
        id: JobId,
        attempt: u32,
        output: &OutputInfo,
    ) -> Result<(), StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let now = now_ms();
            sqlx::query(
                "UPDATE jobs SET state = 'succeeded', stage = NULL, progress = 1, updated_at = ?1,
                    finished_at = ?1, error_kind = NULL, error_message = NULL,
                    submit_started_at = NULL, output_path = ?2, output_bytes = ?3, output_duration_s = ?4, output_width = ?5,
                    output_height = ?6, output_fps = ?7, output_frames = ?8, output_sha256 = ?9
                 WHERE id = ?10",
            )
            .bind(now)
            .bind(path_text(&output.path))
            .bind(output.bytes as i64)
            .bind(output.duration_s)
            .bind(output.width)
            .bind(output.height)
            .bind(output.fps)
            .bind(output.frames)
            .bind(&output.sha256)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            close_attempt(&mut tx, id, attempt, "succeeded", None, None, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Closes an attempt that did not succeed and moves the job to
    /// `failure.state`.
    pub async fn finish_failed(
        &self,
        id: JobId,
        attempt: u32,
        failure: &AttemptFailure,
    ) -> Result<(), StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let now = now_ms();
            let finished_at = failure.state.is_terminal().then_some(now);
            sqlx::query(
                "UPDATE jobs SET state = ?1, stage = NULL, updated_at = ?2, finished_at = ?3,
                    error_kind = ?4, error_message = ?5, next_attempt_at = ?6,
                    charged_attempts = charged_attempts + ?7, submit_started_at = NULL
                 WHERE id = ?8",
            )
            .bind(failure.state.as_str())
            .bind(now)
            .bind(finished_at)
            .bind(failure.kind.as_str())
            .bind(&failure.message)
            .bind(failure.next_attempt_at)
            .bind(i64::from(failure.charged))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            close_attempt(
                &mut tx,
                id,
                attempt,
                failure.outcome,
                Some(failure.kind.as_str()),
                Some(&failure.message),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Moves a retrying job back to queued once its backoff ended. Returns
    /// false when it is no longer retrying.
    pub async fn requeue(&self, id: JobId) -> Result<bool, StoreError> {
        retry_busy(|| async {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'queued', updated_at = ?1
                 WHERE id = ?2 AND state = 'retrying' AND cancel_requested = 0",
            )
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Cancels a job that is not running (queued or retrying). Returns false
    /// when it was in another state.
    pub async fn cancel_waiting(&self, id: JobId) -> Result<bool, StoreError> {
        retry_busy(|| async {
            let now = now_ms();
            let done = sqlx::query(
                "UPDATE jobs SET state = 'cancelled', stage = NULL, updated_at = ?1, finished_at = ?1,
                    error_kind = 'cancelled', error_message = 'cancelled by the user'
                 WHERE id = ?2 AND state IN ('queued', 'retrying')",
            )
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Flags a running job for cancellation by the process that runs it.
    pub async fn request_cancel(&self, id: JobId) -> Result<bool, StoreError> {
        retry_busy(|| async {
            let done = sqlx::query(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ?1
                 WHERE id = ?2 AND state IN ('queued', 'running', 'retrying')",
            )
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Lists the unfinished jobs of `runner_id` that another process asked to
    /// cancel.
    pub async fn cancel_requests(&self, runner_id: &str) -> Result<Vec<JobId>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM jobs WHERE runner_id = ?1 AND cancel_requested = 1
               AND state IN ('queued', 'running', 'retrying')",
        )
        .bind(runner_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(|row| row.get::<String, _>(0).parse().ok()).collect())
    }

    /// Lists the runner ids that own unfinished jobs, other than `me`.
    pub async fn other_runners(&self, me: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT runner_id FROM jobs
             WHERE state IN ('queued', 'running', 'retrying') AND runner_id IS NOT NULL AND runner_id != ?1",
        )
        .bind(me)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect())
    }

    /// Takes over the unfinished jobs of a runner that is no longer alive.
    /// A job that died with a hosted submit in flight and no request id
    /// moves to `submit_unknown` instead, because submitting it again could
    /// pay twice. Other running attempts are closed as interrupted (not
    /// charged) and their jobs queued again; retrying jobs keep their
    /// backoff. Returns the ids taken over.
    pub async fn adopt(&self, dead_runner: &str, me: &str) -> Result<Vec<JobId>, StoreError> {
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let now = now_ms();
            sqlx::query(
                "UPDATE attempts SET outcome = 'submit_unknown', finished_at = ?1,
                    error_kind = 'submit_unknown', error_message = ?3
                 WHERE outcome = 'running' AND job_id IN
                   (SELECT id FROM jobs WHERE runner_id = ?2 AND state = 'running'
                      AND submit_started_at IS NOT NULL AND provider_request_id IS NULL)",
            )
            .bind(now)
            .bind(dead_runner)
            .bind(SUBMIT_UNKNOWN_MESSAGE)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE jobs SET state = 'submit_unknown', stage = NULL, updated_at = ?1,
                    finished_at = ?1, error_kind = 'submit_unknown', error_message = ?3
                 WHERE runner_id = ?2 AND state = 'running'
                   AND submit_started_at IS NOT NULL AND provider_request_id IS NULL",
            )
            .bind(now)
            .bind(dead_runner)
            .bind(SUBMIT_UNKNOWN_MESSAGE)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE attempts SET outcome = 'interrupted', finished_at = ?1,
                    error_kind = 'interrupted',
                    error_message = 'the process running this attempt stopped'
                 WHERE outcome = 'running' AND job_id IN
                   (SELECT id FROM jobs WHERE runner_id = ?2 AND state = 'running')",
            )
            .bind(now)
            .bind(dead_runner)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query(
                "UPDATE jobs SET runner_id = ?1, updated_at = ?2,
                    state = CASE state WHEN 'running' THEN 'queued' ELSE state END,
                    stage = NULL, progress = 0
                 WHERE runner_id = ?3 AND state IN ('queued', 'running', 'retrying')
                 RETURNING id",
            )
            .bind(me)
            .bind(now)
            .bind(dead_runner)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.iter().filter_map(|row| row.get::<String, _>(0).parse().ok()).collect())
        })
        .await
    }

    /// Queues a failed, timed-out, cancelled, expired or unknown-submit job
    /// again under `me`, with `retry.extra_attempts` more attempts than it
    /// has used, the given time limits and output path. A hosted job is
    /// submitted anew: its old request id and result are cleared. The job
    /// returns to FIFO order at its old `seq` with priority 0. Returns
    /// false when the job is unfinished or succeeded.
    pub async fn reset_for_retry(
        &self,
        id: JobId,
        me: &str,
        retry: &RetryReset,
    ) -> Result<bool, StoreError> {
        retry_busy(|| async {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'queued', stage = NULL, progress = 0, runner_id = ?1,
                    cancel_requested = 0, max_attempts = charged_attempts + ?2, finished_at = NULL,
                    next_attempt_at = NULL, updated_at = ?3, provider_request_id = NULL,
                    provider_result = NULL, submit_started_at = NULL, soft_limit_ms = ?4,
                    hard_limit_ms = ?5, output_path = ?6, priority = 0
                 WHERE id = ?7 AND state NOT IN ('queued', 'running', 'retrying', 'succeeded')",
            )
            .bind(me)
            .bind(retry.extra_attempts)
            .bind(now_ms())
            .bind(retry.soft_limit.as_millis() as i64)
            .bind(retry.hard_limit.as_millis() as i64)
            .bind(path_text(&retry.output_path))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Returns whether a job other than `except` reserved `path` as its
    /// output and is unfinished or succeeded.
    pub async fn output_path_taken_by_other(
        &self,
        path: &Path,
        except: JobId,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM jobs WHERE output_path = ?1 AND id != ?2
               AND state IN ('queued', 'running', 'retrying', 'succeeded')
             LIMIT 1",
        )
        .bind(path_text(path))
        .bind(except.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Returns whether an unfinished or succeeded job already reserved
    /// `path` as its output.
    pub async fn output_path_taken(&self, path: &Path) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM jobs WHERE output_path = ?1
               AND state IN ('queued', 'running', 'retrying', 'succeeded')
             LIMIT 1",
        )
        .bind(path_text(path))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Loads one job by full id.
    pub async fn job(&self, id: JobId) -> Result<JobRecord, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("{JOB_SELECT} WHERE j.id = ?1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        job_from_row(&row)
    }

    /// Finds one job by full id or unique prefix (with or without dashes).
    pub async fn find_job(&self, id_or_prefix: &str) -> Result<JobRecord, StoreError> {
        let prefix = id_or_prefix.trim().to_ascii_lowercase();
        if let Ok(id) = JobId::from_str(&prefix) {
            return self.job(id).await;
        }
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{JOB_SELECT} WHERE j.id LIKE ?1 OR replace(j.id, '-', '') LIKE ?1 LIMIT 2"
        )))
        .bind(&pattern)
        .fetch_all(&self.pool)
        .await?;
        match rows.as_slice() {
            [] => Err(StoreError::NotFound(id_or_prefix.to_string())),
            [row] => job_from_row(row),
            _ => Err(StoreError::Ambiguous(id_or_prefix.to_string())),
        }
    }

    /// Lists the jobs that match `filter`, newest first: by creation time,
    /// then by `seq` for jobs created in the same millisecond.
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, StoreError> {
        // The page is picked from the jobs table alone, where an index can
        // cover the filter and the order, and only its rows are joined with
        // their transitions. Skipped rows of a large offset are never read
        // in full.
        let mut query = QueryBuilder::<Sqlite>::new(JOB_SELECT);
        query.push(" WHERE j.seq IN (SELECT j.seq FROM jobs j");
        filter.push_where(&mut query);
        query.push(format!(" {HISTORY_ORDER} LIMIT "));
        query.push_bind(filter.limit.map(i64::from).unwrap_or(-1));
        query.push(" OFFSET ").push_bind(i64::from(filter.offset.unwrap_or(0)));
        query.push(format!(") {HISTORY_ORDER}"));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Counts the jobs that match `filter`, ignoring its `limit` and
    /// `offset`.
    pub async fn count_jobs(&self, filter: &JobFilter) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM jobs j");
        filter.push_where(&mut query);
        let row = query.build().fetch_one(&self.pool).await?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    /// Counts all jobs by state.
    pub async fn state_counts(&self) -> Result<StateCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = StateCounts::default();
        for row in &rows {
            let name: String = row.get(0);
            match name.parse::<JobState>() {
                Ok(state) => *counts.get_mut(state) = row.get::<i64, _>(1) as u64,
                Err(err) => tracing::warn!(error = %err, "unknown job state in the history"),
            }
        }
        Ok(counts)
    }

    /// Raises a queued job of `runner_id` above every other unfinished job
    /// of its provider, so that it starts next. Returns the new priority, or
    /// `None` when the job is not queued or belongs to another process.
    pub async fn prioritize(&self, id: JobId, runner_id: &str) -> Result<Option<i64>, StoreError> {
        retry_busy(|| async {
            let row = sqlx::query(
                "UPDATE jobs SET updated_at = ?1, priority = 1 +
                    (SELECT COALESCE(MAX(other.priority), 0) FROM jobs other
                     WHERE other.provider = jobs.provider
                       AND other.state IN ('queued', 'running', 'retrying'))
                 WHERE id = ?2 AND state = 'queued' AND runner_id = ?3
                 RETURNING priority",
            )
            .bind(now_ms())
            .bind(id.to_string())
            .bind(runner_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|row| row.get::<i64, _>(0)))
        })
        .await
    }

    /// Deletes the jobs of `ids` that are in a terminal state (succeeded,
    /// failed, cancelled, timed_out, remote_expired or submit_unknown),
    /// with their attempts and transitions, in one transaction. Queued,
    /// running and retrying jobs and unknown ids are skipped. Clip files
    /// stay on disk. Returns the number of jobs deleted.
    pub async fn delete_jobs(&self, ids: &[JobId]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let id_list: Vec<String> = ids.iter().map(JobId::to_string).collect();
        let id_json = serde_json::Value::from(id_list).to_string();
        retry_busy(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            // Attempts go with their job through ON DELETE CASCADE.
            let rows = sqlx::query(
                "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))
                   AND state NOT IN ('queued', 'running', 'retrying')
                 RETURNING transition_id",
            )
            .bind(&id_json)
            .fetch_all(&mut *tx)
            .await?;
            let transitions: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            sqlx::query(
                "DELETE FROM transitions WHERE id IN (SELECT value FROM json_each(?1))
                   AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.transition_id = transitions.id)",
            )
            .bind(serde_json::Value::from(transitions).to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.len())
        })
        .await
    }

    /// Lists the unfinished jobs owned by `runner_id`, in dispatch order
    /// (priority, then FIFO).
    pub async fn runner_jobs(&self, runner_id: &str) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{JOB_SELECT} WHERE j.runner_id = ?1 AND j.state IN ('queued', 'running', 'retrying')
             ORDER BY j.priority DESC, j.seq"
        )))
        .bind(runner_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Lists a job's attempts in order.
    pub async fn attempts(&self, id: JobId) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, outcome, runner_id, started_at, finished_at, error_kind, error_message,
                    provider_request_id
             FROM attempts WHERE job_id = ?1 ORDER BY number",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| AttemptRecord {
                number: row.get::<i64, _>(0) as u32,
                outcome: row.get(1),
                runner_id: row.get(2),
                started_at: row.get(3),
                finished_at: row.get(4),
                error_kind: row.get(5),
                error_message: row.get(6),
                provider_request_id: row.get(7),
            })
            .collect())
    }
}

/// Order of history pages: newest first, by `seq` within a millisecond.
const HISTORY_ORDER: &str = "ORDER BY j.created_at DESC, j.seq DESC";

const JOB_SELECT: &str =
    "SELECT j.id, j.seq, j.priority, j.provider, j.state, j.stage, j.progress, j.attempt,
    j.charged_attempts, j.max_attempts, j.soft_limit_ms, j.hard_limit_ms, j.spec_json,
    j.output_path, j.runner_id, j.cancel_requested, j.next_attempt_at, j.error_kind,
    j.error_message, j.provider_request_id, j.submit_started_at, j.provider_result,
    j.price_estimate_usd, j.created_at, j.updated_at, j.started_at,
    j.finished_at, j.output_bytes, j.output_duration_s, j.output_width, j.output_height,
    j.output_fps, j.output_frames, j.output_sha256
    FROM jobs j JOIN transitions t ON t.id = j.transition_id";

fn job_from_row(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    let id: String = row.get("id");
    let spec_json: String = row.get("spec_json");
    let spec: JobSpec = serde_json::from_str(&spec_json)
        .map_err(|source| StoreError::Spec { id: id.clone(), source })?;
    let state: String = row.get("state");
    let output_path = PathBuf::from(row.get::<String, _>("output_path"));
    let sha: Option<String> = row.get("output_sha256");
    let output = sha.map(|sha256| OutputInfo {
        path: output_path.clone(),
        bytes: row.get::<i64, _>("output_bytes") as u64,
        duration_s: row.get("output_duration_s"),
        width: row.get::<i64, _>("output_width") as u32,
        height: row.get::<i64, _>("output_height") as u32,
        fps: row.get("output_fps"),
        frames: row.get::<i64, _>("output_frames") as u32,
        sha256,
    });
    Ok(JobRecord {
        id: id.parse().map_err(|_| StoreError::NotFound(id.clone()))?,
        seq: row.get("seq"),
        priority: row.get("priority"),
        provider: row.get("provider"),
        state: state.parse().unwrap_or(JobState::Failed),
        stage: row.get::<Option<String>, _>("stage").as_deref().and_then(Stage::parse),
        progress: row.get("progress"),
        attempt: row.get::<i64, _>("attempt") as u32,
        charged_attempts: row.get::<i64, _>("charged_attempts") as u32,
        max_attempts: row.get::<i64, _>("max_attempts") as u32,
        soft_limit_ms: row.get::<i64, _>("soft_limit_ms") as u64,
        hard_limit_ms: row.get::<i64, _>("hard_limit_ms") as u64,
        spec,
        output_path,
        runner_id: row.get("runner_id"),
        cancel_requested: row.get::<i64, _>("cancel_requested") != 0,
        next_attempt_at: row.get("next_attempt_at"),
        error_kind: row.get("error_kind"),
        error_message: row.get("error_message"),
        provider_request_id: row.get("provider_request_id"),
        submit_started_at: row.get("submit_started_at"),
        provider_result: row.get("provider_result"),
        price_estimate_usd: row.get("price_estimate_usd"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        output,
    })
}

async fn insert_one(tx: &mut sqlx::SqliteConnection, job: &NewJob) -> Result<(), StoreError> {
    let now = now_ms();
    let spec = &job.spec;
    let spec_json = serde_json::to_string(spec)
        .map_err(|source| StoreError::Spec { id: job.id.to_string(), source })?;
    sqlx::query(
        "INSERT INTO transitions (id, name, front_path, tail_path, kind, duration_s, prompt,
            negative_prompt, seed, provider, model, aspect, resolution, fps, fit, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )
    .bind(job.id.to_string())
    .bind(&spec.name)
    .bind(path_text(&spec.front))
    .bind(path_text(&spec.tail))
    .bind(spec.kind.to_string())
    .bind(spec.output.duration_s)
    .bind(&spec.prompt)
    .bind(&spec.negative_prompt)
    .bind(spec.seed)
    .bind(&spec.provider)
    .bind(&spec.model)
    .bind(spec.output.aspect.to_string())
    .bind(spec.output.resolution.to_string())
    .bind(spec.output.fps)
    .bind(spec.output.fit.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO jobs (id, transition_id, provider, kind, model, state, max_attempts,
            soft_limit_ms, hard_limit_ms, spec_json, output_path, runner_id, price_estimate_usd,
            created_at, updated_at)
         VALUES (?1, ?1, ?2, ?11, ?12, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )
    .bind(job.id.to_string())
    .bind(&spec.provider)
    .bind(job.max_attempts)
    .bind(job.soft_limit.as_millis() as i64)
    .bind(job.hard_limit.as_millis() as i64)
    .bind(spec_json)
    .bind(path_text(&job.output_path))
    .bind(&job.runner_id)
    .bind(job.price_estimate_usd)
    .bind(now)
    .bind(spec.kind.to_string())
    .bind(&spec.model)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn close_attempt(
    tx: &mut sqlx::SqliteConnection,
    id: JobId,
    attempt: u32,
    outcome: &str,
    error_kind: Option<&str>,
    error_message: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE attempts SET outcome = ?1, finished_at = ?2, error_kind = ?3, error_message = ?4
         WHERE job_id = ?5 AND number = ?6",
    )
    .bind(outcome)
    .bind(now)
    .bind(error_kind)
    .bind(error_message)
    .bind(id.to_string())
    .bind(attempt)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Paths are stored as text. A path that is not valid Unicode (possible on
/// Linux) is stored lossily; the job still runs from its spec JSON.
fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Runs `operation` again while SQLite reports the database busy or locked.
/// The busy timeout already waits inside SQLite; this covers the cases where
/// SQLite returns busy at once (a WAL snapshot conflict or a checkpoint).
async fn retry_busy<T, F, Fut>(mut operation: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    loop {
        match operation().await {
            Err(err) if is_busy(&err) && tries < BUSY_RETRIES => {
                tries += 1;
                tracing::warn!(tries, error = %err, "history database busy; trying again");
                let jitter = rand::random_range(0..50);
                tokio::time::sleep(Duration::from_millis(50 * u64::from(tries) + jitter)).await;
            }
            other => return other,
        }
    }
}

fn is_busy(err: &StoreError) -> bool {
    let sql = match err {
        StoreError::Query(sql) => sql,
        StoreError::Migrate(sqlx::migrate::MigrateError::Execute(sql)) => sql,
        _ => return false,
    };
    match sql {
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
            matches!(code & 0xff, 5 | 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod history_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_opens_both_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segue.db");
        let (a, b, c) = tokio::join!(Store::open(&path), Store::open(&path), Store::open(&path));
        for store in [a, b, c] {
            let store = store.expect("every concurrent open succeeds");
            let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
            assert!(jobs.is_empty());
        }
    }

    fn new_job(runner: &str) -> NewJob {
        let spec = JobSpec {
            name: "hosted".into(),
            front: "/f.jpg".into(),
            tail: "/t.jpg".into(),
            kind: segue_render::TransitionKind::Calm,
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: None,
            provider: "fal".into(),
            model: "m".into(),
            output: segue_render::OutputSettings::default(),
        };
        NewJob {
            id: JobId::new(),
            output_path: format!("/out/{}.mp4", JobId::new()).into(),
            spec,
            max_attempts: 3,
            soft_limit: Duration::from_secs(600),
            hard_limit: Duration::from_secs(900),
            runner_id: runner.into(),
            price_estimate_usd: Some(0.35),
        }
    }

    #[tokio::test]
    async fn adopt_marks_unanswered_submit_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
        let (unanswered, answered, waiting) = (new_job("dead"), new_job("dead"), new_job("dead"));
        store.insert_jobs(&[unanswered.clone(), answered.clone(), waiting.clone()]).await.unwrap();
        for job in [&unanswered, &answered] {
            assert_eq!(store.start_attempt(job.id, "dead").await.unwrap(), Some(1));
            store.set_submitting(job.id).await.unwrap();
        }
        store.set_request_id(answered.id, 1, "req-1").await.unwrap();

        let adopted = store.adopt("dead", "me").await.unwrap();
        assert_eq!(adopted.len(), 2);
        assert!(!adopted.contains(&unanswered.id), "a job with an unanswered submit was requeued");

        let lost = store.job(unanswered.id).await.unwrap();
        assert_eq!(lost.state, JobState::SubmitUnknown);
        assert!(lost.error_message.unwrap().contains("segue retry"));
        assert_eq!(store.attempts(unanswered.id).await.unwrap()[0].outcome, "submit_unknown");

        let resumed = store.job(answered.id).await.unwrap();
        assert_eq!(resumed.state, JobState::Queued);
        assert_eq!(resumed.provider_request_id.as_deref(), Some("req-1"));
        assert_eq!(resumed.submit_started_at, None);
        assert_eq!(resumed.runner_id.as_deref(), Some("me"));
        assert_eq!(resumed.price_estimate_usd, Some(0.35));
        assert_eq!(store.job(waiting.id).await.unwrap().state, JobState::Queued);
    }

    #[tokio::test]
    async fn retry_clears_hosted_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
        let job = new_job("me");
        store.insert_jobs(std::slice::from_ref(&job)).await.unwrap();
        store.start_attempt(job.id, "me").await.unwrap();
        store.set_request_id(job.id, 1, "req-9").await.unwrap();
        store.set_provider_result(job.id, r#"{"video":{"url":"http://x"}}"#).await.unwrap();
        let failure = AttemptFailure {
            state: JobState::RemoteExpired,
            outcome: "remote_expired",
            kind: ErrorKind::RemoteExpired,
            message: "expired".into(),
            charged: true,
            next_attempt_at: None,
        };
        store.finish_failed(job.id, 1, &failure).await.unwrap();
        let reset = RetryReset {
            extra_attempts: 3,
            soft_limit: Duration::from_secs(100),
            hard_limit: Duration::from_secs(200),
            output_path: "/out/again.mp4".into(),
        };
        assert!(store.reset_for_retry(job.id, "me", &reset).await.unwrap());
        let again = store.job(job.id).await.unwrap();
        assert_eq!(again.state, JobState::Queued);
        assert_eq!(again.provider_request_id, None);
        assert_eq!(again.provider_result, None);
        assert_eq!(again.hard_limit_ms, 200_000);
        assert_eq!(again.output_path, PathBuf::from("/out/again.mp4"));
    }

    #[tokio::test]
    async fn find_job_reports_missing_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
        let err = store.find_job("abcd1234").await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        assert!(err.to_string().contains("segue history"));
    }
}
