//! Location of Segue's data folder.

use std::path::PathBuf;

/// Environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "SEGUE_DATA_DIR";

/// Returns the data folder: `explicit` when given, else `$SEGUE_DATA_DIR`,
/// else the platform's data folder (`~/.local/share/segue` on Linux,
/// `~/Library/Application Support/app.segue.Segue` on macOS,
/// `%APPDATA%\Segue\Segue\data` on Windows).
pub fn data_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("app", "Segue", "Segue")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".segue"))
}
