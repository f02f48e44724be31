//! History queries, priorities, deletion and the schema upgrade, on real
//! SQLite files.

use super::*;
use segue_render::TransitionKind;

/// Number of rows of the paging test.
const ROWS: usize = 20_000;
/// `created_at` of the first row. Rows are created in groups of three that
/// share a millisecond, so the `seq` tiebreak is exercised.
const BASE_MS: i64 = 1_800_000_000_000;
const FRONT_FOLDERS: [&str; 2] = ["sunset", "harbor"];
const PLACES: [&str; 4] = ["Beach", "City", "Forest", "Café"];

/// One stored row as the test expects it.
#[derive(Clone, Debug)]
struct Expected {
    id: JobId,
    seq: i64,
    name: String,
    prompt: String,
    provider: String,
    model: String,
    kind: String,
    front: String,
    tail: String,
    created_at: i64,
    state: JobState,
    request_id: Option<String>,
}

fn spec_for(i: usize) -> JobSpec {
    let fal = i.is_multiple_of(3);
    JobSpec {
        name: format!("Clip {i:05} {}", PLACES[i % PLACES.len()]),
        front: format!("/photos/{}/front-{i}.jpg", FRONT_FOLDERS[i % 2]).into(),
        tail: format!("/photos/tail-{i}.png").into(),
        kind: TransitionKind::ALL[i % TransitionKind::ALL.len()],
        prompt: if i.is_multiple_of(7) { format!("slow PAN across {i}") } else { String::new() },
        negative_prompt: String::new(),
        seed: None,
        provider: if fal { "fal" } else { "local" }.into(),
        model: if fal { ["kling", "veo"][i % 2] } else { "segue-local-v1" }.into(),
        output: segue_render::OutputSettings::default(),
    }
}

fn new_job(spec: JobSpec, runner: &str) -> NewJob {
    let id = JobId::new();
    NewJob {
        id,
        output_path: format!("/out/{id}.mp4").into(),
        spec,
        max_attempts: 3,
        soft_limit: Duration::from_secs(600),
        hard_limit: Duration::from_secs(900),
        runner_id: runner.into(),
        price_estimate_usd: None,
    }
}

/// Stores `ROWS` jobs in one transaction, then gives them creation times,
/// states and request ids, and returns what each row should hold.
async fn fill(store: &Store) -> Vec<Expected> {
    let jobs: Vec<NewJob> = (0..ROWS).map(|i| new_job(spec_for(i), "gone")).collect();
    store.insert_jobs(&jobs).await.unwrap();
    let pool = store.pool();
    sqlx::query("UPDATE jobs SET created_at = ?1 + ((seq - 1) / 3) * 1000")
        .bind(BASE_MS)
        .execute(pool)
        .await
        .unwrap();
    for (k, state) in JobState::ALL.iter().enumerate() {
        sqlx::query("UPDATE jobs SET state = ?1 WHERE (seq - 1) % 9 = ?2")
            .bind(state.as_str())
            .bind(k as i64)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE jobs SET provider_request_id = 'REQ-' || (seq - 1) WHERE (seq - 1) % 100 = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    jobs.iter()
        .enumerate()
        .map(|(i, job)| Expected {
            id: job.id,
            seq: i as i64 + 1,
            name: job.spec.name.clone(),
            prompt: job.spec.prompt.clone(),
            provider: job.spec.provider.clone(),
            model: job.spec.model.clone(),
            kind: job.spec.kind.to_string(),
            front: job.spec.front.to_string_lossy().into_owned(),
            tail: job.spec.tail.to_string_lossy().into_owned(),
            created_at: BASE_MS + (i as i64 / 3) * 1000,
            state: JobState::ALL[i % 9],
            request_id: (i % 100 == 0).then(|| format!("REQ-{i}")),
        })
        .collect()
}

/// Returns whether `row` passes `filter`, by the meaning [`JobFilter`]
/// documents, written out in Rust.
fn matches(row: &Expected, filter: &JobFilter) -> bool {
    let contains = |haystack: &str, needle: &str| {
        haystack.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())
    };
    let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let found = |text: &str| {
        let text = text.to_ascii_lowercase();
        let id = row.id.to_string();
        [&row.name, &row.prompt, &row.front, &row.tail].iter().any(|field| contains(field, &text))
            || row.request_id.as_deref().is_some_and(|r| contains(r, &text))
            || id.starts_with(&text)
            || id.replace('-', "").starts_with(&text)
    };
    (filter.states.is_empty() || filter.states.contains(&row.state))
        && filter.kind.as_ref().is_none_or(|kind| *kind == row.kind)
        && filter.provider.as_ref().is_none_or(|provider| *provider == row.provider)
        && filter.model.as_ref().is_none_or(|model| *model == row.model)
        && filter.since_ms.is_none_or(|since| row.created_at >= since)
        && filter.until_ms.is_none_or(|until| row.created_at < until)
        && filter.name_contains.as_ref().is_none_or(|name| contains(&row.name, name))
        && search.is_none_or(found)
}

