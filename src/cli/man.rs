//! The man page: clap's own sections (name, synopsis, options, examples), then the ones an
//! analyst looks for in `man lrx` — COMMANDS (in this page, not in pages that do not
//! exist), KEYS (from the same key map as `?`), FILES and EXIT STATUS.

use std::io::Write;

use crate::tui::input::{FORCE_QUIT_HELP, HelpRow, KeyMap, context_name};

/// roff text: backslashes and leading dots and hyphens made literal.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn entry(out: &mut dyn Write, term: &str, body: &str) -> std::io::Result<()> {
    writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(term), roff(body))
}

pub(super) fn render(out: &mut dyn Write) -> std::io::Result<()> {
    let command = <super::Cli as clap::CommandFactory>::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_extra_section(out)?;

    writeln!(out, ".SH COMMANDS")?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        entry(
            out,
            &format!("lrx {}", sub.get_name()),
            &format!(
                "{about}. lrx {} \\-\\-help shows its options and examples.",
                sub.get_name()
            )
            .replace("\\-\\-", "--"),
        )?;
    }

    writeln!(out, ".SH KEYS")?;
    writeln!(
        out,
        "{}",
        roff("In the terminal UI (? shows the same list; [keys] in config.toml remaps them):")
    )?;
    let keys = KeyMap::default();
    for row in keys.help_rows() {
        match row {
            HelpRow::Context(context) => writeln!(out, ".SS {}", roff(context_name(context)))?,
            HelpRow::Binding(binding) => entry(out, &binding.keys, binding.description)?,
        }
    }
    entry(out, FORCE_QUIT_HELP.0, FORCE_QUIT_HELP.1)?;

    writeln!(out, ".SH FILES")?;
    entry(
        out,
        "~/.config/lrx/config.toml",
        "settings and profiles, never secrets (LRX_CONFIG overrides; lrx config path prints it)",
    )?;
    entry(
        out,
        "~/.cache/lrx/results/",
        "the result cache, 0700, entries 0600, verified by SHA-256 (--cache-dir, LRX_CACHE_DIR)",
    )?;
    entry(
        out,
        "~/.local/state/lrx/lrx.log",
        "the log, 0600, never on the terminal (-v, LRX_LOG)",
    )?;
    entry(
        out,
        "~/.local/state/lrx/budget/",
        "the rate budget shared by every lrx process of a tenant and app",
    )?;
    writeln!(
        out,
        "{}",
        roff(
            "The paths follow the XDG base directories (XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_STATE_HOME)."
        )
    )?;

    writeln!(out, ".SH EXIT STATUS")?;
    entry(out, "0", "success")?;
    entry(
        out,
        "1",
        "an API, network or data error; the message says what failed and what to do",
    )?;
    entry(out, "2", "a usage or configuration error")?;
    entry(
        out,
        "3",
        "lrx review --fail-on-nonzero found a failed or non-zero run",
    )?;
    man.render_version_section(out)
}
