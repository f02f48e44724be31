//! The watch folder: images written into a folder are queued as transitions.
//!
//! A [`FolderWatcher`] lists the folder (not its subfolders) whenever `notify`
//! reports a change and at a fixed rescan interval, so a file whose change
//! event is lost, as on many network drives, is still found. Only files with
//! an image extension count, and hidden and temporary names (leading `.`,
//! trailing `~`, `.part`, `.crdownload`, `.tmp`) are skipped.
//!
//! A file is complete once two listings at least the settle interval apart
//! show the same size and modification time and the image then decodes in
//! full. A stable file that does not decode is reported once as
//! [`WatchEvent::Rejected`] and tried again only after its size or
//! modification time changes.
//!
//! Complete images are paired by [`Pairing`] in the order they complete, and
//! in natural name order among images that complete in the same listing:
//!
//! - `chain`: each image pairs with the image completed before it.
//! - `pairs`: an image waits until another image completes.
//! - `ab`: `NAME_a` waits for `NAME_b` and the other way round.
//!
//! A ledger file, a JSON object, stores every file that was queued with its
//! size and modification time, and the chain's last image. After a restart,
//! those files are not queued again unless their size or modification time
//! changed.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use segue_engine::intake::{ImagePair, Pairing, has_image_extension, natural_cmp, pair_images};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Default [`WatchConfig::settle`]: long enough for a local export to finish
/// writing between two listings.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);

/// Default [`WatchConfig::rescan`].
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(5);

/// Delay between a change event and the listing it triggers, so that the
/// burst of events from one write leads to one listing.
const EVENT_DELAY: Duration = Duration::from_millis(50);

/// Minimum time between two listings.
const MIN_SCAN_GAP: Duration = Duration::from_millis(10);

/// Version of the ledger's JSON layout.
const LEDGER_VERSION: u32 = 1;

/// Name endings of files that other programs are still writing.
const TEMPORARY_SUFFIXES: [&str; 3] = [".part", ".crdownload", ".tmp"];

/// Settings of a [`FolderWatcher`].
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Folder to watch. Its subfolders are not watched.
    pub dir: PathBuf,
    /// Rule that pairs the folder's images.
    pub rule: Pairing,
    /// Time that a file's size and modification time must stay unchanged
    /// before the file is decoded.
    pub settle: Duration,
    /// Interval of the full listing that finds files whose change events
    /// were lost. Must not be zero.
    pub rescan: Duration,
    /// JSON file that stores which files were queued. Each folder needs its
    /// own file, and [`ledger_path`] returns one.
    pub ledger: PathBuf,
}

impl WatchConfig {
    /// Creates settings with [`DEFAULT_SETTLE`] and [`DEFAULT_RESCAN`].
    pub fn new(dir: impl Into<PathBuf>, rule: Pairing, ledger: impl Into<PathBuf>) -> Self {
        WatchConfig {
            dir: dir.into(),
            rule,
            settle: DEFAULT_SETTLE,
            rescan: DEFAULT_RESCAN,
            ledger: ledger.into(),
        }
    }
}

/// Returns `<data_dir>/watch-<hash>.json`, where the hash is taken from the
/// absolute path of `dir`, so that each folder gets its own ledger.
pub fn ledger_path(data_dir: &Path, dir: &Path) -> PathBuf {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    data_dir.join(format!("watch-{hex}.json"))
}

/// Something the watch folder found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// Two complete images to queue as one job. Both files are stored in the
    /// ledger as queued.
    Pair(ImagePair),
    /// A file whose size and modification time settled but that does not
    /// decode. It is reported again only after it changes.
    Rejected {
        /// The file.
        path: PathBuf,
        /// Error message, naming the file and the fix.
        error: String,
    },
    /// A complete image that has no partner yet. Under `chain`, only the
    /// first image of a chain is reported this way.
    Waiting {
        /// The file.
        path: PathBuf,
    },
}

/// Error from starting a [`FolderWatcher`].
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The folder does not exist.
    #[error("watch folder {} does not exist; create it or choose another folder", .dir.display())]
    NotFound {
        /// The folder.
        dir: PathBuf,
    },
    /// The path is a file, not a folder.
    #[error("watch folder {} is not a folder; choose a folder", .dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// The folder cannot be listed.
    #[error(
        "cannot read watch folder {} ({source}); check that it is mounted and \
         that you have permission to read it",
        .dir.display()
    )]
    Unreadable {
        /// The folder.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The operating system refused to report changes in the folder.
    #[error(
        "cannot watch folder {} for changes ({source}); close other programs that \
         watch many files, or on Linux raise fs.inotify.max_user_instances and \
         fs.inotify.max_user_watches with sysctl",
        .dir.display()
    )]
    Watcher {
        /// The folder.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: notify::Error,
    },
    /// The ledger file exists but cannot be used.
    #[error("cannot use watch ledger {}: {reason}", .path.display())]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// Description of the problem and its fix.
        reason: String,
    },
    /// The rescan interval is zero.
    #[error("the rescan interval of watch folder {} is 0; set a positive interval, such as 5 s", .dir.display())]
    ZeroRescan {
        /// The folder.
        dir: PathBuf,
    },
}

