//! `lrx doctor`: signs in, calls each endpoint lrx uses once, and says plainly what works and
//! which permission is missing.

use crate::api::models::CommandType;
use crate::api::{ApiError, ListQuery, MdeClient};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

fn check(what: &str, outcome: Result<String, ApiError>) -> Check {
    match outcome {
        Ok(detail) => Check {
            ok: true,
            what: what.into(),
            detail,
        },
        Err(error) => {
            let detail = match &error {
                ApiError::Status {
                    status: 403,
                    operation,
                    ..
                } => {
                    format!("returned 403: {}", operation.permission_hint())
                }
                other => other.to_string(),
            };
            Check {
                ok: false,
                what: what.into(),
                detail,
            }
        }
    }
}

/// Runs every check, in the order lrx uses the endpoints; later checks are skipped (and
/// say so) when an earlier one makes them impossible.
pub async fn run(client: &MdeClient) -> Vec<Check> {
    let mut checks = Vec::new();
    let list = client
        .list_actions(&ListQuery::live_response(50), true)
        .await
        .map(|listed| listed.actions);
    let signed_in = !matches!(
        &list,
        Err(ApiError::Status {
            operation: crate::api::Operation::SignIn,
            ..
        } | ApiError::MissingCredentials(_)
            | ApiError::Network {
                operation: crate::api::Operation::SignIn,
                ..
            })
    );
    checks.push(Check {
        ok: signed_in,
        what: "sign in".into(),
        detail: if signed_in {
            format!("as {}", client.identity())
        } else {
            list.as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default()
        },
    });
    if !signed_in {
        return checks;
    }
    let actions = match list {
        Ok(actions) => {
            checks.push(Check {
                ok: true,
                what: "list machine actions".into(),
                detail: format!("{} Live Response actions visible", actions.len()),
            });
            actions
        }
        Err(error) => {
            checks.push(check("list machine actions", Err(error)));
            return checks;
        }
    };
    checks.push(check(
        "look up machines",
        client.machines_starting("").await.map(|machines| {
            let count = match machines.len() {
                n if n >= 50 => "50 or more".to_string(),
                n => n.to_string(),
            };
            format!("{count} machines visible (lrx run resolves names here)")
        }),
    ));
    checks.push(match client.library_files().await {
        Ok(files) => Check {
            ok: true,
            what: "live response library".into(),
            detail: format!("{} files (lrx run checks script names here)", files.len()),
        },
        // Only running needs it, and a run goes on without it (unchecked, and said).
        Err(ApiError::Status { status: 403, .. }) => Check {
            ok: true,
            what: "live response library".into(),
            detail: "not readable without Library.Manage: browsing is unaffected; lrx run cannot check script names before it posts".into(),
        },
        Err(error) => check("live response library", Err(error)),
    });
    let Some(first) = actions.first() else {
        checks.push(Check { ok: true, what: "read a machine action".into(), detail: "skipped: no Live Response actions to read (portal-started sessions are not visible through the API)".into() });
        return checks;
    };
    checks.push(check(
        "read a machine action",
        client.get_action(&first.id, true).await.map(|a| {
            format!(
                "{} on {}",
                a.status,
                crate::sanitize::line(&a.computer_dns_name)
            )
        }),
    ));
    let with_result = actions.iter().find_map(|a| {
        a.commands
            .iter()
            .find(|c| c.has_result() && c.command.command_type == CommandType::RunScript)
            .map(|c| (a.id.clone(), c.index))
    });
    match with_result {
        Some((id, index)) => checks.push(check(
            "GetLiveResponseResultDownloadLink",
            client.result_link(&id, index, true).await.map(|link| {
                let minutes = (link.expires_at - chrono::Utc::now()).num_minutes();
                format!("a result link valid for {minutes} more minutes")
            }),
        )),
        None => checks.push(Check {
            ok: true,
            what: "GetLiveResponseResultDownloadLink".into(),
            detail: "skipped: no completed RunScript result among the newest actions".into(),
        }),
    }
    checks
}

/// The team store, when one is configured: reachable, signed in, scripts run, and how long
/// a round trip takes (each budget step is one).
pub async fn team(url: &crate::team::TeamUrl, scope: &str, member: String) -> Check {
    let what = "team store (Redis)".to_string();
    let connected = crate::team::Team::connect(url, scope, member).await;
    match connected {
        Ok(team) => match team.round_trip().await {
            Ok(took) => Check {
                ok: true,
                what,
                detail: format!(
                    "{url}{}: signed in, scripts run, round trip {:.2} ms, {} active (this one included)",
                    if url.is_tls() { " (TLS)" } else { "" },
                    took.as_secs_f64() * 1000.0,
                    match team.members_at_start() {
                        1 => "1 member".to_string(),
                        n => format!("{n} members"),
                    }
                ),
            },
            Err(error) => Check {
                ok: false,
                what,
                detail: error.to_string(),
            },
        },
        Err(error) => Check {
            ok: false,
            what,
            detail: error.to_string(),
        },
    }
}

/// The credential store: which one, and whether it answers. Only a sign-in that reads its
/// secret from there fails without it; the others lose no more than shared tokens.
pub fn secret_store(session: &crate::session::Session) -> Check {
    use crate::config::Credential;
    let what = "credential store".to_string();
    let needed = session.demo.is_none()
        && match &session.connection.credential {
            Credential::ClientSecret { .. } => std::env::var_os("LRX_CLIENT_SECRET").is_none(),
            Credential::DeviceCode { .. } => true,
            Credential::Certificate { .. } | Credential::Token(_) | Credential::AzureCli { .. } => {
                false
            }
        };
    match crate::config::secrets::status() {
        Ok(detail) => Check {
            ok: true,
            what,
            detail,
        },
        Err(problem) if needed => Check {
            ok: false,
            what,
            detail: problem,
        },
        Err(problem) => Check {
            ok: true,
            what,
            detail: format!("{problem}; not needed to sign in, but each lrx process signs in anew"),
        },
    }
}
