//! `lrx login` and `lrx logout`: the client secret goes into the OS credential store, asked
//! for without echo (or read from standard input for automation), checked before it is kept.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use super::failure::Failure;
use crate::api::auth::{ClientSecretCredential, Secret, TokenShelf as _, TokenSource as _};
use crate::cli::Cli;
use crate::config::{FileConfig, SignInTarget, secrets};

fn target(cli: &Cli, config: &FileConfig) -> Result<SignInTarget, Failure> {
    cli.global
        .session_options(config)
        .connection
        .sign_in_target()
        .map_err(|e| Failure::Usage(e.to_string()))
}

/// Reads the secret without echo from a terminal, or a line from standard input otherwise.
fn read_secret(prompt: &str) -> Result<Secret, Failure> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Runtime(format!("could not read the secret: {e}")))?;
        return Ok(Secret::new(line.trim_end_matches(['\r', '\n'])));
    }
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    ratatui::crossterm::terminal::enable_raw_mode().map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut secret = String::new();
    let outcome = loop {
        match event::read() {
            Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => match key.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(Failure::Usage("cancelled".into()));
                }
                KeyCode::Esc => break Err(Failure::Usage("cancelled".into())),
                KeyCode::Backspace => {
                    secret.pop();
                }
                KeyCode::Char(c) => secret.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(error) => {
                break Err(Failure::Runtime(format!(
                    "could not read the secret: {error}"
                )));
            }
        }
    };
    let _ = ratatui::crossterm::terminal::disable_raw_mode();
    eprintln!();
    outcome.map(|()| Secret::new(secret))
}

/// The store that keeps what lrx stores, said where the analyst stores something: the
/// kernel keyring's fallback is said here, because it does not survive a reboot.
fn store_in_use() -> String {
    secrets::chosen().map_or_else(
        |_| "the OS credential store".into(),
        |chosen| {
            if let Some(caveat) = chosen.caveat() {
                eprintln!("lrx: {caveat}");
            }
            chosen.name()
        },
    )
}

fn store_error(error: &secrets::SecretStoreError) -> Failure {
    match error {
        secrets::SecretStoreError::Unavailable(_) => Failure::Usage(error.to_string()),
        secrets::SecretStoreError::Failed(_) => Failure::Runtime(error.to_string()),
    }
}

pub(super) async fn login(cli: &Cli, config: &FileConfig, verify: bool) -> Result<(), Failure> {
    let target = target(cli, config)?;
    let secret = read_secret(&format!(
        "Client secret for app {} in tenant {} (input hidden): ",
        target.client_id, target.tenant
    ))?;
    if secret.expose().is_empty() {
        return Err(Failure::Usage("no secret given; nothing stored".into()));
    }
    let mut verified = None;
    if verify {
        let credential = ClientSecretCredential {
            token_url: target.token_url.clone(),
            tenant_id: target.tenant.clone(),
            client_id: target.client_id.clone(),
            secret: secret.clone(),
            scope: target.scope.clone(),
        };
        let http = crate::session::http_client()?;
        verified = Some(
            credential
                .fetch(&http)
                .await
                .map_err(|e| Failure::Runtime(format!("the secret was not stored: {e}")))?,
        );
    }
    secrets::store(&target.tenant, &target.client_id, &secret).map_err(|e| store_error(&e))?;
    // Tokens of the old secret go; the one just made with the new secret serves the next
    // lrx processes, so this sign-in is not made twice.
    secrets::forget_tokens(&target).map_err(|e| store_error(&e))?;
    if let Some(token) = verified {
        let shelf = secrets::KeyringTokens::new(
            &target,
            "client-secret",
            secrets::credential_binding(secret.expose()),
        );
        if let Err(error) = shelf.store(&token) {
            tracing::warn!("could not keep the access token for other lrx processes: {error}");
        }
    }
    println!(
        "Stored the client secret for app {} in tenant {} in {} (service lrx).",
        target.client_id,
        target.tenant,
        store_in_use()
    );
    Ok(())
}

pub(super) async fn device_login(cli: &Cli, config: &FileConfig) -> Result<(), Failure> {
    let target = target(cli, config)?;
    let http = crate::session::http_client()?;
    let tokens = secrets::KeyringRefreshTokens::of(&target);
    crate::api::device::device_sign_in(&http, &target, &tokens, |prompt| {
        let message = prompt.message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}.",
                prompt.verification_uri, prompt.user_code
            )
        });
        eprintln!("{}", crate::sanitize::line(&message));
        eprintln!("Waiting for the sign-in to complete…");
    })
    .await
    .map_err(Failure::Runtime)?;
    // Another user may have signed in before: their tokens must not serve this one.
    secrets::forget_tokens(&target).map_err(|e| store_error(&e))?;
    println!(
        "Signed in. The refresh token for app {} in tenant {} is in {}; use --auth device-code (or auth = \"device-code\").",
        target.client_id,
        target.tenant,
        store_in_use()
    );
    Ok(())
}

/// Keeps the passphrase of an encrypted certificate key in the keyring.
pub(super) fn key_passphrase(cli: &Cli, config: &FileConfig) -> Result<(), Failure> {
    let target = target(cli, config)?;
    let passphrase = read_secret(&format!(
        "Passphrase of the private key for app {} (input hidden): ",
        target.client_id
    ))?;
    if passphrase.expose().is_empty() {
        return Err(Failure::Usage("no passphrase given; nothing stored".into()));
    }
    secrets::store(
        &target.tenant,
        &format!("{}/key-passphrase", target.client_id),
        &passphrase,
    )
    .map_err(|e| store_error(&e))?;
    println!(
        "Stored the key passphrase for app {} in tenant {} in {}.",
        target.client_id,
        target.tenant,
        store_in_use()
    );
    Ok(())
}

pub(super) fn logout(cli: &Cli, config: &FileConfig) -> Result<(), Failure> {
    let target = target(cli, config)?;
    let refresh_removed =
        secrets::delete_refresh(&target.tenant, &target.client_id).map_err(|e| store_error(&e))?;
    if secrets::forget_tokens(&target).map_err(|e| store_error(&e))? {
        println!(
            "Removed the access tokens lrx kept for app {} in tenant {}.",
            target.client_id, target.tenant
        );
    }
    if secrets::delete(
        &target.tenant,
        &format!("{}/key-passphrase", target.client_id),
    )
    .map_err(|e| store_error(&e))?
    {
        println!(
            "Removed the key passphrase for app {} in tenant {}.",
            target.client_id, target.tenant
        );
    }
    if refresh_removed {
        println!(
            "Removed the device code sign-in for app {} in tenant {}.",
            target.client_id, target.tenant
        );
    }
    let removed =
        secrets::delete(&target.tenant, &target.client_id).map_err(|e| store_error(&e))?;
    if removed {
        println!(
            "Removed the client secret for app {} in tenant {} from {}.",
            target.client_id,
            target.tenant,
            store_in_use()
        );
    } else {
        println!(
            "No client secret was stored for app {} in tenant {}.",
            target.client_id, target.tenant
        );
    }
    Ok(())
}
