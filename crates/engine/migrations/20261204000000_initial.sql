-- Times are Unix milliseconds (UTC). Paths are stored as the OS gave them,
-- as UTF-8 text.

CREATE TABLE transitions (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    front_path      TEXT NOT NULL,
    tail_path       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    duration_s      REAL NOT NULL,
    prompt          TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    seed            INTEGER,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    aspect          TEXT NOT NULL,
    resolution      TEXT NOT NULL,
    fps             INTEGER NOT NULL,
    fit             TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE jobs (
    -- Dispatch order: the queue is FIFO by seq within each provider.
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    transition_id       TEXT NOT NULL REFERENCES transitions(id),
    provider            TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN
                          ('queued', 'running', 'retrying', 'succeeded',
                           'failed', 'cancelled', 'timed_out',
                           'remote_expired', 'submit_unknown')),
    stage               TEXT,
    progress            REAL NOT NULL DEFAULT 0,
    -- Attempts started, and attempts that ended in an error and count
    -- against max_attempts (an attempt cut short by a crash does not).
    attempt             INTEGER NOT NULL DEFAULT 0,
    charged_attempts    INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    soft_limit_ms       INTEGER NOT NULL,
    hard_limit_ms       INTEGER NOT NULL,
    -- JobSpec as JSON, frozen at enqueue time.
    spec_json           TEXT NOT NULL,
    output_path         TEXT NOT NULL,
    -- Process that owns the job; see runner.rs for how liveness is checked.
    runner_id           TEXT,
    cancel_requested    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER,
    error_kind          TEXT,
    error_message       TEXT,
    provider_request_id TEXT,
    -- Set just before a hosted provider's submit request and cleared when
    -- its request id is stored: a job found with this set and no request id
    -- may or may not have been accepted (and billed).
    submit_started_at   INTEGER,
    -- The provider's result JSON (for hosted models, the video URL), stored
    -- as soon as it is fetched.
    provider_result     TEXT,
    -- Estimated price in US dollars, when the provider's price is known.
    price_estimate_usd  REAL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    output_bytes        INTEGER,
    output_duration_s   REAL,
    output_width        INTEGER,
    output_height       INTEGER,
    output_fps          REAL,
    output_frames       INTEGER,
    output_sha256       TEXT
);

CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_runner ON jobs (runner_id, state);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE attempts (
    job_id              TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    number              INTEGER NOT NULL,
    -- running, succeeded, failed, retrying (transient error), timed_out,
    -- cancelled or interrupted.
    outcome             TEXT NOT NULL,
    runner_id           TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    error_kind          TEXT,
    error_message       TEXT,
    provider_request_id TEXT,
    PRIMARY KEY (job_id, number)
);