/// Returns the ids of the page `filter` selects and the number of all
/// matches.
fn expected_page(rows: &[Expected], filter: &JobFilter) -> (Vec<JobId>, u64) {
    let mut hits: Vec<&Expected> = rows.iter().filter(|row| matches(row, filter)).collect();
    hits.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.seq.cmp(&a.seq)));
    let total = hits.len() as u64;
    let offset = filter.offset.unwrap_or(0) as usize;
    let limit = filter.limit.map(|l| l as usize).unwrap_or(usize::MAX);
    (hits.into_iter().skip(offset).take(limit).map(|row| row.id).collect(), total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_history_over_twenty_thousand_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
    let rows = fill(&store).await;
    let sample = &rows[12_345];
    let page = |limit, offset| JobFilter {
        limit: Some(limit),
        offset: Some(offset),
        ..JobFilter::default()
    };
    let cases: Vec<(&str, JobFilter)> = vec![
        ("first page", page(100, 0)),
        ("middle page", page(100, 9_000)),
        ("last partial page", page(100, 19_950)),
        ("offset past the end", page(100, 25_000)),
        ("offset without limit", JobFilter { offset: Some(19_990), ..JobFilter::default() }),
        (
            "two states of one provider",
            JobFilter {
                states: vec![JobState::Succeeded, JobState::TimedOut],
                provider: Some("fal".into()),
                ..page(100, 200)
            },
        ),
        (
            "model in a time range",
            JobFilter {
                model: Some("veo".into()),
                since_ms: Some(BASE_MS + 1_000_000),
                until_ms: Some(BASE_MS + 3_000_000),
                ..page(100, 50)
            },
        ),
        ("type", JobFilter { kind: Some("WHIP".into()), ..page(100, 0) }),
        ("name in any ASCII case", JobFilter { search: Some("CLIP 0012".into()), ..page(100, 0) }),
        ("prompt", JobFilter { search: Some("slow pan across 7".into()), ..page(100, 0) }),
        ("front folder", JobFilter { search: Some("HARBOR/front-1".into()), ..page(100, 3) }),
        ("tail file", JobFilter { search: Some("tail-19999.png".into()), ..page(100, 0) }),
        ("request id", JobFilter { search: Some("req-1230".into()), ..page(100, 0) }),
        ("id prefix", JobFilter { search: Some(sample.id.short()), ..page(100, 0) }),
        (
            "id prefix with a dash",
            JobFilter { search: Some(sample.id.to_string()[..13].to_uppercase()), ..page(100, 0) },
        ),
        (
            "id prefix without dashes",
            JobFilter {
                search: Some(sample.id.0.simple().to_string()[..12].into()),
                ..page(10, 0)
            },
        ),
        ("non-ASCII letter in its case", JobFilter { search: Some("CAFé".into()), ..page(100, 0) }),
        (
            "non-ASCII letter in another case",
            JobFilter { search: Some("CAFÉ".into()), ..page(100, 0) },
        ),
        ("blank search matches all", JobFilter { search: Some("  ".into()), ..page(100, 0) }),
        (
            "search with other filters",
            JobFilter {
                search: Some("beach".into()),
                states: vec![JobState::Succeeded],
                name_contains: Some("clip 1".into()),
                ..page(100, 100)
            },
        ),
        ("no match", JobFilter { search: Some("zebra".into()), ..page(100, 0) }),
        ("percent is literal", JobFilter { search: Some("%".into()), ..page(100, 0) }),
        ("underscore is literal", JobFilter { search: Some("clip_0012".into()), ..page(100, 0) }),
        ("backslash is literal", JobFilter { search: Some("\\".into()), ..page(100, 0) }),
        ("name with a wildcard", JobFilter { name_contains: Some("%".into()), ..page(100, 0) }),
    ];
    for (case, filter) in &cases {
        let (expected_ids, expected_total) = expected_page(&rows, filter);
        let page = store.list_jobs(filter).await.unwrap();
        let ids: Vec<JobId> = page.iter().map(|job| job.id).collect();
        assert_eq!(ids, expected_ids, "{case}: page");
        assert_eq!(store.count_jobs(filter).await.unwrap(), expected_total, "{case}: count");
    }

    // Some cases must select rows, or the comparisons above prove little.
    let total = |case: &str| {
        let (_, filter) = cases.iter().find(|(name, _)| *name == case).unwrap();
        expected_page(&rows, filter).1
    };
    assert_eq!(total("first page"), ROWS as u64);
    assert!(total("two states of one provider") > 300, "the state filter selects too few rows");
    assert!(total("model in a time range") > 150, "the model filter selects too few rows");
    assert_eq!(total("id prefix"), 1, "an id prefix matches one job");
    assert!(total("non-ASCII letter in its case") > 0);
    assert_eq!(total("non-ASCII letter in another case"), 0, "SQLite folds only ASCII letters");
    assert_eq!(total("no match"), 0);
    assert_eq!(total("percent is literal"), 0, "% in a search acts as a wildcard");
    assert_eq!(total("underscore is literal"), 0, "_ in a search acts as a wildcard");
    assert_eq!(total("name with a wildcard"), 0, "% in a name filter acts as a wildcard");

    let by_request = JobFilter { search: Some("REQ-19900".into()), ..page(1, 0) };
    let record = store.list_jobs(&by_request).await.unwrap().remove(0);
    assert_eq!(record.provider_request_id.as_deref(), Some("REQ-19900"));
    assert_eq!(record.priority, 0);

    let counts = store.state_counts().await.unwrap();
    for state in JobState::ALL {
        let expected = rows.iter().filter(|row| row.state == state).count() as u64;
        assert_eq!(counts.get(state), expected, "{state}");
    }
    assert_eq!(counts.total(), ROWS as u64);
    let pairs: Vec<(JobState, u64)> = counts.into_iter().collect();
    assert_eq!(pairs.len(), JobState::ALL.len());
    for (state, count) in pairs {
        assert_eq!(count, counts.get(state), "{state}");
    }
}

