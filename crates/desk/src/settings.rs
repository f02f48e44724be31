//! Persisted settings and the fal.ai key store.
//!
//! Settings live in `settings.json` in the data folder, written through a
//! temporary file and a rename so that a crash never leaves half a file.
//! The API key never enters that file: it goes to the OS keychain through a
//! [`KeyStore`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use segue_fal::{FalKey, KeyError};

use crate::api::{IpcError, IpcErrorKind, KeyStatus, Settings};

/// Largest concurrency the settings accept for hosted models.
pub const MAX_FAL_CONCURRENCY: u32 = 64;
/// Largest attempt budget the settings accept.
pub const MAX_ATTEMPTS: u32 = 10;

/// Reads `path`. A missing file gives the defaults; an unreadable or invalid
/// one gives the defaults too, after a warning, so that a damaged file never
/// keeps the app from starting. Fields missing from the file take their
/// defaults.
pub fn load(path: &Path) -> Settings {
    let mut settings = match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
            Ok(settings) => settings,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "settings file is invalid; using defaults");
                Settings::default()
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Settings::default(),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read the settings file; using defaults");
            Settings::default()
        }
    };
    settings.local_concurrency = settings.local_concurrency.clamp(1, local_core_count());
    settings
}

/// Writes `settings` to `path` atomically.
pub fn save(path: &Path, settings: &Settings) -> Result<(), IpcError> {
    let io_error = |err: std::io::Error| {
        IpcError::new(
            IpcErrorKind::Io,
            format!("cannot write settings to {}: {err}", path.display()),
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    let temp = path.with_extension("json.tmp");
    let text =
        serde_json::to_vec_pretty(settings).map_err(|err| IpcError::internal(err.to_string()))?;
    std::fs::write(&temp, text).map_err(io_error)?;
    std::fs::rename(&temp, path).map_err(io_error)
}

/// Number of cores, the local renderer's concurrency ceiling.
pub fn local_core_count() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// Checks `settings` and returns the first problem, naming the field and
/// the fix.
pub fn validate(settings: &Settings) -> Result<(), IpcError> {
    let bad = |message: String| Err(IpcError::bad_input(message));
    if settings.output_dir.trim().is_empty() {
        return bad("Output folder: choose a folder for finished clips".to_string());
    }
    if !Path::new(settings.output_dir.trim()).is_absolute() {
        return bad(format!(
            "Output folder {:?} is not an absolute path; choose a folder",
            settings.output_dir
        ));
    }
    if let Err(err) = segue_engine::output::validate_template(&settings.file_name_template) {
        return bad(format!("File name template: {err}"));
    }
    if settings.provider != segue_engine::job::LOCAL_PROVIDER
        && settings.provider != segue_fal::PROVIDER
    {
        return bad(format!("Provider {:?} is unknown; choose local or fal", settings.provider));
    }
    if segue_fal::find_model(&settings.fal_model).is_none() {
        return bad(format!("Model {:?} is unknown; choose one from the list", settings.fal_model));
    }
    if let Err(err) = settings.output.validate() {
        return bad(format!("Output settings: {err}"));
    }
    let cores = local_core_count();
    if !(1..=cores).contains(&settings.local_concurrency) {
        return bad(format!(
            "Local renders at once must be from 1 to {cores} (this machine's cores), not {}",
            settings.local_concurrency
        ));
    }
    if !(1..=MAX_FAL_CONCURRENCY).contains(&settings.fal_concurrency) {
        return bad(format!(
            "fal requests at once must be from 1 to {MAX_FAL_CONCURRENCY}, not {}",
            settings.fal_concurrency
        ));
    }
    if !(1..=MAX_ATTEMPTS).contains(&settings.max_attempts) {
        return bad(format!(
            "Attempts per job must be from 1 to {MAX_ATTEMPTS}, not {}",
            settings.max_attempts
        ));
    }
    for (label, soft, hard) in [
        ("Local", settings.local_soft_limit_s, settings.local_hard_limit_s),
        ("fal", settings.fal_soft_limit_s, settings.fal_hard_limit_s),
    ] {
        if soft == 0 || hard == 0 {
            return bad(format!("{label} time limits must be at least 1 second"));
        }
        if soft > hard {
            return bad(format!(
                "{label} soft time limit ({soft} s) is longer than the hard limit ({hard} s); make it shorter"
            ));
        }
    }
    if let Some(dir) = &settings.watch_dir {
        let path = Path::new(dir);
        if !path.is_dir() {
            return bad(format!(
                "Watch folder {dir} does not exist or is not a folder; choose another"
            ));
        }
        if same_dir(path, Path::new(&settings.output_dir)) {
            return bad(format!(
                "Watch folder {dir} is the output folder; choose a separate folder"
            ));
        }
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Where the fal.ai key is kept. The app uses [`OsKeychain`]; tests use
/// [`MemoryKeyStore`].
pub trait KeyStore: Send + Sync {
    /// Returns the saved key, if any.
    fn load(&self) -> Result<Option<FalKey>, KeyError>;
    /// Saves `key`, replacing any saved one.
    fn save(&self, key: &FalKey) -> Result<(), KeyError>;
    /// Removes the saved key.
    fn delete(&self) -> Result<(), KeyError>;
}

/// The OS keychain: macOS Keychain, Windows Credential Manager, or the
/// Secret Service on Linux.
#[derive(Debug, Default)]
pub struct OsKeychain;

impl KeyStore for OsKeychain {
    fn load(&self) -> Result<Option<FalKey>, KeyError> {
        FalKey::from_keychain()
    }

    fn save(&self, key: &FalKey) -> Result<(), KeyError> {
        key.save_to_keychain()
    }

    fn delete(&self) -> Result<(), KeyError> {
        FalKey::delete_from_keychain()
    }
}

/// A key store in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    key: Mutex<Option<FalKey>>,
}

impl KeyStore for MemoryKeyStore {
    fn load(&self) -> Result<Option<FalKey>, KeyError> {
        Ok(self.key.lock().expect("key store lock poisoned").clone())
    }

    fn save(&self, key: &FalKey) -> Result<(), KeyError> {
        *self.key.lock().expect("key store lock poisoned") = Some(key.clone());
        Ok(())
    }

    fn delete(&self) -> Result<(), KeyError> {
        *self.key.lock().expect("key store lock poisoned") = None;
        Ok(())
    }
}

/// Finds the key the app would use: `FAL_KEY` (or the id and secret pair)
/// first, then `store`. Returns the key with its status.
pub fn resolve_key(
    store: &dyn KeyStore,
    env: impl Fn(&str) -> Option<String>,
) -> (Option<FalKey>, KeyStatus) {
    if let Some(key) = FalKey::from_lookup(env) {
        let status = KeyStatus {
            present: true,
            source: Some("environment".to_string()),
            masked: Some(key.masked()),
            keychain_error: None,
        };
        return (Some(key), status);
    }
    match store.load() {
        Ok(Some(key)) => {
            let status = KeyStatus {
                present: true,
                source: Some("keychain".to_string()),
                masked: Some(key.masked()),
                keychain_error: None,
            };
            (Some(key), status)
        }
        Ok(None) => {
            (None, KeyStatus { present: false, source: None, masked: None, keychain_error: None })
        }
        Err(err) => (
            None,
            KeyStatus {
                present: false,
                source: None,
                masked: None,
                keychain_error: Some(err.to_string()),
            },
        ),
    }
}

/// Path of the settings file in `data_dir`.
pub fn settings_path(data_dir: &Path) -> PathBuf {
    data_dir.join("settings.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(dir: &Path) -> Settings {
        Settings {
            output_dir: dir.join("out").to_string_lossy().into_owned(),
            ..Settings::default()
        }
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path());
        let mut settings = valid(dir.path());
        settings.prompt = "slow push through fog".to_string();
        settings.fal_concurrency = 25;
        save(&path, &settings).unwrap();
        assert_eq!(load(&path), settings);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn missing_or_damaged_file_gives_defaults_and_missing_fields_take_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = settings_path(dir.path());
        assert_eq!(load(&path), Settings::default());
        std::fs::write(&path, b"{ not json").unwrap();
        assert_eq!(load(&path), Settings::default());
        std::fs::write(&path, br#"{"prompt":"kept"}"#).unwrap();
        let loaded = load(&path);
        assert_eq!(loaded.prompt, "kept");
        assert_eq!(loaded.max_attempts, Settings::default().max_attempts);
    }

    #[test]
    fn validate_names_the_field_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        assert!(validate(&valid(dir.path())).is_ok());

        type Change = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.output_dir = "relative/out".into()), "not an absolute path"),
            (Box::new(|s| s.file_name_template = "{nope}".into()), "File name template"),
            (Box::new(|s| s.fal_model = "no/such/model".into()), "Model"),
            (Box::new(|s| s.fal_concurrency = 0), "fal requests at once"),
            (Box::new(|s| s.local_concurrency = 10_000), "Local renders at once"),
            (Box::new(|s| s.max_attempts = 0), "Attempts per job"),
            (Box::new(|s| s.fal_soft_limit_s = s.fal_hard_limit_s + 1), "soft time limit"),
            (Box::new(|s| s.watch_dir = Some("/no/such/folder/here".into())), "Watch folder"),
            (Box::new(|s| s.provider = "gpu".into()), "Provider"),
        ];
        for (change, expected) in cases {
            let mut settings = valid(dir.path());
            change(&mut settings);
            let err = validate(&settings).unwrap_err();
            assert_eq!(err.kind, IpcErrorKind::BadInput);
            assert!(err.message.contains(expected), "{expected:?} not in {:?}", err.message);
        }
    }

    #[test]
    fn watch_folder_may_not_be_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = valid(dir.path());
        std::fs::create_dir_all(&settings.output_dir).unwrap();
        settings.watch_dir = Some(settings.output_dir.clone());
        assert!(validate(&settings).unwrap_err().message.contains("is the output folder"));
    }

    #[test]
    fn key_resolution_prefers_the_environment_and_never_shows_the_key() {
        let store = MemoryKeyStore::default();
        let no_env = |_: &str| None;
        let (key, status) = resolve_key(&store, no_env);
        assert!(key.is_none());
        assert!(!status.present);

        store.save(&FalKey::new("stored-key-1234:abcd").unwrap()).unwrap();
        let (key, status) = resolve_key(&store, no_env);
        assert!(key.is_some());
        assert_eq!(status.source.as_deref(), Some("keychain"));
        assert_eq!(status.masked.as_deref(), Some("••••abcd"));
        let json = serde_json::to_string(&status).unwrap();
        assert!(!json.contains("stored-key"), "{json}");

        let env = |name: &str| (name == "FAL_KEY").then(|| "env-key-999:wxyz".to_string());
        let (_, status) = resolve_key(&store, env);
        assert_eq!(status.source.as_deref(), Some("environment"));
        assert_eq!(status.masked.as_deref(), Some("••••wxyz"));

        store.delete().unwrap();
        assert!(!resolve_key(&store, no_env).1.present);
    }
}