/// A running watch folder. It stops when dropped or when [`stop`] is
/// awaited, and also when the receiver of its events is dropped.
///
/// [`stop`]: FolderWatcher::stop
#[derive(Debug)]
pub struct FolderWatcher {
    dir: PathBuf,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl FolderWatcher {
    /// Checks the folder, loads the ledger, subscribes to change events and
    /// starts watching on the current tokio runtime. Files already in the
    /// folder are handled like new ones, except those the ledger lists.
    ///
    /// # Errors
    ///
    /// Returns an error when the folder is missing, not a folder or cannot
    /// be listed, when the ledger cannot be read or belongs to another
    /// folder, when the rescan interval is zero, or when change events
    /// cannot be subscribed to.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    pub fn start(
        config: WatchConfig,
        sink: UnboundedSender<WatchEvent>,
    ) -> Result<Self, WatchError> {
        let dir = check_folder(&config.dir)?;
        if config.rescan.is_zero() {
            return Err(WatchError::ZeroRescan { dir });
        }
        let ledger = Ledger::load(&config.ledger, &dir)?;

        let wake = Arc::new(Notify::new());
        let watcher = subscribe(&dir, Arc::clone(&wake))?;

        info!(
            folder = %dir.display(),
            rule = %config.rule,
            settle_ms = config.settle.as_millis(),
            rescan_ms = config.rescan.as_millis(),
            ledger = %config.ledger.display(),
            "watch folder started"
        );
        let state = WatchState {
            dir: dir.clone(),
            rule: config.rule,
            settle: config.settle,
            rescan: config.rescan,
            ledger,
            ledger_path: config.ledger,
            ledger_dirty: false,
            ledger_save_failed: false,
            files: HashMap::new(),
            waiting: Vec::new(),
            chain_start: None,
            listing_failed: false,
            warned_names: HashSet::new(),
            sink,
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(state, watcher, wake, cancel.clone()));
        Ok(FolderWatcher { dir, cancel, task: Some(task) })
    }

    /// Stops watching and waits until the ledger is saved.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        if let Err(err) = task.await {
            error!(folder = %self.dir.display(), error = %err, "watch folder task failed");
        }
    }

    /// Returns the watched folder as an absolute path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FolderWatcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Returns `dir` as an absolute path after checking that it is a folder that
/// can be listed.
fn check_folder(dir: &Path) -> Result<PathBuf, WatchError> {
    let unreadable = |source| WatchError::Unreadable { dir: dir.to_path_buf(), source };
    let dir = std::path::absolute(dir).map_err(unreadable)?;
    match fs::metadata(&dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(WatchError::NotFound { dir });
        }
        Err(source) => return Err(WatchError::Unreadable { dir, source }),
        Ok(metadata) if !metadata.is_dir() => return Err(WatchError::NotADirectory { dir }),
        Ok(_) => {}
    }
    if let Err(source) = fs::read_dir(&dir) {
        return Err(WatchError::Unreadable { dir, source });
    }
    Ok(dir)
}

/// Starts a `notify` watcher on `dir` that wakes the watch loop on changes.
fn subscribe(dir: &Path, wake: Arc<Notify>) -> Result<RecommendedWatcher, WatchError> {
    let watcher_error = |source| WatchError::Watcher { dir: dir.to_path_buf(), source };
    let folder = dir.display().to_string();
    let handler = move |result: notify::Result<notify::Event>| match result {
        Ok(event) => {
            if triggers_listing(&event.kind) {
                wake.notify_one();
            }
        }
        Err(err) => {
            warn!(
                folder = %folder,
                error = %err,
                "change notification failed; the periodic rescan still finds new files"
            );
            wake.notify_one();
        }
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(watcher_error)?;
    watcher.watch(dir, RecursiveMode::NonRecursive).map_err(watcher_error)?;
    Ok(watcher)
}

/// Returns whether a change event can mean new or changed content. Opening
/// and reading a file, as the decode check does, cannot.
fn triggers_listing(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Returns whether `name` is a file name the watch folder takes: an image
/// extension and no hidden or temporary name.
fn is_candidate_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let hidden = name.starts_with('.');
    let temporary =
        name.ends_with('~') || TEMPORARY_SUFFIXES.iter().any(|suffix| lower.ends_with(suffix));
    !hidden && !temporary && has_image_extension(Path::new(name))
}

/// Orders file names naturally (`shot2` before `shot10`), ignoring case.
fn natural_order(a: &str, b: &str) -> Ordering {
    natural_cmp(&a.to_lowercase(), &b.to_lowercase()).then_with(|| a.cmp(b))
}

/// Returns the file name of a path that the watch loop built from a UTF-8
/// name.
fn name_of(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Size and modification time of a file, which together identify one
/// version of its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    /// Nanoseconds since the Unix epoch, or 0 when the file system has no
    /// modification time.
    modified_ns: u64,
}

impl Stamp {
    fn from_metadata(metadata: &fs::Metadata) -> Stamp {
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX));
        Stamp { size: metadata.len(), modified_ns }
    }
}

/// Stamps of the candidate files in the folder, from one listing.
#[derive(Debug, Default)]
struct Listing {
    files: HashMap<String, Stamp>,
    /// Image files whose names are not valid UTF-8, which the ledger cannot
    /// store.
    non_utf8: Vec<OsString>,
}

/// Lists the candidate files directly in `dir`. Symbolic links count as the
/// file they point to.
fn list_folder(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(raw) => {
                if has_image_extension(Path::new(&raw)) {
                    listing.non_utf8.push(raw);
                }
                continue;
            }
        };
        if !is_candidate_name(&name) {
            continue;
        }
        // The file may be gone since the listing, or be a broken link.
        let Ok(metadata) = fs::metadata(entry.path()) else {
            continue;
        };
        if metadata.is_file() {
            listing.files.insert(name, Stamp::from_metadata(&metadata));
        }
    }
    Ok(listing)
}

