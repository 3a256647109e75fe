//! The simulated tenant's machines and actions, generated from a seed and an anchor time.
//!
//! Each action carries a *plan* (when a device picks it up, how long each command runs and
//! how it ends) rather than a status: its status at any moment is computed from the plan by
//! `timeline`, so history and actions that progress while the server runs are one model.

use chrono::{DateTime, Duration, Utc};

use super::corpus::{BodySize, OsFamily, corpus};
use super::rng::SimRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineOs {
    Windows,
    WindowsServer,
    Linux,
    MacOs,
}

/// The device group without an automation level: live response is refused there
/// (`DisallowedOperation`), as for an executive's machine an admin keeps hands off.
const RESTRICTED_GROUP: (&str, &str) = ("mac-exec-02.", "Executives (no automation level)");

impl Machine {
    pub fn disallows_live_response(&self) -> bool {
        self.fqdn.starts_with(RESTRICTED_GROUP.0)
    }

    /// The device group the machines API names.
    pub fn device_group(&self) -> &'static str {
        if self.disallows_live_response() {
            RESTRICTED_GROUP.1
        } else if self.os == MachineOs::WindowsServer {
            "Servers"
        } else {
            "Workstations"
        }
    }
}

impl MachineOs {
    pub fn family(self) -> OsFamily {
        match self {
            Self::Windows | Self::WindowsServer => OsFamily::Windows,
            Self::Linux | Self::MacOs => OsFamily::Unix,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub id: String,
    pub fqdn: String,
    pub os: MachineOs,
    pub ip: String,
    pub user: String,
    /// An inactive machine queues new sessions until the window ends (contract §8.3).
    pub online: bool,
}

#[derive(Debug, Clone)]
pub enum CommandSpec {
    PutFile {
        file_name: String,
    },
    RunScript {
        script_name: String,
        args: Option<String>,
    },
    GetFile {
        path: String,
    },
}

impl CommandSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PutFile { .. } => "PutFile",
            Self::RunScript { .. } => "RunScript",
            Self::GetFile { .. } => "GetFile",
        }
    }

    /// The documented `key`/`value` params, in request order.
    pub fn params(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::PutFile { file_name } => vec![("FileName", file_name)],
            Self::RunScript { script_name, args } => {
                let mut params = vec![("ScriptName", script_name.as_str())];
                if let Some(args) = args {
                    params.push(("Args", args));
                }
                params
            }
            Self::GetFile { path } => vec![("Path", path)],
        }
    }
}

