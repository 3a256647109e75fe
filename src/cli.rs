//! Command-line definitions and the non-interactive commands.

#![expect(
    clippy::doc_markdown,
    reason = "doc comments here are the --help text: backticks would show in the terminal"
)]

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::ConnectionArgs;
use crate::session::SessionOptions;
use crate::sim::{self, Faults, SimConfig};

mod act;
mod case;
mod commands;
pub mod doctor;
mod failure;
mod log;
mod login;
mod man;
mod result;
mod review;

pub use commands::run;
pub use failure::Failure;

const AFTER_HELP: &str = "\
Connecting (flags win over the environment):
  LRX_TENANT_ID, LRX_CLIENT_ID, LRX_CLIENT_SECRET   app registration with client credentials
  LRX_TOKEN                                         a ready bearer token instead
  LRX_API_URL, LRX_TOKEN_URL, LRX_CLOUD, LRX_REGION where the service lives
  LRX_CACHE_DIR                                     where fetched results are cached
  LRX_STORAGE_URL                                   a storage emulator's origin (tests only)

Exit status:
  0  success
  1  an API, network or data error (the message says what failed and what to do)
  2  a usage or configuration error
  3  lrx review --fail-on-nonzero found a failed or non-zero run
  130  stopped by Ctrl-C (lrx review prints what it fetched first)

Examples:
  lrx --demo                                   the terminal UI on the built-in simulated tenant
  lrx actions --demo --status Failed --since 24h
  lrx result --demo <ACTION_ID> --json | jq -r .script_output
  lrx demo-server --port 8080                  the simulated tenant for curl or another client";

#[derive(Debug, Parser)]
#[command(name = "lrx", version, about = "Live Response eXplorer: browse Microsoft Defender for Endpoint Live Response results", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Use the built-in simulated tenant (no Azure account needed).
    #[arg(long, global = true)]
    pub demo: bool,
    // Help as an attribute, not a doc comment: the URL is text for --help, not a rustdoc link.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help = "API host root, e.g. https://api.security.microsoft.com (lrx appends /api/...)"
    )]
    pub api_url: Option<String>,
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help = "Full token URL, e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token"
    )]
    pub token_url: Option<String>,
    /// A named profile from config.toml ([profiles.NAME]).
    #[arg(
        long,
        global = true,
        env = "LRX_PROFILE",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub profile: Option<String>,
    /// Directory (tenant) id [env: LRX_TENANT_ID].
    #[arg(long, global = true, value_name = "ID")]
    pub tenant: Option<String>,
    /// Application (client) id [env: LRX_CLIENT_ID].
    #[arg(long, global = true, value_name = "ID")]
    pub client_id: Option<String>,
    /// commercial, legacy, gcc, gcc-high or dod [env: LRX_CLOUD].
    #[arg(long, global = true)]
    pub cloud: Option<String>,
    /// How to sign in: client-secret, certificate (LRX_CERTIFICATE, LRX_PRIVATE_KEY), token
    /// (LRX_TOKEN), azure-cli (reuses `az login`) or device-code (after `lrx login
    /// --device-code`) [env: LRX_AUTH].
    #[arg(long, global = true, value_parser = ["client-secret", "certificate", "token", "azure-cli", "device-code"])]
    pub auth: Option<String>,
    /// Regional API host: us, eu, uk, au, swa, ina, aea [env: LRX_REGION].
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Where fetched results are cached [env: LRX_CACHE_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Neither read nor write the result cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    // Help as an attribute: the URL's brackets are text for --help, not a rustdoc link.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "LRX_TEAM_URL",
        hide_env_values = true,
        value_parser = crate::team::TeamUrl::parse,
        help = "Share one budget with the team through its Redis (or Valkey): redis://[user:password@]host:port/db, or rediss:// for TLS"
    )]
    pub team: Option<crate::team::TeamUrl>,
    /// Make no network call at all: browse, search and review what the result cache kept
    /// (results, and the actions listed or opened before).
    #[arg(long, global = true, conflicts_with_all = ["demo", "no_cache"])]
    pub offline: bool,
    /// Use only this share of the 100 calls/minute (and the hour's 1500, scaled alike),
    /// leaving room for colleagues on the same app registration.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_calls_per_minute: Option<u32>,
    /// Rate-limit windows to budget for, CALLS/PERIOD (for time-compressed test runs).
    #[arg(long, global = true, hide = true, env = "LRX_RATE_LIMIT", value_parser = RateLimits::parse)]
    pub rate_limit: Option<RateLimits>,
    #[arg(
        long,
        global = true,
        value_enum,
        help = "Colour theme of the terminal UI [default: dark, or [ui] theme in config.toml] (NO_COLOR turns colour off entirely)"
    )]
    pub theme: Option<ThemeName>,
    #[arg(
        long,
        global = true,
        help = "Mouse in the terminal UI: click selects, the wheel scrolls (off by default, so the terminal's text selection keeps working; or [ui] mouse = true in config.toml)"
    )]
    pub mouse: bool,
    /// Refuse to start or cancel anything (as read_only = true in a profile does).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Write debug logs to the log file (never to the terminal); repeat for more.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