/// Returns the current stamp of `path`, or `None` when it is gone.
fn stamp_of(path: &Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|metadata| Stamp::from_metadata(&metadata))
}

/// The queued files of one folder, as stored in the ledger file.
#[derive(Debug, Default)]
struct Ledger {
    /// Queued files by name, with the stamp they had when queued.
    consumed: HashMap<String, Stamp>,
    /// Under `chain`, the image the next complete image pairs with.
    chain_last: Option<String>,
}

/// JSON layout of the ledger file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    version: u32,
    /// Absolute path of the watched folder, with invalid UTF-8 replaced by
    /// U+FFFD so that any path can be stored.
    dir: String,
    consumed: Vec<LedgerEntry>,
    chain_last: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerEntry {
    /// File name inside the folder.
    name: String,
    size: u64,
    modified_ns: u64,
}

impl Ledger {
    /// Reads the ledger at `path`. A missing file is an empty ledger.
    fn load(path: &Path, dir: &Path) -> Result<Ledger, WatchError> {
        let invalid = |reason: String| WatchError::Ledger { path: path.to_path_buf(), reason };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Ledger::default()),
            Err(err) => {
                return Err(invalid(format!("cannot read it ({err}); check its permissions")));
            }
        };
        let file: LedgerFile = serde_json::from_slice(&bytes).map_err(|err| {
            invalid(format!(
                "it is not a valid watch ledger ({err}); delete it to start over, \
                 which queues the images now in the folder again"
            ))
        })?;
        if file.version != LEDGER_VERSION {
            return Err(invalid(format!(
                "it has layout version {}, but this version of Segue reads version \
                 {LEDGER_VERSION}; update Segue, or delete the file to start over",
                file.version
            )));
        }
        if file.dir != dir.to_string_lossy() {
            return Err(invalid(format!(
                "it belongs to folder {}, not {}; give each watch folder its own ledger file",
                file.dir,
                dir.display()
            )));
        }
        let consumed = file
            .consumed
            .into_iter()
            .map(|entry| {
                let stamp = Stamp { size: entry.size, modified_ns: entry.modified_ns };
                (entry.name, stamp)
            })
            .collect();
        Ok(Ledger { consumed, chain_last: file.chain_last })
    }

    /// Serializes the ledger, with the entries sorted by name.
    fn to_json(&self, dir: &Path) -> io::Result<Vec<u8>> {
        let mut consumed: Vec<LedgerEntry> = self
            .consumed
            .iter()
            .map(|(name, stamp)| LedgerEntry {
                name: name.clone(),
                size: stamp.size,
                modified_ns: stamp.modified_ns,
            })
            .collect();
        consumed.sort_by(|a, b| a.name.cmp(&b.name));
        let file = LedgerFile {
            version: LEDGER_VERSION,
            dir: dir.to_string_lossy().into_owned(),
            consumed,
            chain_last: self.chain_last.clone(),
        };
        serde_json::to_vec_pretty(&file).map_err(io::Error::other)
    }

    /// Returns whether `name` was queued with exactly this stamp.
    fn is_consumed(&self, name: &str, stamp: Stamp) -> bool {
        self.consumed.get(name) == Some(&stamp)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a
/// rename, so that a crash leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let Some(file_name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the ledger path has no file name",
        ));
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut temp_name = OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);

    let result = fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        // The temporary file may not exist, and the original error is the
        // one to report.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Watch-loop state of one candidate file.
#[derive(Debug)]
struct Tracked {
    stamp: Stamp,
    state: FileState,
}

#[derive(Debug)]
enum FileState {
    /// First listed with this stamp at `since`.
    Settling { since: Instant },
    /// Decoded and handed to the pairing rule.
    Complete,
    /// Stable but not decodable, and reported.
    Rejected,
}

/// The sink is closed or the watcher was stopped.
#[derive(Debug)]
struct Stopped;

/// State of the watch loop of one folder.
struct WatchState {
    dir: PathBuf,
    rule: Pairing,
    settle: Duration,
    rescan: Duration,
    ledger: Ledger,
    ledger_path: PathBuf,
    /// Whether `ledger` has changes that are not in the ledger file yet.
    ledger_dirty: bool,
    /// Whether the last save failed, so that repeated failures log once.
    ledger_save_failed: bool,
    /// Candidate files not yet queued, by name.
    files: HashMap<String, Tracked>,
    /// Under `pairs` and `ab`, complete images without a partner, oldest
    /// first.
    waiting: Vec<String>,
    /// Under `chain`, an image that started a chain in the current listing
    /// and is reported as waiting unless another image follows it there.
    chain_start: Option<String>,
    /// Whether the last listing failed, so that an outage logs once.
    listing_failed: bool,
    /// Names with invalid UTF-8 that were already logged.
    warned_names: HashSet<OsString>,
    sink: UnboundedSender<WatchEvent>,
}

