//! Keeps the current access token and renews it ahead of expiry. With a shelf (the OS
//! credential store), a token is also shared by every lrx process of the same sign-in, so a
//! loop of `lrx result` calls signs in once, not once per process: Entra throttles token
//! requests too, and each one is a round trip.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{AccessToken, Secret, TokenSource};
use crate::api::error::ApiError;

/// Renew this long before expiry, so a token never dies mid-request.
const RENEW_AHEAD_SECONDS: i64 = 300;

/// Where an access token is kept between processes. Every call may block (D-Bus, a
/// keychain prompt), so the authenticator makes them off the runtime's threads.
pub trait TokenShelf: Send + Sync {
    fn load(&self) -> Result<Option<AccessToken>, String>;
    fn store(&self, token: &AccessToken) -> Result<(), String>;
    fn forget(&self) -> Result<(), String>;
}

pub struct Authenticator {
    source: Box<dyn TokenSource>,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
    shelf: Option<Arc<dyn TokenShelf>>,
}

fn fresh(token: &AccessToken) -> bool {
    token.expires_at - Utc::now() > Duration::seconds(RENEW_AHEAD_SECONDS)
}

/// Runs a shelf call on the blocking pool; a failure is logged and treated as "nothing
/// there", because a shelf only saves sign-ins and must never stop one.
async fn on_shelf<T: Send + 'static>(
    shelf: &Arc<dyn TokenShelf>,
    what: &'static str,
    call: impl FnOnce(&dyn TokenShelf) -> Result<T, String> + Send + 'static,
) -> Option<T> {
    let shelf = Arc::clone(shelf);
    let outcome = tokio::task::spawn_blocking(move || call(shelf.as_ref()))
        .await
        .map_err(|e| e.to_string())
        .and_then(|called| called);
    outcome
        .inspect_err(|error| tracing::warn!("could not {what} the shared access token: {error}"))
        .ok()
}

impl Authenticator {
    pub fn new(source: Box<dyn TokenSource>) -> Self {
        Self {
            source,
            cached: tokio::sync::Mutex::new(None),
            shelf: None,
        }
    }