#[tokio::test]
async fn state_counts_of_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
    assert_eq!(store.state_counts().await.unwrap(), StateCounts::default());
    assert_eq!(store.count_jobs(&JobFilter::default()).await.unwrap(), 0);
}

#[test]
fn state_counts_serialize_by_state_name() {
    let counts = StateCounts { timed_out: 2, ..StateCounts::default() };
    let json = serde_json::to_value(counts).unwrap();
    assert_eq!(json["timed_out"], 2);
    assert_eq!(json["queued"], 0);
    assert_eq!(json.as_object().unwrap().len(), JobState::ALL.len());
}

#[tokio::test]
async fn prioritize_orders_runner_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
    let jobs: Vec<NewJob> = (0..4).map(|i| new_job(spec_for(i * 3), "me")).collect();
    let theirs = new_job(spec_for(0), "other");
    store.insert_jobs(&jobs).await.unwrap();
    store.insert_jobs(std::slice::from_ref(&theirs)).await.unwrap();
    let [a, b, c, d] = [jobs[0].id, jobs[1].id, jobs[2].id, jobs[3].id];

    assert_eq!(store.prioritize(c, "me").await.unwrap(), Some(1));
    assert_eq!(store.prioritize(b, "me").await.unwrap(), Some(2));
    let order: Vec<JobId> = store.runner_jobs("me").await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(order, [b, c, a, d]);

    assert_eq!(store.prioritize(theirs.id, "me").await.unwrap(), None, "another runner's job");
    store.start_attempt(d, "me").await.unwrap();
    assert_eq!(store.prioritize(d, "me").await.unwrap(), None, "a running job");
    assert_eq!(store.prioritize(JobId::new(), "me").await.unwrap(), None, "an unknown id");
    assert_eq!(store.job(d).await.unwrap().priority, 0);
}

#[tokio::test]
async fn retry_resets_priority() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
    let job = new_job(spec_for(1), "me");
    store.insert_jobs(std::slice::from_ref(&job)).await.unwrap();
    assert_eq!(store.prioritize(job.id, "me").await.unwrap(), Some(1));
    assert!(store.cancel_waiting(job.id).await.unwrap());
    let reset = RetryReset {
        extra_attempts: 1,
        soft_limit: Duration::from_secs(1),
        hard_limit: Duration::from_secs(2),
        output_path: job.output_path.clone(),
    };
    assert!(store.reset_for_retry(job.id, "me", &reset).await.unwrap());
    assert_eq!(store.job(job.id).await.unwrap().priority, 0);
}