/// Runs the watch loop until `cancel` fires or the sink closes.
async fn run(
    mut state: WatchState,
    watcher: RecommendedWatcher,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    // Dropping the watcher at the end of the loop ends its event thread.
    let _watcher = watcher;
    let mut next_scan = Instant::now();
    let mut event_scan: Option<Instant> = None;
    loop {
        let deadline = event_scan.map_or(next_scan, |at| at.min(next_scan));
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            () = wake.notified() => {
                event_scan.get_or_insert_with(|| Instant::now() + EVENT_DELAY);
            }
            () = tokio::time::sleep_until(deadline) => {
                event_scan = None;
                let flow = state.scan(&cancel).await;
                state.save_ledger().await;
                if flow.is_err() {
                    break;
                }
                next_scan = state.next_scan_at(Instant::now());
            }
        }
    }
    state.save_ledger().await;
    info!(folder = %state.dir.display(), "watch folder stopped");
}

impl WatchState {
    /// Lists the folder, decodes the files that settled and pairs the
    /// complete ones.
    async fn scan(&mut self, cancel: &CancellationToken) -> Result<(), Stopped> {
        let Some(listing) = self.list().await else {
            return Ok(());
        };
        let ready = self.observe(&listing, Instant::now());
        let mut completed = Vec::new();
        for name in ready {
            if self.check_image(&name, cancel).await? {
                self.add_complete(&name, &listing)?;
                completed.push(name);
            }
        }
        self.report_waiting(&completed)
    }

    /// Lists the folder on a blocking thread, because a network drive can
    /// block for a long time. Returns `None` when listing failed.
    async fn list(&mut self) -> Option<Listing> {
        let dir = self.dir.clone();
        let result = match tokio::task::spawn_blocking(move || list_folder(&dir)).await {
            Ok(result) => result,
            Err(err) => Err(io::Error::other(err)),
        };
        let listing = match result {
            Ok(listing) => listing,
            Err(err) => {
                if !self.listing_failed {
                    warn!(
                        folder = %self.dir.display(),
                        error = %err,
                        "cannot list the watch folder; retrying at every rescan"
                    );
                    self.listing_failed = true;
                }
                return None;
            }
        };
        if self.listing_failed {
            info!(folder = %self.dir.display(), "the watch folder can be listed again");
            self.listing_failed = false;
        }
        for raw in &listing.non_utf8 {
            if self.warned_names.insert(raw.clone()) {
                warn!(
                    folder = %self.dir.display(),
                    file = %raw.to_string_lossy(),
                    "skipping a file whose name is not valid UTF-8; rename it"
                );
            }
        }
        Some(listing)
    }

    /// Updates the tracked files from a listing and returns the names of the
    /// files that settled, in natural order.
    fn observe(&mut self, listing: &Listing, now: Instant) -> Vec<String> {
        self.files.retain(|name, _| listing.files.contains_key(name));
        self.waiting.retain(|name| listing.files.contains_key(name));

        let mut ready = Vec::new();
        for (name, &stamp) in &listing.files {
            if self.ledger.is_consumed(name, stamp) {
                self.files.remove(name);
                continue;
            }
            match self.files.get_mut(name) {
                // A file gets here only when an earlier listing recorded the
                // same stamp, so it is observed at least twice.
                Some(tracked) if tracked.stamp == stamp => {
                    if let FileState::Settling { since } = tracked.state
                        && now.duration_since(since) >= self.settle
                    {
                        ready.push(name.clone());
                    }
                }
                _ => {
                    debug!(
                        folder = %self.dir.display(),
                        file = %name,
                        size = stamp.size,
                        "file is new or changed; waiting for it to settle"
                    );
                    self.track_settling(name.clone(), stamp, now);
                }
            }
        }
        ready.sort_by(|a, b| natural_order(a, b));
        ready
    }

    /// Starts the settle interval of a new or changed file, which takes it
    /// out of the waiting images.
    fn track_settling(&mut self, name: String, stamp: Stamp, now: Instant) {
        self.waiting.retain(|waiting| *waiting != name);
        let state = FileState::Settling { since: now };
        self.files.insert(name, Tracked { stamp, state });
    }

