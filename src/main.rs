use std::process::ExitCode;

use clap::Parser as _;
use lrx::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let outcome = runtime.block_on(async {
        match &cli.command {
            Some(Command::DemoServer(args)) => lrx::cli::demo_server(args).await,
            None => anyhow::bail!("the terminal UI is not built yet; run `lrx demo-server`"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lrx: {error:#}");
            ExitCode::from(1)
        }
    }
}