/// What a completed command's result blob holds; rendered only when downloaded.
#[derive(Debug, Clone)]
pub enum ResultSpec {
    None,
    Script {
        template: String,
        errors_template: Option<String>,
        exit_code: i64,
        outlier: bool,
        body: BodySize,
        salt: u64,
    },
    File {
        kind: String,
        bytes: usize,
        salt: u64,
    },
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Completed(ResultSpec),
    Failed(Vec<String>),
    /// `RunScript`'s documented 10-minute limit: the command fails and the action times out.
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct PlannedCommand {
    pub spec: CommandSpec,
    pub duration: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub struct Cancellation {
    pub at: DateTime<Utc>,
    pub requestor: String,
    pub comment: String,
}

#[derive(Debug, Clone)]
pub struct SimAction {
    pub id: String,
    pub action_type: String,
    pub machine: usize,
    pub requestor: String,
    pub comment: String,
    pub created: DateTime<Utc>,
    /// When the device picks the action up; `None` for a device that never comes online.
    pub pickup: Option<DateTime<Utc>>,
    pub commands: Vec<PlannedCommand>,
    pub cancellation: Option<Cancellation>,
    pub scope: Option<String>,
}

pub struct Dataset {
    pub machines: Vec<Machine>,
    /// Newest first, the API's default order.
    pub actions: Vec<SimAction>,
}

/// The comment of the last sweep's second run, and how many of its machines changed.
pub const RESWEEP_COMMENT: &str = "INC-20471 re-sweep: services 12 h later";
pub const RESWEEP_CHANGED: usize = 2;

/// Every this many machines, one is inactive.
const OFFLINE_EVERY: usize = 16;

/// How long an offline device's session stays queued before it times out (contract §8).
pub const PENDING_WINDOW_HOURS: i64 = 2;

const NON_LR_TYPES: &[(&str, Option<&str>)] = &[
    ("Isolate", Some("Selective")),
    ("Isolate", Some("Full")),
    ("Unisolate", None),
    ("RunAntiVirusScan", Some("Quick")),
    ("RunAntiVirusScan", Some("Full")),
    ("CollectInvestigationPackage", None),
    ("RestrictCodeExecution", None),
    ("StopAndQuarantineFile", None),
];

pub fn generate(seed: u64, anchor: DateTime<Utc>) -> Dataset {
    let machines = generate_machines(seed);
    let mut builder = Builder {
        seed,
        anchor,
        machines: &machines,
        actions: Vec::new(),
        ids: SimRng::derive(seed, "ids"),
    };
    builder.fleet_sweeps();
    builder.history();
    builder.special_payloads();
    builder.live_actions();
    builder.other_action_types();
    builder.resweep();
    let mut actions = builder.actions;
    actions.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Dataset { machines, actions }
}

fn generate_machines(seed: u64) -> Vec<Machine> {
    let names = &corpus().machines;
    let mut rng = SimRng::derive(seed, "machines");
    let mut machines = Vec::new();
    let mut push = |rng: &mut SimRng, host: String, os: MachineOs, subnet: u64| {
        let user = rng.pick(&names.users).clone();
        machines.push(Machine {
            id: rng.hex(40),
            fqdn: format!("{host}.{}", names.domain).to_ascii_lowercase(),
            os,
            ip: format!("10.20.{subnet}.{}", rng.range(10, 250)),
            user,
            online: true,
        });
    };
    for i in 0..44u64 {
        let prefix = &names.workstation_prefixes
            [usize::try_from(i).unwrap_or(0) % names.workstation_prefixes.len()];
        let number = rng.range(100, 899);
        push(
            &mut rng,
            format!("{prefix}-{number:04}"),
            MachineOs::Windows,
            3 + i % 5,
        );
    }
    for server in &names.servers {
        push(&mut rng, server.clone(), MachineOs::WindowsServer, 0);
    }
    for host in &names.linux {
        push(&mut rng, host.clone(), MachineOs::Linux, 8);
    }
    for host in &names.mac {
        push(&mut rng, host.clone(), MachineOs::MacOs, 6);
    }
    // A few machines are switched off, chosen by position so the rest of the tenant (drawn
    // from the same seed) stays as it was.
    for machine in machines
        .iter_mut()
        .skip(OFFLINE_EVERY - 1)
        .step_by(OFFLINE_EVERY)
    {
        machine.online = false;
    }
    machines
}

struct Builder<'a> {
    seed: u64,
    anchor: DateTime<Utc>,
    machines: &'a [Machine],
    actions: Vec<SimAction>,
    ids: SimRng,
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 2))
}

/// Real creation times carry 7 fractional digits (100 ns ticks).
fn with_ticks(time: DateTime<Utc>, rng: &mut SimRng) -> DateTime<Utc> {
    time + Duration::nanoseconds(i64::try_from(rng.below(10_000_000) * 100).unwrap_or(0))
}