    /// Decodes a settled file in full. Returns `Ok(true)` when it decoded and
    /// did not change meanwhile, and `Ok(false)` when it was rejected or
    /// changed.
    async fn check_image(
        &mut self,
        name: &str,
        cancel: &CancellationToken,
    ) -> Result<bool, Stopped> {
        let Some(expected) = self.files.get(name).map(|tracked| tracked.stamp) else {
            return Ok(false);
        };
        let path = self.dir.join(name);
        let decode_path = path.clone();
        let decode = tokio::task::spawn_blocking(move || {
            let decoded = segue_render::load_image(&decode_path).map(drop);
            (decoded, stamp_of(&decode_path))
        });
        // The decode thread runs on after a cancel, but nothing reads its
        // result.
        let joined = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Stopped),
            joined = decode => joined,
        };
        let (decoded, stamp_after) = match joined {
            Ok((decoded, stamp_after)) => (decoded.map_err(|err| err.to_string()), stamp_after),
            Err(err) => {
                error!(folder = %self.dir.display(), file = %name, error = %err, "image decoder panicked");
                let message = format!(
                    "{}: decoding the image failed unexpectedly; open it in an image \
                     editor and save it again as JPEG or PNG",
                    path.display()
                );
                (Err(message), Some(expected))
            }
        };

        match stamp_after {
            Some(stamp) if stamp == expected => {}
            Some(stamp) => {
                debug!(folder = %self.dir.display(), file = %name, "file changed while decoding");
                self.track_settling(name.to_string(), stamp, Instant::now());
                return Ok(false);
            }
            None => {
                self.files.remove(name);
                return Ok(false);
            }
        }

        let (state, result) = match decoded {
            Ok(()) => (FileState::Complete, Ok(true)),
            Err(error) => {
                warn!(folder = %self.dir.display(), file = %name, error = %error, "image rejected");
                let sent = self.emit(WatchEvent::Rejected { path, error });
                (FileState::Rejected, sent.map(|()| false))
            }
        };
        if let Some(tracked) = self.files.get_mut(name) {
            tracked.state = state;
        }
        result
    }

    /// Hands a complete image to the pairing rule and sends the pairs that
    /// result.
    fn add_complete(&mut self, name: &str, listing: &Listing) -> Result<(), Stopped> {
        match self.rule {
            Pairing::Chain => self.extend_chain(name, listing),
            Pairing::Pairs | Pairing::Ab => self.pair_waiting(name, listing),
        }
    }

    /// Pairs `name` with the chain's last image, if that image is unchanged,
    /// and makes `name` the chain's last image.
    fn extend_chain(&mut self, name: &str, listing: &Listing) -> Result<(), Stopped> {
        // A last image that was deleted or rewritten since it was queued
        // starts no transition, so `name` starts a new chain.
        let previous = self.ledger.chain_last.clone().filter(|last| {
            last != name
                && listing
                    .files
                    .get(last)
                    .is_some_and(|&stamp| self.ledger.is_consumed(last, stamp))
        });
        match previous {
            Some(last) => {
                let images = [self.dir.join(&last), self.dir.join(name)];
                for pair in pair_images(&images, Pairing::Chain).pairs {
                    self.emit_pair(pair, listing)?;
                }
                if self.chain_start.as_deref() == Some(last.as_str()) {
                    self.chain_start = None;
                }
            }
            None => {
                self.consume(name, listing);
                self.chain_start = Some(name.to_string());
            }
        }
        self.ledger.chain_last = Some(name.to_string());
        self.ledger_dirty = true;
        Ok(())
    }

    /// Adds `name` to the waiting images and sends the pairs that the rule
    /// forms among them.
    fn pair_waiting(&mut self, name: &str, listing: &Listing) -> Result<(), Stopped> {
        self.waiting.push(name.to_string());
        let images: Vec<PathBuf> = self.waiting.iter().map(|name| self.dir.join(name)).collect();
        let result = pair_images(&images, self.rule);
        self.waiting = result.unpaired.iter().map(|path| name_of(path)).collect();
        for pair in result.pairs {
            self.emit_pair(pair, listing)?;
        }
        Ok(())
    }

    /// Sends `Waiting` for the images completed in this listing that are
    /// still without a partner.
    fn report_waiting(&mut self, completed: &[String]) -> Result<(), Stopped> {
        let waiting: Vec<String> = match self.rule {
            Pairing::Chain => self.chain_start.take().into_iter().collect(),
            Pairing::Pairs | Pairing::Ab => {
                self.waiting.iter().filter(|name| completed.contains(name)).cloned().collect()
            }
        };
        // NOTE: under `ab`, an image without an `_a`/`_b` (or `-front`/`-tail`)
        // suffix is reported as waiting although no partner can ever match.
        for name in waiting {
            debug!(folder = %self.dir.display(), file = %name, "image waits for a partner");
            self.emit(WatchEvent::Waiting { path: self.dir.join(&name) })?;
        }
        Ok(())
    }

    /// Sends a pair and records both images as queued.
    fn emit_pair(&mut self, pair: ImagePair, listing: &Listing) -> Result<(), Stopped> {
        let front = name_of(&pair.front);
        let tail = name_of(&pair.tail);
        info!(folder = %self.dir.display(), front = %front, tail = %tail, "pair queued");
        self.emit(WatchEvent::Pair(pair))?;
        self.consume(&front, listing);
        self.consume(&tail, listing);
        Ok(())
    }

    /// Records `name` as queued with its stamp from `listing`.
    fn consume(&mut self, name: &str, listing: &Listing) {
        self.files.remove(name);
        if let Some(&stamp) = listing.files.get(name) {
            self.ledger.consumed.insert(name.to_string(), stamp);
            self.ledger_dirty = true;
        }
    }

    fn emit(&self, event: WatchEvent) -> Result<(), Stopped> {
        self.sink.send(event).map_err(|_| {
            info!(folder = %self.dir.display(), "the receiver of watch events is gone; stopping");
            Stopped
        })
    }

    /// Writes the ledger file if it changed. A failed save is retried after
    /// the next listing.
    async fn save_ledger(&mut self) {
        if !self.ledger_dirty {
            return;
        }
        let json = self.ledger.to_json(&self.dir);
        let path = self.ledger_path.clone();
        let write = move || write_atomically(&path, &json?);
        let result = match tokio::task::spawn_blocking(write).await {
            Ok(result) => result,
            Err(err) => Err(io::Error::other(err)),
        };
        match result {
            Ok(()) => {
                if self.ledger_save_failed {
                    info!(ledger = %self.ledger_path.display(), "watch ledger saved again");
                }
                self.ledger_dirty = false;
                self.ledger_save_failed = false;
            }
            Err(err) => {
                if !self.ledger_save_failed {
                    error!(
                        folder = %self.dir.display(),
                        ledger = %self.ledger_path.display(),
                        error = %err,
                        "cannot save the watch ledger; images queued since the last save \
                         are queued again after a restart unless a later save succeeds"
                    );
                }
                self.ledger_save_failed = true;
            }
        }
    }

    /// Returns when to list the folder next: at the rescan interval, or
    /// earlier when a settling file's interval ends.
    fn next_scan_at(&self, now: Instant) -> Instant {
        let mut at = now + self.rescan;
        for tracked in self.files.values() {
            if let FileState::Settling { since } = tracked.state {
                at = at.min(since + self.settle);
            }
        }
        at.max(now + MIN_SCAN_GAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tempfile::TempDir;
    use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError, unbounded_channel};

    /// Settle interval of the tests.
    const SETTLE: Duration = Duration::from_millis(300);
    /// Rescan interval of the tests.
    const RESCAN: Duration = Duration::from_millis(500);
    /// Time allowed for an expected event, generous for a loaded machine.
    const EVENTUALLY: Duration = Duration::from_secs(20);
    /// Time in which no further event may arrive: several settle intervals
    /// and rescans.
    const QUIET: Duration = Duration::from_millis(1500);

    const IMAGE_1: &str = "03-astronaut-512x512.jpg";
    const IMAGE_2: &str = "04-coffee-600x400.jpg";

    fn fixture(name: &str) -> Vec<u8> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images").join(name);
        fs::read(&path)
            .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()))
    }

    /// A watch folder and a ledger outside it, in one temporary folder.
    struct Setup {
        _root: TempDir,
        dir: PathBuf,
        ledger: PathBuf,
    }

    impl Setup {
        fn new() -> Setup {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("watched");
            fs::create_dir(&dir).unwrap();
            let ledger = root.path().join("data").join("watch.json");
            Setup { _root: root, dir, ledger }
        }

        fn config(&self, rule: Pairing) -> WatchConfig {
            WatchConfig {
                dir: self.dir.clone(),
                rule,
                settle: SETTLE,
                rescan: RESCAN,
                ledger: self.ledger.clone(),
            }
        }

        fn start(&self, rule: Pairing) -> (FolderWatcher, UnboundedReceiver<WatchEvent>) {
            self.start_with(self.config(rule))
        }

        fn start_with(
            &self,
            config: WatchConfig,
        ) -> (FolderWatcher, UnboundedReceiver<WatchEvent>) {
            let (sink, events) = unbounded_channel();
            let watcher = FolderWatcher::start(config, sink).unwrap();
            (watcher, events)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        fn write(&self, name: &str, bytes: &[u8]) {
            fs::write(self.path(name), bytes).unwrap();
        }
    }

    fn pair_of(front: &Path, tail: &Path) -> WatchEvent {
        WatchEvent::Pair(ImagePair { front: front.to_path_buf(), tail: tail.to_path_buf() })
    }

    async fn next_event(events: &mut UnboundedReceiver<WatchEvent>) -> WatchEvent {
        match tokio::time::timeout(EVENTUALLY, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the watcher closed its event channel"),
            Err(_) => panic!("no watch event within {EVENTUALLY:?}"),
        }
    }

    /// Returns the events that arrive within `period`.
    async fn events_during(
        events: &mut UnboundedReceiver<WatchEvent>,
        period: Duration,
    ) -> Vec<WatchEvent> {
        let end = Instant::now() + period;
        let mut received = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(end, events.recv()).await {
            received.push(event);
        }
        received
    }

    /// Receives events until one equals `expected`, and returns the events
    /// before it.
    async fn events_until(
        events: &mut UnboundedReceiver<WatchEvent>,
        expected: &WatchEvent,
    ) -> Vec<WatchEvent> {
        let mut before = Vec::new();
        loop {
            let event = next_event(events).await;
            if event == *expected {
                return before;
            }
            before.push(event);
        }
    }

    fn count_pairs(events: &[WatchEvent]) -> usize {
        events.iter().filter(|event| matches!(event, WatchEvent::Pair(_))).count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_write_queued_once_after_complete() {
        let setup = Setup::new();
        setup.write("a.jpg", &fixture(IMAGE_1));
        // Listing every 50 ms observes each partial size several times, so
        // only the settle interval keeps the partial file from being decoded.
        let config = WatchConfig {
            settle: Duration::from_millis(600),
            rescan: Duration::from_millis(50),
            ..setup.config(Pairing::Pairs)
        };
        let (watcher, mut events) = setup.start_with(config);
        let waiting_a = WatchEvent::Waiting { path: setup.path("a.jpg") };
        assert_eq!(next_event(&mut events).await, waiting_a);

        // 16 chunks 150 ms apart keep the file incomplete for 2.4 s, four
        // settle intervals, and each gap is a quarter of the settle interval.
        let bytes = fixture(IMAGE_2);
        let chunk_size = bytes.len().div_ceil(16);
        let mut file = fs::File::create(setup.path("b.jpg")).unwrap();
        for chunk in bytes.chunks(chunk_size) {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let early = events.try_recv();
            assert_eq!(early, Err(TryRecvError::Empty), "event before the file was complete");
            file.write_all(chunk).unwrap();
            file.flush().unwrap();
        }
        drop(file);

        let pair = pair_of(&setup.path("a.jpg"), &setup.path("b.jpg"));
        let before = events_until(&mut events, &pair).await;
        assert_eq!(before, [], "events before the pair");
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after the pair");
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_pair_queued_as_one_job() {
        let setup = Setup::new();
        let (watcher, mut events) = setup.start(Pairing::Pairs);
        tokio::time::sleep(Duration::from_millis(100)).await;
        setup.write("shot1.jpg", &fixture(IMAGE_1));
        setup.write("shot2.jpg", &fixture(IMAGE_2));

        let pair = pair_of(&setup.path("shot1.jpg"), &setup.path("shot2.jpg"));
        let before = events_until(&mut events, &pair).await;
        assert_eq!(count_pairs(&before), 0, "{before:?}");
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after the pair");
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_present_at_start_paired() {
        let setup = Setup::new();
        for (name, fixture_name) in
            [("1.jpg", IMAGE_1), ("2.jpg", IMAGE_2), ("3.jpg", IMAGE_2), ("4.jpg", IMAGE_1)]
        {
            setup.write(name, &fixture(fixture_name));
        }
        let (watcher, mut events) = setup.start(Pairing::Pairs);

        let first = pair_of(&setup.path("1.jpg"), &setup.path("2.jpg"));
        let second = pair_of(&setup.path("3.jpg"), &setup.path("4.jpg"));
        assert_eq!(next_event(&mut events).await, first);
        assert_eq!(next_event(&mut events).await, second);
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after the pairs");
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_skips_queued_but_not_rewritten() {
        let setup = Setup::new();
        setup.write("a.jpg", &fixture(IMAGE_1));
        setup.write("b.jpg", &fixture(IMAGE_2));
        let (watcher, mut events) = setup.start(Pairing::Pairs);
        let pair = pair_of(&setup.path("a.jpg"), &setup.path("b.jpg"));
        assert_eq!(next_event(&mut events).await, pair);
        watcher.stop().await;
        assert!(events.recv().await.is_none(), "the stopped watcher still holds the sink");
        assert!(setup.ledger.is_file(), "no ledger at {}", setup.ledger.display());

        // After the restart, c.jpg is the only image not queued yet, so it
        // waits. Had a.jpg and b.jpg been taken again, a pair would show up.
        setup.write("c.jpg", &fixture(IMAGE_1));
        let (watcher, mut events) = setup.start(Pairing::Pairs);
        let waiting_c = WatchEvent::Waiting { path: setup.path("c.jpg") };
        let before = events_until(&mut events, &waiting_c).await;
        assert_eq!(before, [], "events before c.jpg waits");
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after c.jpg waits");

        // IMAGE_2 has a different size, so a.jpg counts as a new file.
        setup.write("a.jpg", &fixture(IMAGE_2));
        let rewritten = pair_of(&setup.path("c.jpg"), &setup.path("a.jpg"));
        assert_eq!(next_event(&mut events).await, rewritten);
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undecodable_file_rejected_once() {
        let setup = Setup::new();
        let good = fixture(IMAGE_1);
        setup.write("good.jpg", &good);
        setup.write("half.jpg", &good[..good.len() / 2]);
        setup.write("junk.jpg", b"not an image");
        let (watcher, mut events) = setup.start(Pairing::Pairs);

        let waiting_good = WatchEvent::Waiting { path: setup.path("good.jpg") };
        let mut received = events_until(&mut events, &waiting_good).await;
        received.extend(events_during(&mut events, QUIET).await);
        assert_eq!(count_pairs(&received), 0, "{received:?}");
        for name in ["half.jpg", "junk.jpg"] {
            let rejections: Vec<&String> = received
                .iter()
                .filter_map(|event| match event {
                    WatchEvent::Rejected { path, error } if *path == setup.path(name) => {
                        Some(error)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(rejections.len(), 1, "rejections of {name}: {received:?}");
            assert!(rejections[0].contains(name), "{}", rejections[0]);
        }
        assert_eq!(received.len(), 2, "{received:?}");

        // A rejected file is tried again once its content changes.
        setup.write("half.jpg", &fixture(IMAGE_2));
        let pair = pair_of(&setup.path("good.jpg"), &setup.path("half.jpg"));
        assert_eq!(next_event(&mut events).await, pair);
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chain_links_images_in_name_order() {
        let setup = Setup::new();
        for name in ["shot10.jpg", "shot2.jpg", "shot1.jpg"] {
            setup.write(name, &fixture(IMAGE_1));
        }
        let (watcher, mut events) = setup.start(Pairing::Chain);

        let first = pair_of(&setup.path("shot1.jpg"), &setup.path("shot2.jpg"));
        let second = pair_of(&setup.path("shot2.jpg"), &setup.path("shot10.jpg"));
        assert_eq!(next_event(&mut events).await, first);
        assert_eq!(next_event(&mut events).await, second);

        setup.write("shot11.jpg", &fixture(IMAGE_2));
        let third = pair_of(&setup.path("shot10.jpg"), &setup.path("shot11.jpg"));
        assert_eq!(next_event(&mut events).await, third);
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after the chain");
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chain_first_image_waits() {
        let setup = Setup::new();
        setup.write("one.jpg", &fixture(IMAGE_1));
        let (watcher, mut events) = setup.start(Pairing::Chain);
        let waiting = WatchEvent::Waiting { path: setup.path("one.jpg") };
        assert_eq!(next_event(&mut events).await, waiting);
        watcher.stop().await;

        // The ledger stores the chain's last image, so after a restart the
        // next image continues the chain.
        setup.write("two.jpg", &fixture(IMAGE_2));
        let (watcher, mut events) = setup.start(Pairing::Chain);
        let pair = pair_of(&setup.path("one.jpg"), &setup.path("two.jpg"));
        assert_eq!(next_event(&mut events).await, pair);
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ab_pairs_in_either_arrival_order() {
        let setup = Setup::new();
        let (watcher, mut events) = setup.start(Pairing::Ab);

        setup.write("x_b.jpg", &fixture(IMAGE_2));
        let waiting = WatchEvent::Waiting { path: setup.path("x_b.jpg") };
        assert_eq!(next_event(&mut events).await, waiting);
        setup.write("x_a.jpg", &fixture(IMAGE_1));
        let pair = pair_of(&setup.path("x_a.jpg"), &setup.path("x_b.jpg"));
        assert_eq!(next_event(&mut events).await, pair);

        setup.write("y_a.jpg", &fixture(IMAGE_1));
        let waiting = WatchEvent::Waiting { path: setup.path("y_a.jpg") };
        assert_eq!(next_event(&mut events).await, waiting);
        setup.write("y_b.jpg", &fixture(IMAGE_2));
        let pair = pair_of(&setup.path("y_a.jpg"), &setup.path("y_b.jpg"));
        assert_eq!(next_event(&mut events).await, pair);

        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events after the pairs");
        watcher.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hidden_and_temporary_files_ignored() {
        let setup = Setup::new();
        let image = fixture(IMAGE_1);
        for name in [
            ".hidden.jpg",
            "draft.jpg~",
            "upload.jpg.part",
            "download.jpg.crdownload",
            "export.tmp",
            "notes.txt",
        ] {
            setup.write(name, &image);
        }
        setup.write("real.jpg", &image);
        let (watcher, mut events) = setup.start(Pairing::Pairs);

        let waiting = WatchEvent::Waiting { path: setup.path("real.jpg") };
        assert_eq!(next_event(&mut events).await, waiting);
        let after = events_during(&mut events, QUIET).await;
        assert_eq!(after, [], "events for ignored files");
        watcher.stop().await;
    }

    #[test]
    fn candidate_names() {
        for name in ["a.jpg", "B.JPEG", "shot 2.png", "x_a.webp"] {
            assert!(is_candidate_name(name), "{name} should be taken");
        }
        for name in
            [".a.jpg", "a.jpg~", "a.jpg.part", "a.JPG.PART", "a.jpg.crdownload", "a.tmp", "a.txt"]
        {
            assert!(!is_candidate_name(name), "{name} should be skipped");
        }
    }

    #[test]
    fn ledger_round_trips_without_temp_files() {
        let setup = Setup::new();
        let mut ledger = Ledger::default();
        ledger.consumed.insert("a.jpg".into(), Stamp { size: 10, modified_ns: 20 });
        ledger.chain_last = Some("a.jpg".into());
        write_atomically(&setup.ledger, &ledger.to_json(&setup.dir).unwrap()).unwrap();
        write_atomically(&setup.ledger, &ledger.to_json(&setup.dir).unwrap()).unwrap();

        let loaded = Ledger::load(&setup.ledger, &setup.dir).unwrap();
        assert_eq!(loaded.consumed, ledger.consumed);
        assert_eq!(loaded.chain_last.as_deref(), Some("a.jpg"));
        let names: Vec<_> = fs::read_dir(setup.ledger.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["watch.json"]);
    }

    #[test]
    fn ledger_errors_name_file_and_fix() {
        let setup = Setup::new();
        fs::create_dir_all(setup.ledger.parent().unwrap()).unwrap();
        fs::write(&setup.ledger, "{not json").unwrap();
        let message = Ledger::load(&setup.ledger, &setup.dir).unwrap_err().to_string();
        assert!(message.contains("watch.json"), "{message}");
        assert!(message.contains("delete it"), "{message}");

        let other = setup.dir.join("other");
        write_atomically(&setup.ledger, &Ledger::default().to_json(&other).unwrap()).unwrap();
        let message = Ledger::load(&setup.ledger, &setup.dir).unwrap_err().to_string();
        assert!(message.contains("belongs to folder"), "{message}");
    }

    #[tokio::test]
    async fn start_errors_name_folder() {
        let setup = Setup::new();
        let (sink, _events) = unbounded_channel();

        let mut config = setup.config(Pairing::Chain);
        config.dir = setup.dir.join("missing");
        let err = FolderWatcher::start(config, sink.clone()).unwrap_err();
        assert!(matches!(err, WatchError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("missing"), "{err}");

        setup.write("file.jpg", b"x");
        let mut config = setup.config(Pairing::Chain);
        config.dir = setup.path("file.jpg");
        let err = FolderWatcher::start(config, sink.clone()).unwrap_err();
        assert!(matches!(err, WatchError::NotADirectory { .. }), "{err:?}");
        assert!(err.to_string().contains("file.jpg"), "{err}");

        let mut config = setup.config(Pairing::Chain);
        config.rescan = Duration::ZERO;
        let err = FolderWatcher::start(config, sink).unwrap_err();
        assert!(matches!(err, WatchError::ZeroRescan { .. }), "{err:?}");
    }

    #[test]
    fn ledger_path_differs_per_folder() {
        let data = Path::new("/data");
        let first = ledger_path(data, Path::new("/a"));
        let second = ledger_path(data, Path::new("/b"));
        assert_ne!(first, second);
        assert_eq!(first.parent(), Some(data));
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("watch-"), "{name}");
        assert!(name.ends_with(".json"), "{name}");
    }
}
