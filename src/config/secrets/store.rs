//! Which credential store keeps lrx's secrets: the platform's own (the macOS Keychain,
//! Windows Credential Manager, Secret Service on a Linux desktop), the kernel keyring on a
//! headless Linux box where no Secret Service answers, or the one `[secrets] store` (or
//! `LRX_SECRET_STORE`) names. Never a file: when no store is usable, lrx says why and stops.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

use super::SERVICE;

/// A credential store lrx can use, by its name in `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    SecretService,
    Keyutils,
    Keychain,
    Windows,
}

impl StoreKind {
    pub const ALL: [Self; 4] = [
        Self::SecretService,
        Self::Keyutils,
        Self::Keychain,
        Self::Windows,
    ];

    pub fn config_name(self) -> &'static str {
        match self {
            Self::SecretService => "secret-service",
            Self::Keyutils => "keyutils",
            Self::Keychain => "keychain",
            Self::Windows => "windows",
        }
    }

    /// What the analyst knows it as.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SecretService => "Secret Service",
            Self::Keyutils => "the kernel keyring (keyutils)",
            Self::Keychain => "the macOS Keychain",
            Self::Windows => "Windows Credential Manager",
        }
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.config_name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                format!(
                    "'{}' is not a credential store (use {})",
                    crate::sanitize::line(text),
                    Self::ALL.map(Self::config_name).join(", ")
                )
            })
    }
}

/// How the store in use came to be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `[secrets] store` or `LRX_SECRET_STORE` named it.
    Configured,
    /// The platform's own store.
    PlatformDefault,
    /// The kernel keyring, because no Secret Service answered (why not).
    Fallback { why: String },
}

pub struct Chosen {
    pub kind: StoreKind,
    pub choice: Choice,
    pub(super) store: Arc<CredentialStore>,
}

impl Chosen {
    /// Which store, as the analyst knows it.
    pub fn name(&self) -> String {
        match &self.choice {
            Choice::Configured => format!("{} (as configured)", self.kind.describe()),
            Choice::PlatformDefault | Choice::Fallback { .. } => self.kind.describe().to_string(),
        }
    }

    /// What the analyst should know about it: said where something is stored, and by
    /// `lrx doctor` and `config show`.
    pub fn caveat(&self) -> Option<String> {
        match &self.choice {
            Choice::Fallback { why } => Some(format!(
                "using the kernel keyring: it does not survive a reboot (no Secret Service answered: {why})"
            )),
            Choice::Configured | Choice::PlatformDefault => None,
        }
    }

    /// Whether the store keeps what lrx writes: a probe entry written, read back and
    /// removed (a kernel keyring without a session may take a write and lose it).
    pub fn usable(&self) -> Result<(), String> {
        let probe = Entry::new_in_store(&self.store, SERVICE, "lrx-probe-write")
            .map_err(|e| e.to_string())?;
        let reason = |error: keyring_core::Error| match error {
            keyring_core::Error::NoStorageAccess(cause) => cause.to_string(),
            other => other.to_string(),
        };
        probe.set_password("probe").map_err(reason)?;
        let read = probe.get_password().map_err(reason);
        let _ = probe.delete_credential();
        match read? {
            text if text == "probe" => Ok(()),
            _ => Err("what was written did not read back".into()),
        }
    }
}

/// Connecting to Secret Service may wait on the D-Bus activation of a daemon that never
/// comes (a half-configured jump box): this long, then the kernel keyring instead.
const SECRET_SERVICE_WAIT: Duration = Duration::from_secs(5);

fn usable(store: &Arc<CredentialStore>) -> Result<(), String> {
    let probe = Entry::new_in_store(store, SERVICE, "lrx-probe").map_err(|e| e.to_string())?;
    match probe.get_password() {
        Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(keyring_core::Error::NoStorageAccess(cause)) => Err(cause.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn secret_service() -> Result<Arc<CredentialStore>, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let opened = zbus_secret_service_keyring_store::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| e.to_string());
        let _ = sender.send(opened);
    });
    receiver
        .recv_timeout(SECRET_SERVICE_WAIT)
        .map_err(|_| format!("no answer within {} s", SECRET_SERVICE_WAIT.as_secs()))?
        .map_err(|error| {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
                "no D-Bus session".to_string()
            } else {
                error
            }
        })
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn secret_service() -> Result<Arc<CredentialStore>, String> {
    Err("Secret Service is the store of Linux and BSD desktops, not of this system".into())
}