impl Builder<'_> {
    fn new_action(
        &mut self,
        rng: &mut SimRng,
        machine: usize,
        created: DateTime<Utc>,
        requestor: String,
        comment: String,
    ) -> SimAction {
        let created = with_ticks(created, rng);
        SimAction {
            id: self.ids.guid(),
            action_type: "LiveResponse".into(),
            machine,
            requestor,
            comment,
            created,
            pickup: Some(created + secs(rng.range(4, 75))),
            commands: Vec::new(),
            cancellation: None,
            scope: None,
        }
    }

    fn salt(&self, rng: &mut SimRng) -> u64 {
        rng.next_u64() ^ self.seed
    }

    fn script_command(&self, rng: &mut SimRng, script: usize, outlier: bool) -> PlannedCommand {
        let def = &corpus().scripts[script];
        let fails = rng.chance(def.failure_rate);
        let body = def.body_lines.map_or(BodySize::Lines(0), |[low, high]| {
            BodySize::Lines(rng.range(low, high))
        });
        PlannedCommand {
            spec: CommandSpec::RunScript {
                script_name: def.name.clone(),
                args: def.args.clone(),
            },
            duration: secs(rng.range(3, 75)),
            outcome: Outcome::Completed(ResultSpec::Script {
                template: def.output.clone(),
                errors_template: if fails { def.errors.clone() } else { None },
                exit_code: if fails { def.failure_exit_code } else { 0 },
                outlier,
                body,
                salt: self.salt(rng),
            }),
        }
    }

    fn pick_script(rng: &mut SimRng, family: OsFamily) -> usize {
        let scripts = &corpus().scripts;
        let total: u64 = scripts
            .iter()
            .filter(|s| s.os == family)
            .map(|s| s.weight)
            .sum();
        let mut roll = rng.below(total.max(1));
        for (index, script) in scripts.iter().enumerate() {
            if script.os != family {
                continue;
            }
            if roll < script.weight {
                return index;
            }
            roll -= script.weight;
        }
        0
    }

    /// The same script run across many machines in one sweep: most outputs agree, a few
    /// outliers differ in a telling way, and a few runs fail in each documented way.
    fn fleet_sweeps(&mut self) {
        let mut rng = SimRng::derive(self.seed, "fleet");
        let windows: Vec<usize> = (0..self.machines.len())
            .filter(|&i| self.machines[i].os.family() == OsFamily::Windows)
            .collect();
        for (sweep_number, fleet) in corpus().fleet.iter().enumerate() {
            let script = corpus()
                .scripts
                .iter()
                .position(|s| s.name == fleet.name && s.args == fleet.args)
                .unwrap_or(0);
            let mut chosen = windows.clone();
            // Fisher-Yates on a copy, so each sweep covers a different set of machines.
            for i in (1..chosen.len()).rev() {
                let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
                chosen.swap(i, j);
            }
            chosen.truncate(fleet.machines.min(chosen.len()));
            let days_back = 1 + u64::try_from(sweep_number).unwrap_or(0);
            let start = self.anchor - Duration::days(i64::try_from(days_back).unwrap_or(1))
                + secs(rng.range(0, 3600));
            let requestor = "SOAR-LiveResponse-Automation".to_string();
            for (slot, &machine) in chosen.iter().enumerate() {
                let created = start + secs(u64::try_from(slot).unwrap_or(0) * rng.range(2, 9));
                let mut action = self.new_action(
                    &mut rng,
                    machine,
                    created,
                    requestor.clone(),
                    fleet.comment.clone(),
                );
                let outlier = slot >= 3 && slot < 3 + fleet.outliers;
                let failure = slot
                    .checked_sub(3 + fleet.outliers)
                    .filter(|&k| k < fleet.failures);
                let mut command = self.script_command(&mut rng, script, outlier);
                if let Outcome::Completed(ResultSpec::Script {
                    exit_code,
                    errors_template,
                    ..
                }) = &mut command.outcome
                {
                    *exit_code = 0;
                    *errors_template = None;
                }
                match failure {
                    Some(0) => {
                        command.outcome = Outcome::Failed(vec![format!(
                            "Failed to run script '{}': the device did not respond in time (0x80070079)",
                            fleet.name
                        )]);
                    }
                    Some(_) => {
                        if let Outcome::Completed(ResultSpec::Script {
                            exit_code,
                            errors_template,
                            ..
                        }) = &mut command.outcome
                        {
                            *exit_code = 1;
                            *errors_template = Some("defenderstatus-errors.txt".into());
                        }
                    }
                    None => {}
                }
                action.commands.push(command);
                self.actions.push(action);
            }
        }
    }

    /// The last fleet sweep run again twelve hours later on the same machines: most outputs
    /// are as they were, two machines have changed since (what a baseline finds). Made last,
    /// from its own ids onward, so the rest of the tenant stays as it was.
    fn resweep(&mut self) {
        let Some(fleet) = corpus().fleet.last() else {
            return;
        };
        let later = Duration::hours(12);
        let originals: Vec<SimAction> = self
            .actions
            .iter()
            .filter(|a| a.comment == fleet.comment)
            .cloned()
            .collect();
        let mut changed = 0;
        for original in originals {
            let mut action = original;
            action.id = self.ids.guid();
            action.comment = RESWEEP_COMMENT.into();
            action.created += later;
            action.pickup = action.pickup.map(|pickup| pickup + later);
            for command in &mut action.commands {
                if let Outcome::Completed(ResultSpec::Script { outlier, .. }) = &mut command.outcome
                    && !*outlier
                    && changed < RESWEEP_CHANGED
                {
                    *outlier = true;
                    changed += 1;
                }
            }
            self.actions.push(action);
        }
    }

    /// Individual triage sessions spread over the last seven days.
    fn history(&mut self) {
        let mut rng = SimRng::derive(self.seed, "history");
        let c = corpus();
        let target_total = 330;
        while self.actions.len() < target_total {
            let machine = usize::try_from(rng.below(self.machines.len() as u64)).unwrap_or(0);
            let family = self.machines[machine].os.family();
            let back = rng.range(20 * 60, 7 * 86_400 - 600);
            let created = self.anchor - secs(back);
            let requestor = rng.pick(&c.requestors).clone();
            let template = rng.pick(&c.comments).clone();
            let comment = fill_comment(&template, &mut rng);
            let mut action = self.new_action(&mut rng, machine, created, requestor, comment);
            if rng.chance(0.3) {
                action.commands.push(PlannedCommand {
                    spec: CommandSpec::PutFile {
                        file_name: rng.pick(&c.putfiles).clone(),
                    },
                    duration: secs(rng.range(2, 20)),
                    outcome: Outcome::Completed(ResultSpec::None),
                });
            }
            for _ in 0..rng.range(1, 3) {
                let script = Self::pick_script(&mut rng, family);
                let outlier = rng.chance(0.08);
                let command = self.script_command(&mut rng, script, outlier);
                action.commands.push(command);
            }
            if rng.chance(0.3) {
                let wanted_unix = family == OsFamily::Unix;
                let candidates: Vec<_> = c
                    .getfiles
                    .iter()
                    .filter(|g| g.path.starts_with('/') == wanted_unix)
                    .collect();
                if !candidates.is_empty() {
                    let def = *rng.pick(&candidates);
                    action.commands.push(PlannedCommand {
                        spec: CommandSpec::GetFile {
                            path: def.path.clone(),
                        },
                        duration: secs(rng.range(5, 120)),
                        outcome: Outcome::Completed(ResultSpec::File {
                            kind: def.kind.clone(),
                            bytes: usize::try_from(
                                rng.range(def.kilobytes[0], def.kilobytes[1]) * 1024,
                            )
                            .unwrap_or(1024),
                            salt: self.salt(&mut rng),
                        }),
                    });
                }
            }
            if rng.chance(0.05) {
                let path = rng.pick(&c.missing_paths).clone();
                let spec = CommandSpec::GetFile { path };
                let errors = vec![failure_text(&spec, &mut rng)];
                action.commands.push(PlannedCommand {
                    spec,
                    duration: secs(rng.range(2, 10)),
                    outcome: Outcome::Failed(errors),
                });
            }
            action.commands.truncate(5);
            self.apply_fate(&mut rng, &mut action);
            self.actions.push(action);
        }
    }

    /// Most sessions succeed; the rest fail, time out or are cancelled as the docs describe.
    #[expect(
        clippy::unused_self,
        reason = "one of the dataset's build steps, called like the others"
    )]
    fn apply_fate(&self, rng: &mut SimRng, action: &mut SimAction) {
        let roll = rng.below(100);
        let last = action.commands.len() - 1;
        match roll {
            0..=7 => {
                // A command fails; later commands stay Created (contract §12).
                let failing =
                    usize::try_from(rng.below(action.commands.len() as u64)).unwrap_or(last);
                let command = &mut action.commands[failing];
                command.outcome = Outcome::Failed(vec![failure_text(&command.spec, rng)]);
            }
            8..=10 => {
                if let Some(command) = action
                    .commands
                    .iter_mut()
                    .find(|c| matches!(c.spec, CommandSpec::RunScript { .. }))
                {
                    command.duration = Duration::minutes(10);
                    command.outcome = Outcome::TimedOut;
                }
            }
            11..=12 => {
                // The device never came online: queued until the pending window ran out.
                action.pickup = None;
            }
            13..=15 => {
                let at = action.created + secs(rng.range(2, 40));
                action.pickup = action.pickup.map(|p| p.max(at + secs(5)));
                action.cancellation = Some(Cancellation {
                    at: with_ticks(at, rng),
                    requestor: action.requestor.clone(),
                    comment: "Cancelled: wrong machine selected".into(),
                });
            }
            _ => {}
        }
    }

    /// A few recent sessions whose output is very large or hostile, as a compromised or busy
    /// host returns.
    fn special_payloads(&mut self) {
        let mut rng = SimRng::derive(self.seed, "special");
        let c = corpus();
        let windows: Vec<usize> = (0..self.machines.len())
            .filter(|&i| self.machines[i].os.family() == OsFamily::Windows)
            .collect();
        for (n, large) in c.large.iter().enumerate() {
            let machine = windows[usize::try_from(rng.below(windows.len() as u64)).unwrap_or(0)];
            let created = self.anchor - Duration::hours(3 + i64::try_from(n).unwrap_or(0) * 5);
            let mut action = self.new_action(
                &mut rng,
                machine,
                created,
                "priya.natarajan@contoso.com".into(),
                "INC-20467: full week of security events for the timeline".into(),
            );
            action.commands.push(PlannedCommand {
                spec: CommandSpec::RunScript {
                    script_name: large.name.clone(),
                    args: large.args.clone(),
                },
                duration: secs(rng.range(180, 420)),
                outcome: Outcome::Completed(ResultSpec::Script {
                    template: large.output.clone(),
                    errors_template: None,
                    exit_code: 0,
                    outlier: false,
                    body: BodySize::Bytes(large.megabytes * 1024 * 1024),
                    salt: self.salt(&mut rng),
                }),
            });
            self.actions.push(action);
        }
        for n in 0..3 {
            let machine = windows[usize::try_from(rng.below(windows.len() as u64)).unwrap_or(0)];
            let created = self.anchor - Duration::hours(1 + n * 7) - secs(rng.range(0, 1800));
            let mut action = self.new_action(
                &mut rng,
                machine,
                created,
                "j.alvarez@contoso.com".into(),
                "INC-20471: who is logged on? host suspected compromised".into(),
            );
            action.commands.push(PlannedCommand {
                spec: CommandSpec::RunScript {
                    script_name: c.hostile.name.clone(),
                    args: c.hostile.args.clone(),
                },
                duration: secs(rng.range(4, 30)),
                outcome: Outcome::Completed(ResultSpec::Script {
                    template: c.hostile.output.clone(),
                    errors_template: None,
                    exit_code: 0,
                    outlier: false,
                    body: BodySize::Lines(0),
                    salt: self.salt(&mut rng),
                }),
            });
            self.actions.push(action);
        }
    }

    /// Sessions that are still running or queued when the server starts, so the UI's
    /// auto-refresh has something to show moving.
    fn live_actions(&mut self) {
        let mut rng = SimRng::derive(self.seed, "live");
        for n in 0..7u64 {
            let machine = usize::try_from(rng.below(self.machines.len() as u64)).unwrap_or(0);
            let family = self.machines[machine].os.family();
            let requestor = rng.pick(&corpus().requestors).clone();
            let (created, pickup) = match n {
                // In progress: picked up, commands finishing over the next minutes.
                0..=2 => (
                    self.anchor - secs(rng.range(60, 240)),
                    Some(self.anchor - secs(30)),
                ),
                // Pending: picked up shortly after the server starts.
                3..=5 => (
                    self.anchor - secs(rng.range(20, 90)),
                    Some(self.anchor + secs(rng.range(20, 90))),
                ),
                // Pending on an offline device.
                _ => (self.anchor - Duration::minutes(25), None),
            };
            let mut action = self.new_action(
                &mut rng,
                machine,
                created,
                requestor,
                format!("INC-{}: live triage in progress", 20_480 + n),
            );
            action.pickup = pickup.map(|p| p.max(action.created + secs(1)));
            for _ in 0..rng.range(2, 4) {
                let script = Self::pick_script(&mut rng, family);
                let mut command = self.script_command(&mut rng, script, false);
                command.duration = secs(rng.range(25, 80));
                action.commands.push(command);
            }
            self.actions.push(action);
        }
    }

    fn other_action_types(&mut self) {
        let mut rng = SimRng::derive(self.seed, "other");
        for _ in 0..32 {
            let machine = usize::try_from(rng.below(self.machines.len() as u64)).unwrap_or(0);
            let created = self.anchor - secs(rng.range(600, 7 * 86_400));
            let (kind, scope) = *rng.pick(NON_LR_TYPES);
            let requestor = rng.pick(&corpus().requestors).clone();
            let template = rng.pick(&corpus().comments).clone();
            let comment = fill_comment(&template, &mut rng);
            let mut action = self.new_action(&mut rng, machine, created, requestor, comment);
            action.action_type = kind.into();
            action.scope = scope.map(Into::into);
            self.actions.push(action);
        }
    }
}

