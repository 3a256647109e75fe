//! Client secrets in the OS credential store (service `lrx`, account `<tenant>/<client>`):
//! the kernel keyutils store on Linux — it works on headless jump boxes without D-Bus — and
//! never a file. When no secure store is usable, say so with the real cause.

use std::sync::OnceLock;

use crate::api::auth::Secret;

const SERVICE: &str = "lrx";

#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(
        "no secure credential store is usable here ({0}). On a Linux jump box without a session keyring, run lrx under `keyctl session - …` (Debian package keyutils); otherwise set LRX_CLIENT_SECRET for this shell, or use --auth azure-cli. lrx never falls back to a plaintext file."
    )]
    Unavailable(String),
    #[error("the credential store failed: {0}")]
    Failed(String),
}

fn account(tenant: &str, client_id: &str) -> String {
    format!("{tenant}/{client_id}")
}

/// Chooses the platform store once per process (tests may choose the mock first).
fn ensure_store() -> Result<(), SecretStoreError> {
    static CHOSEN: OnceLock<Result<(), String>> = OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            #[cfg(target_os = "linux")]
            {
                let store =
                    linux_keyutils_keyring_store::Store::new().map_err(|e| e.to_string())?;
                keyring_core::set_default_store(store);
                Ok(())
            }
            #[cfg(not(target_os = "linux"))]
            {
                Err("this build of lrx has a credential store for Linux only".to_string())
            }
        })
        .clone()
        .map_err(SecretStoreError::Unavailable)
}

/// Uses the in-memory mock store instead of the OS's (tests).
pub fn use_mock_store() {
    if let Ok(store) = keyring_core::mock::Store::new() {
        keyring_core::set_default_store(store);
    }
}

fn map_error(error: keyring_core::Error) -> SecretStoreError {
    match error {
        keyring_core::Error::NoStorageAccess(cause) => {
            SecretStoreError::Unavailable(cause.to_string())
        }
        keyring_core::Error::NoDefaultStore => {
            SecretStoreError::Unavailable("no credential store is set up".into())
        }
        other => SecretStoreError::Failed(other.to_string()),
    }
}

fn entry(tenant: &str, client_id: &str) -> Result<keyring_core::Entry, SecretStoreError> {
    if keyring_core::Entry::new(SERVICE, "probe").is_err() {
        ensure_store()?;
    }
    keyring_core::Entry::new(SERVICE, &account(tenant, client_id)).map_err(map_error)
}

pub fn store(tenant: &str, client_id: &str, secret: &Secret) -> Result<(), SecretStoreError> {
    entry(tenant, client_id)?
        .set_password(secret.expose())
        .map_err(map_error)
}

/// The stored secret, or `None` when there is none for this tenant and app.
pub fn load(tenant: &str, client_id: &str) -> Result<Option<Secret>, SecretStoreError> {
    match entry(tenant, client_id)?.get_password() {
        Ok(secret) => Ok(Some(Secret::new(secret))),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(error) => Err(map_error(error)),
    }
}

/// Removes the stored secret; `false` when there was none.
pub fn delete(tenant: &str, client_id: &str) -> Result<bool, SecretStoreError> {
    match entry(tenant, client_id)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring_core::Error::NoEntry) => Ok(false),
        Err(error) => Err(map_error(error)),
    }
}

fn refresh_account(tenant: &str, client_id: &str) -> (String, String) {
    (tenant.to_string(), format!("{client_id}/refresh"))
}

/// The refresh token of a device code sign-in, kept next to (never inside) the client secret.
pub struct KeyringRefreshTokens {
    pub tenant: String,
    pub client_id: String,
}

impl crate::api::auth::RefreshTokenStore for KeyringRefreshTokens {
    fn load(&self) -> Result<Option<Secret>, String> {
        let (tenant, account) = refresh_account(&self.tenant, &self.client_id);
        load(&tenant, &account).map_err(|e| e.to_string())
    }

    fn store(&self, token: &Secret) -> Result<(), String> {
        let (tenant, account) = refresh_account(&self.tenant, &self.client_id);
        store(&tenant, &account, token).map_err(|e| e.to_string())
    }
}

impl KeyringRefreshTokens {
    pub fn of(target: &super::SignInTarget) -> Self {
        Self {
            tenant: target.tenant.clone(),
            client_id: target.client_id.clone(),
        }
    }
}

pub fn delete_refresh(tenant: &str, client_id: &str) -> Result<bool, SecretStoreError> {
    let (tenant, account) = refresh_account(tenant, client_id);
    delete(&tenant, &account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_in_the_mock_store() {
        use_mock_store();
        assert!(load("t", "c").expect("load").is_none());
        store("t", "c", &Secret::new("s3cret")).expect("store");
        assert_eq!(
            load("t", "c")
                .expect("load")
                .map(|s| s.expose().to_string()),
            Some("s3cret".into())
        );
        assert!(
            load("t", "other").expect("load").is_none(),
            "kept apart per app"
        );
        assert!(delete("t", "c").expect("delete"));
        assert!(!delete("t", "c").expect("delete again"));
        assert!(load("t", "c").expect("load").is_none());
    }
}