#[cfg(target_os = "linux")]
fn keyutils() -> Result<Arc<CredentialStore>, String> {
    linux_keyutils_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn keyutils() -> Result<Arc<CredentialStore>, String> {
    Err("the kernel keyring (keyutils) is Linux's only".into())
}

#[cfg(target_os = "macos")]
fn keychain() -> Result<Arc<CredentialStore>, String> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "macos"))]
fn keychain() -> Result<Arc<CredentialStore>, String> {
    Err("the Keychain is macOS's only".into())
}

#[cfg(target_os = "windows")]
fn windows() -> Result<Arc<CredentialStore>, String> {
    windows_native_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "windows"))]
fn windows() -> Result<Arc<CredentialStore>, String> {
    Err("Credential Manager is Windows's only".into())
}

fn open(kind: StoreKind) -> Result<Arc<CredentialStore>, String> {
    match kind {
        StoreKind::SecretService => secret_service(),
        StoreKind::Keyutils => keyutils(),
        StoreKind::Keychain => keychain(),
        StoreKind::Windows => windows(),
    }
}

/// The platform's own store; on Linux, Secret Service when one answers, else the kernel
/// keyring (headless jump boxes have no desktop session, but an SSH login has a keyring).
fn platform_default() -> Result<Chosen, String> {
    let chosen = |kind, store| Chosen {
        kind,
        choice: Choice::PlatformDefault,
        store,
    };
    if cfg!(target_os = "macos") {
        return keychain().map(|store| chosen(StoreKind::Keychain, store));
    }
    if cfg!(target_os = "windows") {
        return windows().map(|store| chosen(StoreKind::Windows, store));
    }
    let secret_service = secret_service().and_then(|store| usable(&store).map(|()| store));
    match secret_service {
        Ok(store) => Ok(chosen(StoreKind::SecretService, store)),
        Err(why) if cfg!(target_os = "linux") => match keyutils() {
            Ok(store) => Ok(Chosen {
                kind: StoreKind::Keyutils,
                choice: Choice::Fallback { why },
                store,
            }),
            Err(keyutils) => Err(format!(
                "no Secret Service answered ({why}) and the kernel keyring could not be opened ({keyutils})"
            )),
        },
        Err(why) => Err(why),
    }
}

static PREFERENCE: OnceLock<Option<StoreKind>> = OnceLock::new();
static CHOSEN: OnceLock<Result<Chosen, String>> = OnceLock::new();
static MOCK: OnceLock<Arc<CredentialStore>> = OnceLock::new();

/// The store the configuration names (`None`: the platform's own). Set once, before the
/// first secret is read; later calls change nothing.
pub fn prefer(kind: Option<StoreKind>) {
    let _ = PREFERENCE.set(kind);
}

/// The store in use, chosen once per process.
pub fn chosen() -> Result<&'static Chosen, String> {
    CHOSEN
        .get_or_init(|| match PREFERENCE.get().copied().flatten() {
            Some(kind) => open(kind)
                .map(|store| Chosen {
                    kind,
                    choice: Choice::Configured,
                    store,
                })
                .map_err(|why| format!("{} ({why})", kind.describe())),
            None => platform_default(),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The in-memory mock store instead of the OS's (unit tests; one per test binary).
pub(super) fn use_mock() {
    if let Ok(store) = keyring_core::mock::Store::new() {
        let _ = MOCK.set(store);
    }
}

/// The store entries are made in: the mock when a test chose it, else the chosen one.
pub(super) fn current() -> Result<Arc<CredentialStore>, String> {
    if let Some(mock) = MOCK.get() {
        return Ok(Arc::clone(mock));
    }
    chosen().map(|chosen| Arc::clone(&chosen.store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_read_back_and_mistakes_list_the_choices() {
        for kind in StoreKind::ALL {
            assert_eq!(kind.config_name().parse::<StoreKind>(), Ok(kind));
        }
        assert_eq!(
            " Secret-Service".parse::<StoreKind>(),
            Ok(StoreKind::SecretService)
        );
        let error = "file".parse::<StoreKind>().expect_err("not a store");
        assert!(
            error.contains("secret-service, keyutils, keychain, windows"),
            "{error}"
        );
    }

    #[test]
    fn a_store_of_another_platform_says_so() {
        #[cfg(target_os = "linux")]
        {
            assert!(open(StoreKind::Keychain).is_err_and(|e| e.contains("macOS")));
            assert!(open(StoreKind::Windows).is_err_and(|e| e.contains("Windows")));
        }
    }
}