/// A new session requested through `runliveresponse`: picked up within seconds, each
/// command taking a few seconds, ending as the corpus says the script or file would.
pub fn planned_from_request(
    rng: &mut SimRng,
    machine: usize,
    target: &Machine,
    specs: Vec<CommandSpec>,
    now: DateTime<Utc>,
    requestor: String,
    comment: String,
) -> SimAction {
    let c = corpus();
    let created = with_ticks(now, rng);
    let commands = specs
        .into_iter()
        .map(|spec| {
            let outcome = match &spec {
                CommandSpec::PutFile { file_name } => {
                    if super::library::in_library(file_name, target.os.family()) {
                        Outcome::Completed(ResultSpec::None)
                    } else {
                        Outcome::Failed(vec![failure_text(&spec, rng)])
                    }
                }
                CommandSpec::RunScript { script_name, .. } => {
                    match c.scripts.iter().find(|s| {
                        s.name.eq_ignore_ascii_case(script_name) && s.os == target.os.family()
                    }) {
                        Some(def) => Outcome::Completed(ResultSpec::Script {
                            template: def.output.clone(),
                            errors_template: None,
                            exit_code: 0,
                            outlier: false,
                            body: def
                                .body_lines
                                .map_or(BodySize::Lines(0), |[low, _]| BodySize::Lines(low)),
                            salt: rng.next_u64(),
                        }),
                        None if super::library::is_unsigned_script(script_name) => {
                            Outcome::Failed(vec![format!(
                                "Script execution failed: the script '{script_name}' is not signed and unsigned script execution is disabled"
                            )])
                        }
                        None => Outcome::Failed(vec![format!(
                            "Script '{script_name}' was not found in the live response library"
                        )]),
                    }
                }
                CommandSpec::GetFile { path } => match c
                    .getfiles
                    .iter()
                    .find(|g| g.path.eq_ignore_ascii_case(path))
                {
                    Some(def) => Outcome::Completed(ResultSpec::File {
                        kind: def.kind.clone(),
                        bytes: usize::try_from(def.kilobytes[0] * 1024).unwrap_or(1024),
                        salt: rng.next_u64(),
                    }),
                    None => Outcome::Failed(vec![failure_text(&spec, rng)]),
                },
            };
            PlannedCommand {
                spec,
                duration: secs(rng.range(3, 10)),
                outcome,
            }
        })
        .collect();
    SimAction {
        id: rng.guid(),
        action_type: "LiveResponse".into(),
        machine,
        requestor,
        comment,
        created,
        pickup: target.online.then(|| created + secs(rng.range(3, 8))),
        commands,
        cancellation: None,
        scope: None,
    }
}

