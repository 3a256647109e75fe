use std::process::ExitCode;

use clap::Parser as _;
use lrx::cli::Cli;

/// Logs go to a file in the state directory, never to the terminal (the TUI owns it).
fn start_logging(verbosity: u8) {
    let paths = lrx::config::Paths::discover();
    let path = paths.log_file();
    let level = match verbosity {
        0 => "lrx=info",
        1 => "lrx=debug",
        _ => "lrx=trace,reqwest=debug",
    };
    // The log names actions, machines and hosts: only its owner reads it.
    let opened = lrx::files::ensure_dir(&paths.state_dir).and_then(|()| {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
            options.mode(0o600);
            let file = options.open(&path)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(file)
        }
        #[cfg(not(unix))]
        options.open(&path)
    });
    if let Ok(file) = opened {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("LRX_LOG")
                    .unwrap_or_else(|_| level.into()),
            )
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    start_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lrx: could not start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(lrx::cli::run(&cli));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(lrx::cli::Failure::ReaderGone) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("lrx: {}", failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}