impl GlobalArgs {
    pub fn session_options(&self, file: &crate::config::FileConfig) -> SessionOptions {
        SessionOptions {
            demo: self.demo.then(|| SimConfig {
                // A time-compressed budget needs an equally compressed tenant.
                limits: self
                    .rate_limit
                    .clone()
                    .map_or_else(|| SimConfig::default().limits, |l| l.0),
                ..SimConfig::default()
            }),
            connection: ConnectionArgs {
                api_url: self.api_url.clone(),
                token_url: self.token_url.clone(),
                tenant: self.tenant.clone(),
                client_id: self.client_id.clone(),
                cloud: self.cloud.clone(),
                region: self.region.clone(),
                auth: self.auth.clone(),
                certificate: None,
                private_key: None,
                storage_url: None,
            }
            .with_file_defaults(&file.connection),
            download_limits: file.connection.download_limits(),
            team_result_max_bytes: file
                .connection
                .team_result_mb
                .map(|mb| mb.saturating_mul(1024 * 1024)),
            max_retry_after: file.connection.max_retry_after(),
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            offline: self.offline,
            team: self
                .team
                .clone()
                .or_else(|| {
                    file.connection
                        .team_url
                        .as_deref()
                        .and_then(|url| crate::team::TeamUrl::parse(url).ok())
                })
                .map(|url| {
                    let password = std::env::var("LRX_TEAM_PASSWORD")
                        .ok()
                        .filter(|p| !p.is_empty())
                        .map(crate::api::auth::Secret::new);
                    url.with_password(password.as_ref())
                }),
            say: Some(crate::session::Say::stderr()),
            max_calls_per_minute: self
                .max_calls_per_minute
                .or(file.connection.max_calls_per_minute),
            rate_limits: self.rate_limit.clone().map(|limits| limits.0),
            state_dir: None,
            custody_dir: None,
            cache_max_bytes: file
                .connection
                .cache_size_mb
                .map(|mb| mb.saturating_mul(1024 * 1024)),
            read_only: self.read_only || file.connection.read_only == Some(true),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List machine actions (Live Response sessions by default), newest first.
    #[command(after_help = "\
Examples:
  lrx actions --demo
  lrx actions --demo --status Failed --status TimeOut --since 24h
  lrx actions --demo --machine wks-fin --json | jq -r .id")]
    Actions(ActionsArgs),
    /// Show one machine action and its commands.
    #[command(after_help = "\
Examples:
  lrx show --demo <ACTION_ID>
  lrx show --demo <ACTION_ID> --json | jq '.commands[] | {index, commandStatus}'")]
    Show(ShowArgs),
    /// Fetch and print the results of an action's commands.
    #[command(after_help = "\
Without --index, every command that has a result is fetched. Text output shows control
characters and escape sequences visibly; --raw prints the exact bytes.

Examples:
  lrx result --demo <ACTION_ID>
  lrx result --demo <ACTION_ID> --index 1 --raw > output.txt
  lrx result --demo <ACTION_ID> --json | jq '{machine, exit_code}'
  lrx result --demo <ACTION_ID> --save ./evidence")]
    Result(ResultArgs),
    /// Review one script's runs across machines: outcomes, exit codes, distinct outputs.
    #[command(after_help = "\
Groups the commands of the selected actions by script and arguments (GetFile by path),
counts outcomes, and clusters the outputs after masking what varies between runs
(timestamps, GUIDs, the transcript header; add your own with --mask). Results are fetched
through the shared budget, cached ones first.

Exit status: 0 when the review ran, whatever the scripts returned; with --fail-on-nonzero,
3 when any run failed or exited non-zero; 130 when Ctrl-C stopped it (the review of what was
fetched by then is printed, and what was fetched stays in the cache).

Examples:
  lrx review --demo --since 3d --script Get-Autoruns.ps1
  lrx review --demo <ACTION_ID> <ACTION_ID> --failed-only
  lrx review --demo --script Get-Services.ps1 --csv > services.csv
  lrx review --demo --since 24h --json | jq 'select(.type == \"summary\")'
  lrx review --demo --script Get-NetConnections.ps1 --mask 'pid=\\d+'
  lrx review --demo --since 3d --timeline > sweep.jsonl   # import into Timesketch
  lrx review --demo --since 3d --script Get-Services.ps1 --baseline   # what changed since the last run")]
    Review(ReviewArgs),
    /// Start a live response session on machines: a library script, files to put or get.
    #[command(after_help = "\
Commands are posted in the documented order (PutFile, then RunScript, then GetFile). Before
anything is posted, lrx resolves every machine (by DNS name or id), checks the script and
files against the live response library, and finds machines that already have a session
(those are skipped: wait for it, or `lrx cancel` it). Sessions start at most 10 a minute, the
service's limit. A POST is never repeated blindly: after a timeout or a 5xx, lrx looks for the
action it may have created first.

Without --yes, lrx shows what it will do and asks for the number of machines on a terminal;
when stdin is not a terminal it refuses (exit 2), so nothing is started by accident.

Exit status: 0 when every session started (with --wait: and ended); 1 when any did not;
2 for a usage error, an unknown machine or script, a refusal, or a read-only profile.

Examples:
  lrx run --demo --machine wks-fin-0412 --script Get-Autoruns.ps1 --args -Csv --comment 'IR-4711 persistence'
  lrx run --demo --machine srv-dc01 --machine srv-dc02 --script Get-Services.ps1 --comment 'IR-4711' --yes --wait
  lrx run --demo --machine lnx-web-01 --getfile /var/log/auth.log --comment 'IR-4711' --yes --json")]
    Run(RunArgs),
    /// Cancel a machine action that is pending or in progress.
    #[command(after_help = "\
Examples:
  lrx cancel --demo <ACTION_ID> --comment 'stuck in Pending since Monday'
  lrx cancel --demo <ACTION_ID> --comment 'wrong machine' --yes --json")]
    Cancel(CancelArgs),
    /// List the live response library: the scripts and files a session may run or put.
    #[command(after_help = "\
Examples:
  lrx library --demo
  lrx library --demo --json | jq -r .fileName")]
    Library(LibraryArgs),
    /// The custody log: every fetch, save, copy, export, run and cancel, hash-chained.
    #[command(after_help = "\
One log per tenant and app, in the data directory (~/.local/share/lrx/custody on Linux),
appended by every lrx process and never rewritten. Each entry names the time (UTC), the
analyst, the lrx version, what was done to which action and index, and the SHA-256 and size of
what was fetched or written, with the hash of the line before it. No token, link or secret.
`lrx log verify` re-computes the chain, names the first line that breaks it (exit 1), and
prints the head hash to write down.

Examples:
  lrx log --demo
  lrx log --since 24h --json | jq 'select(.event == \"fetch\")'
  lrx log verify")]
    Log(LogArgs),
    /// Case bundles: export results as evidence that stands on its own, and verify one.
    #[command(after_help = "\
lrx case export DIR writes a new directory: manifest.json (case, analyst, lrx version, tenant,
time; for every command: action, index, machine, script and args, status, exit code, times,
where it came from, and its payload's SHA-256 and size), payloads/ (the payloads byte for byte;
a GetFile's collected file decompressed, with the gzip's hash too), text/ (outputs sanitised for
reading), review.csv and review.jsonl, timeline.jsonl (Timesketch), custody.jsonl (the custody
log's entries for these actions) and SHA256SUMS (every file, the manifest included). What is not
cached is fetched through the budget; --offline exports what the cache holds and lists the rest.

lrx case verify DIR re-hashes every file: exit 0 when all match, 1 naming the first that does
not (or a file that is not listed). `sha256sum -c SHA256SUMS` in the directory checks the same.

Examples:
  lrx case export --demo ./case-4711 --case 4711 --since 3d --script Get-Autoruns.ps1
  lrx case export ./case-4711 --case 4711 <ACTION_ID> <ACTION_ID> --zip
  lrx case verify ./case-4711")]
    Case {
        #[command(subcommand)]
        action: CaseAction,
    },
    /// Run the simulated tenant as a standalone HTTP server.
    #[command(after_help = "\
Examples:
  lrx demo-server --port 8080
  lrx demo-server --link-ttl 20s --rate-limit 100/1m,1500/1h
  lrx demo-server --fault 500=0.05,truncate=0.1,429-every=25")]
    DemoServer(DemoServerArgs),
    /// Where the config file lives, what is in effect, and whether the file is valid.
    #[command(after_help = "\
The file is config.toml in the config directory (LRX_CONFIG overrides the path):

  [connection]          # flags and LRX_* variables win over these
  tenant = \"<directory id>\"
  client_id = \"<application id>\"
  cloud = \"commercial\"   # legacy, gcc, gcc-high, dod
  region = \"eu\"
  max_calls_per_minute = 50

  [ui]
  theme = \"dark\"        # or \"light\"
  mouse = false
  prefetch = true

  [keys]                # remap any action, e.g.
  fetch_all = [\"A\"]
  quit = [\"q\", \"ctrl-q\"]

Secrets never go in this file: use LRX_CLIENT_SECRET or LRX_TOKEN.

Examples:
  lrx config path
  lrx config check
  lrx config show")]
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Store the app's client secret in the OS credential store (asked for without echo).
    #[command(after_help = "\
The secret is checked by signing in before it is stored (skip with --no-verify), under the
service lrx and the account <tenant>/<client-id>. On Linux the kernel keyutils store is
used, which works without D-Bus; a shell without a session keyring can get one with
`keyctl session` (Debian package keyutils). lrx never writes the secret to a file.

Examples:
  lrx login --tenant <TENANT_ID> --client-id <CLIENT_ID>
  printf %s \"$SECRET\" | lrx login --tenant <TENANT_ID> --client-id <CLIENT_ID>")]
    Login {
        /// Store the secret without signing in first.
        #[arg(long)]
        no_verify: bool,
        /// Sign in as yourself instead (delegated): open the URL shown, enter the code; the
        /// refresh token goes to the keyring and later runs use --auth device-code.
        #[arg(long)]
        device_code: bool,
        /// Store the passphrase of the certificate's encrypted private key instead.
        #[arg(long, conflicts_with = "device_code")]
        key_passphrase: bool,
    },
    /// Remove the app's client secret from the OS credential store.
    #[command(after_help = "\
Examples:
  lrx logout --tenant <TENANT_ID> --client-id <CLIENT_ID>")]
    Logout,
    /// Sign in, call each endpoint lrx uses once, and report what works and which permission is missing.
    #[command(after_help = "\
Exit status: 0 when every check passed, 1 when any failed.

Examples:
  lrx doctor --demo
  LRX_TENANT_ID=... LRX_CLIENT_ID=... LRX_CLIENT_SECRET=... lrx doctor")]
    Doctor,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
Examples:
  lrx completions bash > ~/.local/share/bash-completion/completions/lrx
  lrx completions zsh > \"${fpath[1]}/_lrx\"
  lrx completions fish > ~/.config/fish/completions/lrx.fish")]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), generated from the command-line definition.
    #[command(after_help = "\
Examples:
  lrx man > lrx.1 && man ./lrx.1
  lrx man | gzip > /usr/local/share/man/man1/lrx.1.gz")]
    Man,
}

#[derive(Debug, Subcommand, Clone, Copy)]
pub enum ConfigAction {
    /// Print the config file's path.
    Path,
    /// Print the settings in effect (file, then environment and flags).
    Show,
    /// Validate the file: names the line and key of any mistake; exit 2 if invalid.
    Check,
}

#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// Only actions in this status (repeatable): Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled.
    #[arg(long = "status", value_name = "STATUS", value_parser = parse_status)]
    pub statuses: Vec<String>,
    /// Machine id (40 hex chars, filtered by the service) or part of its DNS name.
    #[arg(long)]
    pub machine: Option<String>,
    /// Only actions requested by this user or app.
    #[arg(long)]
    pub requestor: Option<String>,
    /// Only actions created within this long, e.g. 90m, 24h, 7d.
    #[arg(long, value_parser = sim::parse_duration, conflicts_with = "from")]
    pub since: Option<Duration>,
    /// Only actions created at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many actions (0: all); lrx says when more match.
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    /// Include every action type, not only LiveResponse.
    #[arg(long)]
    pub all_types: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Review exactly these actions (otherwise: every Live Response action in the window).
    #[arg(value_parser = parse_action_id)]
    pub action_ids: Vec<String>,
    /// Actions created within this long, e.g. 24h, 3d.
    #[arg(long, value_parser = sim::parse_duration, default_value = "7d")]
    pub since: Duration,
    /// Only commands whose script (or GetFile path) contains this.
    #[arg(long)]
    pub script: Option<String>,
    /// Only these machines (part of the DNS name; repeatable).
    #[arg(long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Only actions requested by this user or app.
    #[arg(long)]
    pub requestor: Option<String>,
    /// Extra pattern to mask before outputs are compared (`PATTERN` or `PATTERN=>TEXT`; repeatable).
    #[arg(long = "mask", value_name = "PATTERN")]
    pub masks: Vec<String>,
    /// Only runs that failed or exited non-zero.
    #[arg(long)]
    pub failed_only: bool,
    /// Exit with 3 when any run failed or exited non-zero.
    #[arg(long)]
    pub fail_on_nonzero: bool,
    /// One JSON object per run plus a summary object per group.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Compare each run with the previous run of the same script and args on the same
    /// machine (looked for up to 30 days before the window): same, changed (+N −M lines,
    /// masked as for clustering), or first run.
    #[arg(long)]
    pub baseline: bool,
    /// A timeline Timesketch imports: one JSON line per command start and end (message,
    /// datetime, timestamp_desc, machine, script, exit code, action, index, SHA-256).
    #[arg(long, conflicts_with_all = ["json", "csv"])]
    pub timeline: bool,
    /// CSV with one row per run (cells that could start a formula are neutralised).
    #[arg(long)]
    pub csv: bool,
    /// At most this many actions.
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A machine's DNS name (or host name without the domain) or 40-character id; repeatable.
    #[arg(long = "machine", value_name = "NAME_OR_ID", required = true)]
    pub machines: Vec<String>,
    /// A script from the live response library to run.
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
    /// Arguments passed to the script, as one string.
    #[arg(
        long,
        requires = "script",
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Option<String>,
    /// A file to collect from the machine (repeatable; after the script).
    #[arg(long = "getfile", value_name = "PATH")]
    pub get_files: Vec<String>,
    /// A library file to copy to the machine first (repeatable).
    #[arg(long = "putfile", value_name = "NAME")]
    pub put_files: Vec<String>,
    /// Why this runs: kept on the action for the audit trail (lrx adds who, the case, and
    /// a mark of the run).
    #[arg(long)]
    pub comment: String,
    /// The case this belongs to [env: LRX_CASE].
    #[arg(long, env = "LRX_CASE", hide_env_values = true, value_name = "CASE")]
    pub case: Option<String>,
    /// Start without asking.
    #[arg(long)]
    pub yes: bool,
    /// Wait until every session has ended, then print each machine's exit code and output.
    #[arg(long)]
    pub wait: bool,
    /// One JSON object per machine (and per result with --wait).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(value_parser = parse_action_id)]
    pub action_id: String,
    /// Why it is cancelled: kept on the action.
    #[arg(long)]
    pub comment: String,
    /// Cancel without asking.
    #[arg(long)]
    pub yes: bool,
    /// The cancelled action as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaseAction {
    /// Write a case bundle into a new directory.
    Export(CaseExportArgs),
    /// Re-hash a bundle against its SHA256SUMS and manifest; exit 1 naming the first mismatch.
    Verify {
        /// The bundle's directory.
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CaseExportArgs {
    /// A new (or empty) directory for the bundle.
    pub dir: std::path::PathBuf,
    /// Exactly these actions (otherwise: every Live Response action in the window).
    #[arg(value_parser = parse_action_id)]
    pub action_ids: Vec<String>,
    /// The case's name or number, written in the manifest [env: LRX_CASE].
    #[arg(long, env = "LRX_CASE", hide_env_values = true)]
    pub case: Option<String>,
    /// Actions created within this long, e.g. 24h, 3d.
    #[arg(long, value_parser = sim::parse_duration, default_value = "7d")]
    pub since: Duration,
    /// Only commands whose script (or GetFile path) contains this.
    #[arg(long)]
    pub script: Option<String>,
    /// Only these machines (part of the DNS name; repeatable).
    #[arg(long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// At most this many actions.
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
    /// Also write DIR.zip beside the directory (stored, not compressed).
    #[arg(long)]
    pub zip: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(subcommand)]
    pub action: Option<LogAction>,
    /// One JSON object per entry, as stored.
    #[arg(long)]
    pub json: bool,
    /// Only entries of this long ago or later, e.g. 24h, 7d.
    #[arg(long, value_parser = sim::parse_duration)]
    pub since: Option<Duration>,
}

#[derive(Debug, Subcommand, Clone, Copy)]
pub enum LogAction {
    /// Re-compute the chain; exit 1 naming the first broken line.
    Verify,
}

#[derive(Debug, Args)]
pub struct LibraryArgs {
    /// One JSON object per file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(value_parser = parse_action_id)]
    pub action_id: String,
    /// The action as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResultArgs {
    #[arg(value_parser = parse_action_id)]
    pub action_id: String,
    /// Only this command index.
    #[arg(long)]
    pub index: Option<u32>,
    /// One JSON object per result.
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// Save payloads (and GetFile files, decompressed) into this directory.
    #[arg(long, value_name = "DIR")]
    pub save: Option<std::path::PathBuf>,
    /// Print script_output exactly as received, control characters included.
    #[arg(long)]
    pub raw: bool,
    /// Largest GetFile file to decompress (bytes); guards against gzip bombs.
    #[arg(long, default_value_t = crate::transcript::decode::MAX_FILE_BYTES)]
    pub max_file_size: u64,
}

/// A status as the service spells it, whatever case it was typed in; anything else is a
/// usage error naming the valid ones, not an empty list.
fn parse_status(text: &str) -> Result<String, String> {
    let documented = crate::api::models::ActionStatus::DOCUMENTED;
    documented
        .iter()
        .find(|s| s.eq_ignore_ascii_case(text.trim()))
        .map(|s| (*s).to_string())
        .ok_or_else(|| format!("not a status; use one of {}", documented.join(", ")))
}

/// Machine action ids are GUIDs (contract §3): anything else is refused here, before a call.
fn parse_action_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let groups: Vec<&str> = text.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let is_guid = groups.len() == shape.len()
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if is_guid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("not a machine action id (a GUID such as c141bb71-8125-4234-a184-5d1e4f0c2a77; `lrx actions` lists them)".into())
    }
}

fn parse_time_arg(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::api::models::parse_time(text)
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| format!("'{text}' is not a time like 2026-11-26T14:00:00Z or 2026-11-26"))
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
    /// Faults to inject: 500=SHARE, truncate=SHARE, 429-every=N, 401-at=N, 503-after-create=N.
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
    println!(
        "\nServed {} token requests, {} API calls ({} answered 429) and {} result downloads.",
        handle.token_requests(),
        handle.api_calls(),
        handle.throttled_calls(),
        handle.downloads()
    );
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
