//! The fal.ai API key: where it is read from, and the newtype that keeps it
//! out of logs, `Debug` output, error messages and serialized data.

use std::fmt;

use reqwest::header::HeaderValue;

/// Keychain service name under which Segue's settings save the key.
pub const KEYCHAIN_SERVICE: &str = "app.segue.Segue";
/// Keychain user name of the fal.ai key.
pub const KEYCHAIN_USER: &str = "fal";

/// Fix shown to a user whose key is missing or rejected.
pub(crate) const KEY_HINT: &str = "set FAL_KEY or save the key in Segue's settings";

/// A fal.ai API key.
///
/// `Debug` and `Display` print `FalKey(****)`, and the type implements no
/// `Serialize`, so the key reaches only the `Authorization` header of
/// requests to the configured fal hosts.
#[derive(Clone, PartialEq, Eq)]
pub struct FalKey(String);

/// A key that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither the environment nor the keychain has a key.
    #[error("no fal.ai API key found; {KEY_HINT}")]
    Missing,
    /// The key text cannot be sent in an HTTP header.
    #[error("invalid fal.ai API key: {0}; {KEY_HINT}")]
    Invalid(&'static str),
    /// The OS keychain failed.
    #[error("cannot use the OS keychain: {0}")]
    Keychain(String),
}

impl FalKey {
    /// Wraps a key, trimming surrounding whitespace. Rejects an empty key and
    /// one with whitespace or control characters inside.
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Invalid("the key is empty"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::Invalid("the key contains spaces or control characters"));
        }
        Ok(FalKey(trimmed.to_string()))
    }

    /// Reads the key from `FAL_KEY`, or from the legacy pair `FAL_KEY_ID` and
    /// `FAL_KEY_SECRET` joined as `id:secret`, the way fal's own clients do.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`FalKey::from_env`], with variables read through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let usable = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        if let Some(key) = usable(lookup("FAL_KEY")) {
            return FalKey::new(key).ok();
        }
        match (usable(lookup("FAL_KEY_ID")), usable(lookup("FAL_KEY_SECRET"))) {
            (Some(id), Some(secret)) => {
                FalKey::new(format!("{}:{}", id.trim(), secret.trim())).ok()
            }
            _ => None,
        }
    }

    /// Reads the key saved in the OS keychain under [`KEYCHAIN_SERVICE`] and
    /// [`KEYCHAIN_USER`]. Returns `Ok(None)` when no key is saved.
    #[cfg(feature = "keychain")]
    pub fn from_keychain() -> Result<Option<Self>, KeyError> {
        let entry = keychain_entry()?;
        match entry.get_password() {
            Ok(key) => FalKey::new(key).map(Some),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(KeyError::Keychain(err.to_string())),
        }
    }

    /// Saves this key in the OS keychain, replacing any saved key.
    #[cfg(feature = "keychain")]
    pub fn save_to_keychain(&self) -> Result<(), KeyError> {
        keychain_entry()?.set_password(&self.0).map_err(|err| KeyError::Keychain(err.to_string()))
    }

    /// Reads the key from the environment, then from the OS keychain (when
    /// the `keychain` feature is on). A keychain that cannot be reached, as
    /// on a headless Linux machine without a Secret Service, counts as having
    /// no key and is logged at debug level.
    pub fn resolve() -> Result<Self, KeyError> {
        if let Some(key) = FalKey::from_env() {
            return Ok(key);
        }
        #[cfg(feature = "keychain")]
        match FalKey::from_keychain() {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => {}
            Err(err) => tracing::debug!(error = %err, "no fal.ai key from the OS keychain"),
        }
        Err(KeyError::Missing)
    }

    /// Returns the last four characters behind a mask, as `••••1a2b`, for a
    /// settings screen that must not show the key again. Keys of eight
    /// characters or fewer show only the mask.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 8 {
            return "••••".to_string();
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("••••{tail}")
    }

    /// Removes the key saved in the OS keychain. Succeeds when none is saved.
    #[cfg(feature = "keychain")]
    pub fn delete_from_keychain() -> Result<(), KeyError> {
        match keychain_entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(KeyError::Keychain(err.to_string())),
        }
    }

    /// Returns the `Authorization` header value `Key <key>`, marked
    /// sensitive so that HTTP-level logging does not print it.
    pub(crate) fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Key {}", self.0))
            .expect("FalKey::new rejects characters that are invalid in a header");
        value.set_sensitive(true);
        value
    }

    /// Returns the key text, for scrubbing it out of server messages.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "keychain")]
fn keychain_entry() -> Result<keyring::Entry, KeyError> {
    keyring::Entry::new(KEYCHAIN_SERVICE, KEYCHAIN_USER).map_err(|err| match err {
        keyring::Error::NoDefaultStore => KeyError::Keychain(
            "no keychain service is running (on Linux, start GNOME Keyring or KWallet, which \
             provide the Secret Service), so the key cannot be saved; set FAL_KEY instead"
                .to_string(),
        ),
        other => KeyError::Keychain(other.to_string()),
    })
}

impl fmt::Debug for FalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FalKey(****)")
    }
}

impl fmt::Display for FalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FalKey(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = FalKey::new("abc123:secret-part").unwrap();
        assert_eq!(format!("{key:?}"), "FalKey(****)");
        assert_eq!(key.to_string(), "FalKey(****)");
        let nested = format!("{:?}", Some(key.clone()));
        assert!(!nested.contains("secret-part"), "{nested}");
    }

    #[test]
    fn masked_shows_only_the_last_four_characters() {
        let key = FalKey::new("0123abcd-long-secret:9f8e").unwrap();
        assert_eq!(key.masked(), "••••9f8e");
        assert!(!key.masked().contains("secret"));
        assert_eq!(FalKey::new("short").unwrap().masked(), "••••");
    }

    #[test]
    fn header_value_is_sensitive() {
        let key = FalKey::new(" k-1 ").unwrap();
        let value = key.header_value();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Key k-1");
        assert!(!format!("{value:?}").contains("k-1"));
    }

    #[test]
    fn new_rejects_empty_and_inner_spaces() {
        assert!(matches!(FalKey::new("   "), Err(KeyError::Invalid(_))));
        assert!(matches!(FalKey::new("a b"), Err(KeyError::Invalid(_))));
        assert!(matches!(FalKey::new("a\nb"), Err(KeyError::Invalid(_))));
    }

    #[test]
    fn lookup_prefers_fal_key_then_pair() {
        let only_key = |name: &str| (name == "FAL_KEY").then(|| "main".to_string());
        assert_eq!(FalKey::from_lookup(only_key).unwrap().secret(), "main");

        let pair = |name: &str| match name {
            "FAL_KEY" => Some(String::new()),
            "FAL_KEY_ID" => Some("id".to_string()),
            "FAL_KEY_SECRET" => Some("secret".to_string()),
            _ => None,
        };
        assert_eq!(FalKey::from_lookup(pair).unwrap().secret(), "id:secret");

        let half_pair = |name: &str| (name == "FAL_KEY_ID").then(|| "id".to_string());
        assert!(FalKey::from_lookup(half_pair).is_none());
    }

    #[test]
    fn missing_key_message_names_the_fix() {
        let message = KeyError::Missing.to_string();
        assert!(message.contains("FAL_KEY"), "{message}");
        assert!(message.contains("Segue's settings"), "{message}");
    }
}
