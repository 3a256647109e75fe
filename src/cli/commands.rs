//! The non-interactive commands: `actions`, `show`, and the dispatch of the others.

use std::io::Write as _;

use chrono::{DateTime, Local, Utc};

use super::failure::{Failure, cell, io_failure, write_json_line};
use super::{ActionsArgs, Cli, Command, ShowArgs};
use crate::api::ListQuery;
use crate::api::models::MachineAction;
use crate::config::{FileConfig, Paths};
use crate::sanitize;
use crate::session::Session;
use std::path::PathBuf;

fn load_config(profile: Option<&str>) -> Result<(PathBuf, FileConfig), Failure> {
    let path = Paths::discover().config_file();
    let mut config = FileConfig::load(&path).map_err(|e| Failure::Usage(e.to_string()))?;
    config
        .select_profile(profile)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    crate::config::secrets::prefer(
        config
            .secrets
            .preferred_store()
            .map_err(|e| Failure::Usage(e.to_string()))?,
    );
    Ok((path, config))
}

fn config_command(cli: &Cli, action: super::ConfigAction) -> Result<(), Failure> {
    let path = Paths::discover().config_file();
    match action {
        super::ConfigAction::Path => println!("{}", path.display()),
        super::ConfigAction::Check => {
            let config = FileConfig::load(&path).map_err(|e| Failure::Usage(e.to_string()))?;
            crate::tui::input::KeyMap::with_overrides(&config.keys)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            if path.exists() {
                println!("{}: valid", path.display());
            } else {
                println!("{}: no file (defaults in effect)", path.display());
            }
        }
        super::ConfigAction::Show => {
            let (_, config) = load_config(cli.global.profile.as_deref())?;
            let profile = cli
                .global
                .profile
                .clone()
                .or_else(|| config.default_profile.clone());
            let options = cli.global.session_options(&config);
            let connection = &options.connection;
            let stored = connection.sign_in_target().ok().and_then(|target| {
                crate::config::secrets::load(&target.tenant, &target.client_id)
                    .ok()
                    .flatten()
            });
            let secret = if std::env::var_os("LRX_TOKEN").is_some() {
                "LRX_TOKEN is set (<redacted>)"
            } else if std::env::var_os("LRX_CLIENT_SECRET").is_some() {
                "LRX_CLIENT_SECRET is set (<redacted>)"
            } else if stored.is_some() {
                "client secret in the credential store (<redacted>)"
            } else {
                "none (`lrx login` stores a client secret; or set LRX_CLIENT_SECRET or LRX_TOKEN)"
            };
            let show = |value: &Option<String>, env_name: &str| {
                value
                    .clone()
                    .or_else(|| std::env::var(env_name).ok())
                    .unwrap_or_else(|| "(not set)".into())
            };
            println!(
                "config file    {}{}",
                path.display(),
                if path.exists() { "" } else { " (not present)" }
            );
            println!("profile        {}", profile.as_deref().unwrap_or("(none)"));
            println!(
                "tenant         {}",
                show(&connection.tenant, "LRX_TENANT_ID")
            );
            println!(
                "client id      {}",
                show(&connection.client_id, "LRX_CLIENT_ID")
            );
            println!("credential     {secret}");
            println!(
                "secret store   {}",
                crate::config::secrets::status().unwrap_or_else(|problem| problem)
            );
            println!("cloud          {}", show(&connection.cloud, "LRX_CLOUD"));
            println!("region         {}", show(&connection.region, "LRX_REGION"));
            // The hosts in effect, whether set or derived from the cloud and region.
            let tenant = connection
                .tenant
                .clone()
                .or_else(|| std::env::var("LRX_TENANT_ID").ok());
            match connection.endpoints(tenant.as_deref()) {
                Ok((_, endpoints)) => {
                    let origin = |value: &Option<String>, env_name: &str| {
                        if value.is_some() || std::env::var_os(env_name).is_some() {
                            "(set)"
                        } else {
                            "(from the cloud)"
                        }
                    };
                    println!(
                        "api url        {} {}",
                        endpoints.api_root,
                        origin(&connection.api_url, "LRX_API_URL")
                    );
                    println!(
                        "token url      {} {}",
                        endpoints.token_url,
                        origin(&connection.token_url, "LRX_TOKEN_URL")
                    );
                }
                Err(error) => println!("api url        (not usable: {error})"),
            }
            println!(
                "storage url    {}",
                show(&connection.storage_url, "LRX_STORAGE_URL").replace(
                    "(not set)",
                    "(not set: result links only from the cloud's blob storage)"
                )
            );
            let limits = options.download_limits;
            println!(
                "downloads      up to {} MB (script), {} MB (GetFile), {} min each",
                limits.script_bytes / (1024 * 1024),
                limits.file_bytes / (1024 * 1024),
                limits.deadline.as_secs() / 60
            );
            println!(
                "retry-after    waits at most {} s, then asks again",
                options.max_retry_after.as_secs()
            );
            println!(
                "calls/minute   {}",
                options
                    .max_calls_per_minute
                    .map_or_else(|| "100 (all)".into(), |n| n.to_string())
            );
            println!(
                "theme          {}",
                config.ui.theme.as_deref().unwrap_or("dark")
            );
            println!("mouse          {}", config.ui.mouse || cli.global.mouse);
            println!("prefetch       {}", config.ui.prefetch);
            for (action, keys) in &config.keys {
                println!("key            {action} = {}", keys.join(", "));
            }
            let paths = Paths::discover();
            println!("cache dir      {}", paths.cache_dir.display());
            println!("state dir      {}", paths.state_dir.display());
            println!("log file       {}", paths.log_file().display());
        }
    }
    Ok(())
}

