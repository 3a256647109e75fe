//! Secrets in the OS credential store (service `lrx`, account `<tenant>/<client>…`): the
//! client secret, a certificate key's passphrase, a device code sign-in's refresh token, and
//! the access tokens every process of one sign-in shares until shortly before they expire.
//! Which store, `store` decides; never a file. When no store is usable, say so with the real
//! cause and what to do instead.

mod store;

use sha2::{Digest as _, Sha256};

use crate::api::auth::{AccessToken, Secret};

pub use store::{Choice, Chosen, StoreKind, chosen, prefer};

const SERVICE: &str = "lrx";

#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(
        "no secure credential store is usable here: {0}. On a Linux jump box without a session keyring, run lrx under `keyctl session - …` (Debian package keyutils); on a desktop, unlock the login keyring; or set LRX_CLIENT_SECRET for this shell, or use --auth azure-cli. lrx never falls back to a plaintext file."
    )]
    Unavailable(String),
    #[error("the credential store failed: {0}")]
    Failed(String),
}

fn account(tenant: &str, client_id: &str) -> String {
    format!("{tenant}/{client_id}")
}

/// Uses the in-memory mock store instead of the OS's (tests).
pub fn use_mock_store() {
    store::use_mock();
}

/// The store in use and whether it answers, for `lrx doctor` and `config show`.
pub fn status() -> Result<String, String> {
    let chosen = chosen().map_err(|why| format!("none usable: {why}"))?;
    let caveat = chosen
        .caveat()
        .map(|caveat| format!("; {caveat}"))
        .unwrap_or_default();
    chosen
        .usable()
        .map(|()| format!("{}: usable{caveat}", chosen.name()))
        .map_err(|why| format!("{}: not usable ({why}){caveat}", chosen.name()))
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
    let store = store::current().map_err(SecretStoreError::Unavailable)?;
    keyring_core::Entry::new_in_store(&store, SERVICE, &account(tenant, client_id))
        .map_err(map_error)
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

/// How a sign-in proves itself, for the name of its shared token: tokens of a secret, a
/// certificate and a user's device code sign-in are kept apart (the last carries the user's
/// rights, not the app's).
pub const TOKEN_KINDS: [&str; 3] = ["client-secret", "certificate", "device-code"];

/// The access token of one sign-in — tenant, app, kind, token endpoint and scope — shared by
/// every lrx process that makes the same sign-in. The endpoint and scope are in its name, so
/// a token made for one API or sign-in host is never sent to another.
///
/// A kept token is also bound to the credential that made it: a process holding another
/// secret (a wrong one, or one revoked since) does not borrow a token it could not get
/// itself, but signs in and fails or replaces it.
pub struct KeyringTokens {
    tenant: String,
    account: String,
    binding: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeptToken {
    access_token: String,
    /// Seconds since the epoch.
    expires_at: i64,
    /// `credential_binding` of the credential that made it.
    #[serde(default)]
    binding: String,
}

/// What binds a token to the credential that made it: a digest of the secret (or of
/// whatever names the credential), never the secret itself.
pub fn credential_binding(credential: &str) -> String {
    hex::encode(Sha256::digest(format!("lrx token binding\0{credential}")))
}

impl KeyringTokens {
    /// `binding` is `credential_binding` of the credential this process signs in with.
    pub fn new(target: &super::SignInTarget, kind: &str, binding: String) -> Self {
        let digest = Sha256::digest(format!("{}|{}", target.token_url, target.scope));
        Self {
            tenant: target.tenant.clone(),
            account: format!(
                "{}/access-token/{kind}/{}",
                target.client_id,
                hex::encode(&digest[..8])
            ),
            binding,
        }
    }
}

impl crate::api::auth::TokenShelf for KeyringTokens {
    fn load(&self) -> Result<Option<AccessToken>, String> {
        let Some(kept) = load(&self.tenant, &self.account).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        // Something else under our name is not a token to send anywhere.
        let Ok(kept) = serde_json::from_str::<KeptToken>(kept.expose()) else {
            return Ok(None);
        };
        if kept.binding != self.binding {
            return Ok(None);
        }
        Ok(
            chrono::DateTime::from_timestamp(kept.expires_at, 0).map(|expires_at| AccessToken {
                value: Secret::new(kept.access_token),
                expires_at,
            }),
        )
    }

    fn store(&self, token: &AccessToken) -> Result<(), String> {
        let kept = serde_json::to_string(&KeptToken {
            access_token: token.value.expose().to_string(),
            expires_at: token.expires_at.timestamp(),
            binding: self.binding.clone(),
        })
        .map_err(|e| e.to_string())?;
        store(&self.tenant, &self.account, &Secret::new(kept)).map_err(|e| e.to_string())
    }

    fn forget(&self) -> Result<(), String> {
        delete(&self.tenant, &self.account)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Drops every shared access token of this app's sign-ins (a new secret, or logout);
/// whether there was one.
pub fn forget_tokens(target: &super::SignInTarget) -> Result<bool, SecretStoreError> {
    let mut removed = false;
    for kind in TOKEN_KINDS {
        let tokens = KeyringTokens::new(target, kind, String::new());
        removed |= delete(&tokens.tenant, &tokens.account)?;
    }
    Ok(removed)
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

    #[test]
    fn access_tokens_are_kept_per_sign_in_and_dropped_together() {
        use crate::api::auth::TokenShelf as _;
        use_mock_store();
        let target = super::super::SignInTarget {
            tenant: "t-tokens".into(),
            client_id: "c".into(),
            token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token".into(),
            scope: "https://api.securitycenter.microsoft.com/.default".into(),
        };
        let other_api = super::super::SignInTarget {
            scope: "https://api.security.microsoft.com/.default".into(),
            ..target.clone()
        };
        let binding = credential_binding("s3cret");
        let secret = KeyringTokens::new(&target, "client-secret", binding.clone());
        let token = AccessToken {
            value: Secret::new("eyJ.token"),
            expires_at: chrono::DateTime::from_timestamp(1_900_000_000, 0).expect("time"),
        };
        secret.store(&token).expect("store");
        let back = secret.load().expect("load").expect("kept");
        assert_eq!(
            (back.value, back.expires_at),
            (token.value, token.expires_at)
        );
        for apart in [
            KeyringTokens::new(&target, "device-code", binding.clone()),
            KeyringTokens::new(&other_api, "client-secret", binding.clone()),
            KeyringTokens::new(&target, "client-secret", credential_binding("wrong")),
        ] {
            assert!(apart.load().expect("load").is_none(), "kept apart");
        }
        assert!(forget_tokens(&target).expect("forget"));
        assert!(secret.load().expect("load").is_none());
        assert!(!forget_tokens(&target).expect("forget again"));
    }
}