#[tokio::test]
async fn delete_removes_only_terminal_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("segue.db")).await.unwrap();
    let jobs: Vec<NewJob> = (0..9).map(|i| new_job(spec_for(i), "me")).collect();
    store.insert_jobs(&jobs).await.unwrap();
    let failure = AttemptFailure {
        state: JobState::Failed,
        outcome: "failed",
        kind: ErrorKind::Permanent,
        message: "bad".into(),
        charged: true,
        next_attempt_at: None,
    };
    // jobs[3] gets a real attempt, to check that attempts go with the job.
    store.start_attempt(jobs[3].id, "me").await.unwrap();
    store.finish_failed(jobs[3].id, 1, &failure).await.unwrap();
    for (job, state) in jobs.iter().zip(JobState::ALL) {
        sqlx::query("UPDATE jobs SET state = ?1 WHERE id = ?2")
            .bind(state.as_str())
            .bind(job.id.to_string())
            .execute(store.pool())
            .await
            .unwrap();
    }
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, b"clip").unwrap();
    sqlx::query("UPDATE jobs SET output_path = ?1 WHERE id = ?2")
        .bind(clip.to_string_lossy().into_owned())
        .bind(jobs[3].id.to_string())
        .execute(store.pool())
        .await
        .unwrap();

    let mut ids: Vec<JobId> = jobs.iter().map(|job| job.id).collect();
    ids.push(JobId::new());
    assert_eq!(store.delete_jobs(&ids).await.unwrap(), 6);
    assert_eq!(store.delete_jobs(&ids).await.unwrap(), 0, "a second delete finds nothing");
    assert_eq!(store.delete_jobs(&[]).await.unwrap(), 0);

    for (job, state) in jobs.iter().zip(JobState::ALL) {
        let found = store.job(job.id).await;
        if state.is_terminal() {
            assert!(matches!(found, Err(StoreError::NotFound(_))), "{state} job was kept");
        } else {
            assert_eq!(found.unwrap().state, state, "{state} job was deleted");
        }
    }
    assert!(store.attempts(jobs[3].id).await.unwrap().is_empty());
    let orphans: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM attempts").fetch_one(store.pool()).await.unwrap();
    assert_eq!(orphans, 0, "attempts of deleted jobs remain");
    let transitions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transitions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(transitions, 3, "transitions of deleted jobs remain");
    assert!(clip.is_file(), "the clip file was deleted");
}

/// Stores `job` with the columns of the first migration, as a version of
/// Segue from before the second one did.
async fn insert_as_initial_schema(pool: &SqlitePool, job: &NewJob) {
    let spec = &job.spec;
    sqlx::query(
        "INSERT INTO transitions (id, name, front_path, tail_path, kind, duration_s, prompt,
            negative_prompt, seed, provider, model, aspect, resolution, fps, fit, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 5, '', '', NULL, ?6, ?7, '16:9', '1080p', 30, 'cover', 1)",
    )
    .bind(job.id.to_string())
    .bind(&spec.name)
    .bind(path_text(&spec.front))
    .bind(path_text(&spec.tail))
    .bind(spec.kind.to_string())
    .bind(&spec.provider)
    .bind(&spec.model)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, transition_id, provider, state, max_attempts, soft_limit_ms,
            hard_limit_ms, spec_json, output_path, runner_id, created_at, updated_at)
         VALUES (?1, ?1, ?2, 'succeeded', 3, 1000, 2000, ?3, ?4, 'old', 1, 1)",
    )
    .bind(job.id.to_string())
    .bind(&spec.provider)
    .bind(serde_json::to_string(spec).unwrap())
    .bind(path_text(&job.output_path))
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn upgrade_from_initial_schema_keeps_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segue.db");
    let job = new_job(spec_for(4), "old");
    {
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        let initial = MIGRATOR.iter().next().unwrap().version;
        MIGRATOR.run_to(initial, &pool).await.unwrap();
        insert_as_initial_schema(&pool, &job).await;
        pool.close().await;
    }

    let store = Store::open(&path).await.unwrap();
    let record = store.job(job.id).await.unwrap();
    assert_eq!(record.priority, 0);
    assert_eq!(record.spec, job.spec);
    let search = JobFilter { search: Some("clip 00004".into()), ..JobFilter::default() };
    assert_eq!(store.list_jobs(&search).await.unwrap().len(), 1);
    let copied = JobFilter {
        kind: Some(job.spec.kind.to_string()),
        model: Some(job.spec.model.clone()),
        ..JobFilter::default()
    };
    assert_eq!(store.count_jobs(&copied).await.unwrap(), 1, "kind and model were not copied");
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for name in
        ["jobs_state_created", "jobs_provider_created", "jobs_output_path", "jobs_transition"]
    {
        assert!(indexes.iter().any(|index| index == name), "{name} missing from {indexes:?}");
    }
}