pub async fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Some(Command::Config { action }) => return config_command(cli, *action),
        Some(Command::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "lrx", &mut std::io::stdout());
            return Ok(());
        }
        Some(Command::Man) => {
            return super::man::render(&mut std::io::stdout()).map_err(|e| io_failure(&e));
        }
        _ => {}
    }
    let (_, config) = load_config(cli.global.profile.as_deref())?;
    match &cli.command {
        Some(Command::Actions(args)) => actions(cli, args, &config).await,
        Some(Command::Show(args)) => show(cli, args, &config).await,
        Some(Command::Result(args)) => super::result::result(cli, args, &config).await,
        Some(Command::Review(args)) => super::review::run(cli, args, &config).await,
        Some(Command::Run(args)) => super::act::run(cli, args, &config).await,
        Some(Command::Cancel(args)) => super::act::cancel(cli, args, &config).await,
        Some(Command::Library(args)) => super::act::library(cli, args, &config).await,
        Some(Command::Log(args)) => super::log::run(cli, args, &config),
        Some(Command::Case { action }) => super::case::run(cli, action, &config).await,
        Some(Command::Login {
            device_code: true, ..
        }) => super::login::device_login(cli, &config).await,
        Some(Command::Login {
            key_passphrase: true,
            ..
        }) => super::login::key_passphrase(cli, &config),
        Some(Command::Login { no_verify, .. }) => {
            super::login::login(cli, &config, !no_verify).await
        }
        Some(Command::Logout) => super::login::logout(cli, &config),
        Some(Command::Doctor) => {
            let options = cli.global.session_options(&config);
            let team = options.team.clone();
            let session = Session::open(options).await?;
            let mut checks = vec![super::doctor::secret_store(&session)];
            checks.extend(super::doctor::run(&session.client).await);
            if let Some(url) = &team {
                let member = crate::team::member_name(&Paths::discover().state_dir);
                checks.push(super::doctor::team(url, &session.budget_scope, member).await);
            }
            let mut out = std::io::stdout().lock();
            for check in &checks {
                writeln!(
                    out,
                    "{} {:<36} {}",
                    if check.ok { "✔" } else { "✘" },
                    check.what,
                    check.detail
                )
                .map_err(|e| io_failure(&e))?;
            }
            let failed = checks.iter().filter(|c| !c.ok).count();
            if failed > 0 {
                return Err(Failure::Runtime(format!(
                    "{failed} of {} checks failed (see above)",
                    checks.len()
                )));
            }
            Ok(())
        }
        Some(Command::Config { .. } | Command::Completions { .. } | Command::Man) => Ok(()),
        Some(Command::DemoServer(args)) => super::demo_server(args)
            .await
            .map_err(|e| Failure::Runtime(format!("{e:#}"))),
        None => {
            let keymap = crate::tui::input::KeyMap::with_overrides(&config.keys).map_err(|e| {
                Failure::Usage(format!(
                    "{}: {e}",
                    Paths::discover().config_file().display()
                ))
            })?;
            // The terminal is the TUI's: the meter says what the team store does.
            let options = crate::session::SessionOptions {
                say: None,
                ..cli.global.session_options(&config)
            };
            let mut session = Session::open(options).await?;
            if let Some(profile) = cli
                .global
                .profile
                .clone()
                .or_else(|| config.default_profile.clone())
                .filter(|_| !cli.global.demo)
            {
                session.label = format!("profile {profile} · {}", session.label);
            }
            let light = match cli.global.theme {
                Some(theme) => theme == super::ThemeName::Light,
                None => config.ui.theme.as_deref() == Some("light"),
            };
            let options = crate::tui::UiOptions {
                variant: if light {
                    crate::tui::theme::Variant::Light
                } else {
                    crate::tui::theme::Variant::Dark
                },
                mouse: cli.global.mouse || config.ui.mouse,
                prefetch: config.ui.prefetch,
                keymap,
            };
            let global = cli.global.clone();
            let open: crate::tui::OpenSession = Box::new(move |profile: Option<String>| {
                let global = global.clone();
                Box::pin(async move {
                    let (_, config) =
                        load_config(profile.as_deref()).map_err(|f| f.message().to_string())?;
                    let options = crate::session::SessionOptions {
                        say: None,
                        ..global.session_options(&config)
                    };
                    let mut session = Session::open(options).await.map_err(|e| e.to_string())?;
                    if let Some(profile) = profile {
                        session.label = format!("profile {profile} · {}", session.label);
                    }
                    Ok(session)
                })
            });
            crate::tui::run(session, options, open)
                .await
                .map_err(|e| Failure::Runtime(format!("the terminal failed: {e}")))
        }
    }
}