    /// Shares tokens with other processes through `shelf`.
    #[must_use]
    pub fn with_shelf(mut self, shelf: Arc<dyn TokenShelf>) -> Self {
        self.shelf = Some(shelf);
        self
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The bearer token to send; `renew` says the one sent last was refused (a 401), so it
    /// is neither used again nor left on the shelf for the next process.
    pub async fn bearer(&self, http: &reqwest::Client, renew: bool) -> Result<Secret, ApiError> {
        let mut cached = self.cached.lock().await;
        if !renew && let Some(token) = cached.as_ref().filter(|t| fresh(t)) {
            return Ok(token.value.clone());
        }
        let refused = renew
            .then(|| cached.as_ref().map(|t| t.value.clone()))
            .flatten();
        if let Some(shelf) = &self.shelf {
            match on_shelf(shelf, "read", |shelf| shelf.load())
                .await
                .flatten()
            {
                // Another process may have renewed it already: one renewal for all of them.
                Some(token) if fresh(&token) && refused.as_ref() != Some(&token.value) => {
                    let value = token.value.clone();
                    *cached = Some(token);
                    return Ok(value);
                }
                Some(token) if refused.as_ref() == Some(&token.value) => {
                    tracing::info!("the shared access token was refused (401): dropping it");
                    on_shelf(shelf, "drop", |shelf| shelf.forget()).await;
                }
                _ => {}
            }
        }
        *cached = None;
        let token = self.source.fetch(http).await?;
        if let Some(shelf) = &self.shelf {
            let kept = token.clone();
            on_shelf(shelf, "keep", move |shelf| shelf.store(&kept)).await;
        }
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::BoxFuture;
    use super::*;

    /// A token source that counts its sign-ins and hands out `token-1`, `token-2`, …
    struct Counting {
        signed_in: Arc<AtomicUsize>,
        lifetime: Duration,
    }

    impl TokenSource for Counting {
        fn fetch<'a>(
            &'a self,
            _http: &'a reqwest::Client,
        ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
            Box::pin(async move {
                let n = self.signed_in.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(AccessToken {
                    value: Secret::new(format!("token-{n}")),
                    expires_at: Utc::now() + self.lifetime,
                })
            })
        }

        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[derive(Default)]
    struct MemoryShelf(Mutex<Option<AccessToken>>);

    impl TokenShelf for MemoryShelf {
        fn load(&self) -> Result<Option<AccessToken>, String> {
            Ok(self.0.lock().map_err(|e| e.to_string())?.clone())
        }
        fn store(&self, token: &AccessToken) -> Result<(), String> {
            *self.0.lock().map_err(|e| e.to_string())? = Some(token.clone());
            Ok(())
        }
        fn forget(&self) -> Result<(), String> {
            *self.0.lock().map_err(|e| e.to_string())? = None;
            Ok(())
        }
    }

    struct BrokenShelf;

    impl TokenShelf for BrokenShelf {
        fn load(&self) -> Result<Option<AccessToken>, String> {
            Err("no store".into())
        }
        fn store(&self, _: &AccessToken) -> Result<(), String> {
            Err("no store".into())
        }
        fn forget(&self) -> Result<(), String> {
            Err("no store".into())
        }
    }

    /// A "process": its own authenticator on the shared shelf and the shared sign-in count.
    fn process(
        shelf: &Arc<dyn TokenShelf>,
        signed_in: &Arc<AtomicUsize>,
        lifetime: Duration,
    ) -> Authenticator {
        Authenticator::new(Box::new(Counting {
            signed_in: Arc::clone(signed_in),
            lifetime,
        }))
        .with_shelf(Arc::clone(shelf))
    }

    async fn bearer(auth: &Authenticator, renew: bool) -> String {
        crate::install_crypto_provider();
        auth.bearer(&reqwest::Client::new(), renew)
            .await
            .expect("a token")
            .expose()
            .to_string()
    }

    #[tokio::test]
    async fn processes_on_one_shelf_sign_in_once() {
        let shelf: Arc<dyn TokenShelf> = Arc::new(MemoryShelf::default());
        let signed_in = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let auth = process(&shelf, &signed_in, Duration::hours(1));
            assert_eq!(bearer(&auth, false).await, "token-1");
        }
        assert_eq!(signed_in.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_token_is_renewed_once_and_shared_again() {
        let shelf: Arc<dyn TokenShelf> = Arc::new(MemoryShelf::default());
        let signed_in = Arc::new(AtomicUsize::new(0));
        let first = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(bearer(&first, false).await, "token-1");
        // The service refused token-1 (revoked): renewing must not take it back off the shelf.
        assert_eq!(bearer(&first, true).await, "token-2");
        assert_eq!(bearer(&first, false).await, "token-2", "kept in memory");
        let next = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(
            bearer(&next, false).await,
            "token-2",
            "the next process takes it"
        );
        assert_eq!(signed_in.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_process_told_401_takes_a_renewal_another_process_already_made() {
        let shelf: Arc<dyn TokenShelf> = Arc::new(MemoryShelf::default());
        let signed_in = Arc::new(AtomicUsize::new(0));
        let slow = process(&shelf, &signed_in, Duration::hours(1));
        let quick = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(bearer(&slow, false).await, "token-1");
        assert_eq!(bearer(&quick, false).await, "token-1");
        assert_eq!(bearer(&quick, true).await, "token-2");
        assert_eq!(bearer(&slow, true).await, "token-2", "no second renewal");
        assert_eq!(signed_in.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_near_its_expiry_is_not_taken_from_the_shelf() {
        let shelf: Arc<dyn TokenShelf> = Arc::new(MemoryShelf::default());
        let signed_in = Arc::new(AtomicUsize::new(0));
        let short = process(&shelf, &signed_in, Duration::minutes(4));
        assert_eq!(bearer(&short, false).await, "token-1");
        let next = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(bearer(&next, false).await, "token-2");
        let after = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(bearer(&after, false).await, "token-2");
    }

    #[tokio::test]
    async fn a_broken_shelf_only_costs_sign_ins() {
        let shelf: Arc<dyn TokenShelf> = Arc::new(BrokenShelf);
        let signed_in = Arc::new(AtomicUsize::new(0));
        let auth = process(&shelf, &signed_in, Duration::hours(1));
        assert_eq!(bearer(&auth, false).await, "token-1");
        assert_eq!(
            bearer(&auth, false).await,
            "token-1",
            "still kept in memory"
        );
        assert_eq!(bearer(&auth, true).await, "token-2");
    }
}
