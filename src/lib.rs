//! lrx, the Live Response eXplorer: browse Microsoft Defender for Endpoint Live Response
//! results from the terminal. The library holds the UI-free core (API client, fetch engine,
//! transcript model, simulated tenant) and the terminal UI on top of it.

pub mod act;
pub mod api;
pub mod cli;
pub mod config;
pub mod custody;
pub mod evidence;
pub mod fetch;
pub mod files;
pub mod fixtures;
pub mod results;
pub mod review;
pub mod sanitize;
pub mod session;
pub mod sim;
pub mod team;
pub mod transcript;
pub mod tui;

/// Installs the TLS crypto provider once per process. reqwest is built without a default
/// provider (ring builds faster than aws-lc), so this must run before the first client.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