fn local(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(
        || "-".into(),
        |t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

fn is_machine_id(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

async fn actions(cli: &Cli, args: &ActionsArgs, config: &FileConfig) -> Result<(), Failure> {
    let session = Session::open(cli.global.session_options(config)).await?;
    let machine_id = args
        .machine
        .as_deref()
        .filter(|m| is_machine_id(m))
        .map(str::to_ascii_lowercase);
    let since = args.from.or_else(|| {
        args.since
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() - d)
    });
    let query = ListQuery {
        statuses: args.statuses.clone(),
        machine_id: machine_id.clone(),
        requestor: args.requestor.clone(),
        action_type: (!args.all_types).then(|| crate::api::LIVE_RESPONSE.into()),
        since,
        // A name filter is applied here, so ask the service for more and cut after; one
        // more than asked tells whether more match.
        limit: if (args.machine.is_some() && machine_id.is_none()) || args.limit == 0 {
            0
        } else {
            args.limit + 1
        },
        skip: 0,
    };
    let listed = session.list_actions(&query, true).await?;
    for problem in &listed.problems {
        eprintln!("lrx: {}", sanitize::line(problem));
    }
    let mut list = listed.actions;
    if let (Some(name), None) = (&args.machine, &machine_id) {
        let needle = name.to_ascii_lowercase();
        list.retain(|a| a.computer_dns_name.to_ascii_lowercase().contains(&needle));
    }
    if args.limit > 0 && list.len() > args.limit {
        list.truncate(args.limit);
        eprintln!(
            "lrx: {} shown · more match (raise --limit, or --limit 0 for all)",
            args.limit
        );
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for action in &list {
            write_json_line(&mut out, action)?;
        }
        return Ok(());
    }
    // A TYPE column when every type is listed: an Isolate has no commands to count.
    let kind = |text: &str| {
        if args.all_types {
            format!("{} ", cell(text, 24))
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{} {}{} {} {} {} {} COMMENT",
        cell("STATUS", 10),
        kind("TYPE"),
        cell("CREATED", 19),
        cell("MACHINE", 32),
        cell("REQUESTOR", 28),
        cell("CMDS", 5),
        cell("ID", 36),
    )
    .map_err(|e| io_failure(&e))?;
    for action in &list {
        let commands = if action.is_live_response() {
            format!("{}/{}", action.done_count(), action.commands.len())
        } else {
            "-".to_string()
        };
        let failed = if action.failed_count() > 0 {
            format!(" {} failed", action.failed_count())
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {}{} {} {} {} {} {}{}",
            cell(action.status.as_str(), 10),
            kind(&action.action_type),
            cell(&local(action.creation_date_time_utc), 19),
            cell(&action.computer_dns_name, 32),
            cell(&action.requestor, 28),
            cell(&commands, 5),
            cell(&action.id, 36),
            cell(&action.requestor_comment, 60).trim_end(),
            failed
        )
        .map_err(|e| io_failure(&e))?;
    }
    if list.is_empty() {
        eprintln!(
            "No machine actions match. (Sessions started from the portal's device page are not visible through the API.)"
        );
    }
    Ok(())
}

async fn show(cli: &Cli, args: &ShowArgs, config: &FileConfig) -> Result<(), Failure> {
    let session = Session::open(cli.global.session_options(config)).await?;
    let action = session.action(&args.action_id, true).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        return write_json_line(&mut out, &action);
    }
    let text = describe_action(&action);
    out.write_all(text.as_bytes()).map_err(|e| io_failure(&e))
}

fn describe_action(action: &MachineAction) -> String {
    let mut text = format!(
        "Action    {}\nType      {}\nStatus    {}\nMachine   {} ({})\nRequestor {}\nComment   {}\nCreated   {}\nUpdated   {}\n",
        sanitize::line(&action.id),
        sanitize::line(&action.action_type),
        sanitize::line(action.status.as_str()),
        sanitize::line(&action.computer_dns_name),
        sanitize::line(&action.machine_id),
        sanitize::line(&action.requestor),
        sanitize::line(&action.requestor_comment),
        local(action.creation_date_time_utc),
        local(action.last_update_date_time_utc),
    );
    if let Some(comment) = &action.cancellation_comment {
        text.push_str(&format!(
            "Cancelled {} by {}\n",
            sanitize::line(comment),
            sanitize::line(action.cancellation_requestor.as_deref().unwrap_or("?"))
        ));
    }
    text.push_str("\nIDX TYPE       STATUS     DURATION  TARGET\n");
    for command in &action.commands {
        let duration = command
            .duration()
            .map_or_else(|| "-".into(), |d| format!("{}s", d.num_seconds()));
        text.push_str(&format!(
            "{:>3} {} {} {} {}\n",
            command.index,
            cell(command.command.command_type.as_str(), 10),
            cell(command.command_status.as_str(), 10),
            cell(&duration, 9),
            sanitize::line(&command.target())
        ));
        for error in &command.errors {
            text.push_str(&format!("    error: {}\n", sanitize::line(error)));
        }
    }
    text
}
