//! Command-line definitions and the non-interactive commands.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::sim::{self, Faults, SimConfig};

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  an API, network or data error (the message says what failed and what to do)
  2  a usage or configuration error

Examples:
  lrx --demo                          open the terminal UI on the built-in simulated tenant
  lrx demo-server --port 8080         run the simulated tenant for curl or another client";

#[derive(Debug, Parser)]
#[command(name = "lrx", version, about = "Live Response eXplorer: browse Microsoft Defender for Endpoint Live Response results", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Use the built-in simulated tenant (no Azure account needed).
    #[arg(long, global = true)]
    pub demo: bool,
    /// Write debug logs to the log file (never to the terminal); repeat for more.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulated tenant as a standalone HTTP server.
    #[command(after_help = "\
Examples:
  lrx demo-server --port 8080
  lrx demo-server --link-ttl 20s --rate-limit 100/1m,1500/1h
  lrx demo-server --fault 500=0.05,truncate=0.1,429-every=25")]
    DemoServer(DemoServerArgs),
}

#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Seed for the generated dataset; the same seed gives the same tenant.
    #[arg(long, default_value_t = 20_467)]
    pub seed: u64,
    /// How long result links stay valid (e.g. 30m, 20s).
    #[arg(long, default_value = "30m", value_parser = sim::parse_duration)]
    pub link_ttl: Duration,
    /// How long access tokens stay valid.
    #[arg(long, default_value = "1h", value_parser = sim::parse_duration)]
    pub token_ttl: Duration,
    /// Rate-limit windows per endpoint, CALLS/PERIOD separated by commas.
    #[arg(long, default_value = "100/1m,1500/1h", value_parser = RateLimits::parse)]
    pub rate_limit: RateLimits,
    /// Machine actions per page when $top is absent (the service uses 10000).
    #[arg(long, default_value_t = 10_000)]
    pub page_size: usize,
    /// Delay added to every API response (e.g. 150ms).
    #[arg(long, default_value = "0s", value_parser = sim::parse_duration)]
    pub latency: Duration,
    /// Faults to inject: 500=SHARE, truncate=SHARE, 429-every=N, 401-at=N.
    #[arg(long, default_value = "", value_parser = Faults::parse)]
    pub fault: Faults,
}

/// Rate-limit windows as given on the command line (`100/1m,1500/1h`).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits(pub Vec<sim::WindowLimit>);

impl RateLimits {
    fn parse(spec: &str) -> Result<Self, String> {
        sim::parse_limits(spec).map(Self)
    }
}

impl DemoServerArgs {
    pub fn config(&self) -> SimConfig {
        SimConfig {
            seed: self.seed,
            link_ttl: self.link_ttl,
            token_ttl: self.token_ttl,
            limits: self.rate_limit.0.clone(),
            page_size: self.page_size.max(1),
            latency: self.latency,
            faults: self.fault.clone(),
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            ..SimConfig::default()
        }
    }
}

pub async fn demo_server(args: &DemoServerArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let handle = sim::start(args.config()).await.with_context(|| {
        format!(
            "could not listen on 127.0.0.1:{} (is the port in use? try --port 0)",
            args.port
        )
    })?;
    let e = &handle.endpoints;
    println!(
        "lrx simulated tenant listening on {base}\n\n\
         tenant id:     {tenant}\n\
         client id:     {client}\n\
         client secret: {secret}\n\
         token URL:     {token}\n\n\
         Try it:\n\
         TOKEN=$(curl -s -d grant_type=client_credentials -d client_id={client} \\\n  \
         --data-urlencode client_secret='{secret}' \\\n  \
         --data-urlencode scope=https://api.securitycenter.microsoft.com/.default \\\n  \
         {token} | jq -r .access_token)\n\
         curl -s -H \"Authorization: Bearer $TOKEN\" \\\n  \
         \"{base}/api/machineactions?\\$top=3&\\$filter=type+eq+'LiveResponse'+and+status+eq+'Succeeded'\" | jq\n\n\
         Or point lrx at it:\n\
         LRX_CLIENT_SECRET='{secret}' lrx --api-url {base} --token-url {token} --tenant {tenant} --client-id {client}\n\n\
         Press Ctrl-C to stop.",
        base = e.base_url,
        tenant = e.tenant_id,
        client = e.client_id,
        secret = e.client_secret,
        token = e.token_url,
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(handle);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_server_arguments_parse() {
        let cli = Cli::try_parse_from([
            "lrx",
            "demo-server",
            "--port",
            "0",
            "--link-ttl",
            "20s",
            "--rate-limit",
            "10/1s",
            "--fault",
            "500=0.5",
        ]);
        let Ok(Cli {
            command: Some(Command::DemoServer(args)),
            ..
        }) = cli
        else {
            panic!("demo-server did not parse: {cli:?}");
        };
        let config = args.config();
        assert_eq!(config.link_ttl, Duration::from_secs(20));
        assert_eq!(config.limits.len(), 1);
        assert!((config.faults.server_errors - 0.5).abs() < f64::EPSILON);
        let defaults = Cli::try_parse_from(["lrx", "demo-server"]);
        assert!(defaults.is_ok(), "{defaults:?}");
    }
}
