-- Dispatch priority, and columns and indexes for paged history queries.

-- Dispatch order within a provider is (priority DESC, seq): `run_next`
-- raises a queued job's priority above every other unfinished job of its
-- provider. Jobs stored before this migration get 0 and keep FIFO order.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- Copies of transitions.kind and transitions.model, written with the job,
-- so that history filters on them use an index on jobs instead of joining
-- every row with its transition.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT '';
UPDATE jobs SET
    kind = COALESCE((SELECT t.kind FROM transitions t WHERE t.id = jobs.transition_id), ''),
    model = COALESCE((SELECT t.model FROM transitions t WHERE t.id = jobs.transition_id), '');

-- History pages sort by (created_at DESC, seq DESC). seq is the rowid,
-- which SQLite appends to every index entry, so each of these indexes
-- returns rows of one key value in page order.
CREATE INDEX jobs_state_created ON jobs (state, created_at);
CREATE INDEX jobs_provider_created ON jobs (provider, created_at);
CREATE INDEX jobs_kind_created ON jobs (kind, created_at);
CREATE INDEX jobs_model_created ON jobs (model, created_at);

-- Output names are checked against every unfinished or succeeded job at
-- enqueue time.
CREATE INDEX jobs_output_path ON jobs (output_path);

-- Deleting a transition checks that no job refers to it, and the search
-- filter selects jobs by transition id. Without this index both scan every
-- job.
CREATE INDEX jobs_transition ON jobs (transition_id);