fn fill_comment(template: &str, rng: &mut SimRng) -> String {
    template
        .replace("{{inc}}", &rng.range(20_400, 20_480).to_string())
        .replace("{{hex12}}", &rng.hex(12))
}

fn failure_text(spec: &CommandSpec, rng: &mut SimRng) -> String {
    match spec {
        CommandSpec::PutFile { file_name } => format!(
            "Failed to put file '{file_name}' on the device: the file does not exist in the live response library"
        ),
        CommandSpec::RunScript { script_name, .. } => (*rng.pick(&[
            "Script execution failed: the script file is not signed and unsigned script execution is disabled",
            "Failed to run script: the device did not respond in time (0x80070079)",
            "Script execution failed with an unhandled exception: System.OutOfMemoryException",
        ]))
        .replace("the script", &format!("the script '{script_name}'")),
        CommandSpec::GetFile { path } => {
            format!("Failed to collect file '{path}': The system cannot find the file specified. (0x80070002)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn dataset_is_large_and_varied_enough() {
        let data = generate(42, anchor());
        assert!(data.machines.len() >= 60);
        let live_response = data
            .actions
            .iter()
            .filter(|a| a.action_type == "LiveResponse")
            .count();
        assert!(live_response >= 300, "{live_response}");
        assert!(data.actions.iter().any(|a| a.action_type != "LiveResponse"));
        assert!(
            data.actions
                .iter()
                .all(|a| a.created > anchor() - Duration::days(7) - Duration::hours(1))
        );
        assert!(
            data.actions
                .windows(2)
                .all(|w| w[0].created >= w[1].created)
        );
    }

    #[test]
    fn same_seed_same_dataset() {
        let a = generate(7, anchor());
        let b = generate(7, anchor());
        let ids = |d: &Dataset| d.actions.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&generate(8, anchor())));
    }
}
