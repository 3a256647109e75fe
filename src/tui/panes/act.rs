//! The run and cancel dialogs, drawn over the screen. Every name, description and line in
//! them came from the tenant (machine names, library descriptions, the service's errors):
//! each is sanitised here, where it meets the terminal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::overlays::popup_wrapped;
use crate::sanitize;
use crate::tui::state::act::{CancelDialog, Field, Library, RunDialog, RunStage};
use crate::tui::theme::Theme;

/// Library files listed under the script field at once.
const CHOICES: usize = 6;

fn field<'a>(label: &'a str, text: &str, focused: bool, theme: &Theme) -> Line<'a> {
    let style = if focused {
        theme.selected(true)
    } else {
        theme.base()
    };
    Line::from(vec![
        Span::styled(format!("{label:<8}"), theme.accent()),
        Span::styled(
            format!("{}{}", sanitize::line(text), if focused { "▏" } else { "" }),
            style,
        ),
    ])
}

pub(crate) fn run_dialog(frame: &mut Frame, area: Rect, dialog: &RunDialog, theme: &Theme) {
    let mut lines = Vec::new();
    let names: Vec<&str> = dialog.targets.iter().map(|t| t.name.as_str()).collect();
    let shown = names.iter().take(4).copied().collect::<Vec<_>>().join(", ");
    let more = names.len().saturating_sub(4);
    lines.push(Line::from(vec![
        Span::styled("Machines ", theme.accent()),
        Span::raw(format!(
            "{shown}{}",
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )),
    ]));
    let editing = dialog.stage == RunStage::Editing;
    lines.push(field(
        "Script",
        &dialog.script,
        editing && dialog.field == Field::Script,
        theme,
    ));
    match &dialog.library {
        Library::Loading => lines.push(Line::styled("  reading the library…", theme.dim())),
        Library::Unavailable(reason) => lines.push(Line::styled(
            format!(
                "  the library could not be read (type the script's name): {}",
                sanitize::line(reason)
            ),
            theme.warn(),
        )),
        Library::Ready(_) => {
            let matching = dialog.matching();
            if matching.is_empty() {
                lines.push(Line::styled("  no library file matches", theme.warn()));
            }
            let first = dialog.selected.saturating_sub(CHOICES - 1);
            for (i, file) in matching.iter().enumerate().skip(first).take(CHOICES) {
                let chosen = i == dialog.selected;
                lines.push(Line::from(vec![
                    Span::styled(
                        format!(
                            "{} {:<28}",
                            if chosen { "▸" } else { " " },
                            sanitize::line(&file.file_name)
                        ),
                        if chosen {
                            theme.selected(dialog.field == Field::Script)
                        } else {
                            theme.base()
                        },
                    ),
                    Span::styled(
                        format!(" {}", sanitize::line(&file.description)),
                        theme.dim(),
                    ),
                ]));
            }
        }
    }
    lines.push(field(
        "Args",
        &dialog.args,
        editing && dialog.field == Field::Args,
        theme,
    ));
    lines.push(field(
        "Comment",
        &dialog.comment,
        editing && dialog.field == Field::Comment,
        theme,
    ));
    lines.push(Line::raw(""));
    match &dialog.stage {
        RunStage::Editing => lines.push(Line::styled(
            "Tab next field · ↑/↓ pick the script · Enter preview · Esc close",
            theme.dim(),
        )),
        RunStage::Preparing => lines.push(Line::styled(
            "looking up the machines, the library and active sessions…",
            theme.dim(),
        )),
        RunStage::Confirming(preview) => {
            lines.push(Line::from(vec![
                Span::styled("Will run ", theme.accent()),
                Span::raw(preview.commands().join(" → ")),
            ]));
            lines.push(Line::styled(preview.summary(), theme.warn()));
            for target in preview.busy() {
                lines.push(Line::styled(
                    format!(
                        "  {}: has session {} ({}): skipped",
                        target.name(),
                        target
                            .active
                            .as_ref()
                            .map(|a| sanitize::line(&a.id))
                            .unwrap_or_default(),
                        target
                            .active
                            .as_ref()
                            .map(|a| a.status.to_string())
                            .unwrap_or_default()
                    ),
                    theme.dim(),
                ));
            }
            let ready = preview.ready().count();
            lines.push(Line::from(vec![
                Span::styled(
                    format!("Type {ready} to start {ready} session(s): "),
                    theme.accent(),
                ),
                Span::styled(format!("{}▏", dialog.typed), theme.selected(true)),
                Span::styled("  Esc back", theme.dim()),
            ]));
        }
        RunStage::Launching { total, lines: said } => {
            lines.push(Line::styled(
                format!(
                    "starting: {} of {total} · Esc hides this, the run goes on",
                    said.len()
                ),
                theme.accent(),
            ));
            lines.extend(said.iter().map(|l| Line::raw(sanitize::line(l))));
        }
        RunStage::Done { lines: said } => {
            lines.push(Line::styled(
                "done: the new actions are in the list and followed until they end · Enter or Esc closes",
                theme.accent(),
            ));
            lines.extend(said.iter().map(|l| Line::raw(sanitize::line(l))));
        }
    }
    if let Some(problem) = &dialog.problem {
        lines.push(Line::styled(sanitize::line(problem), theme.error()));
    }
    let title = format!(
        " Run live response on {} machine{} ",
        dialog.targets.len(),
        if dialog.targets.len() == 1 { "" } else { "s" }
    );
    popup_wrapped(frame, area, 100, &title, lines, theme);
}

pub(crate) fn cancel_dialog(frame: &mut Frame, area: Rect, dialog: &CancelDialog, theme: &Theme) {
    let lines = vec![
        Line::from(vec![
            Span::styled("Action  ", theme.accent()),
            Span::raw(sanitize::line(&dialog.action_id)),
        ]),
        Line::raw(format!(
            "        on {} · {} · by {}",
            dialog.machine, dialog.status, dialog.requestor
        )),
        field("Comment", &dialog.comment, !dialog.sending, theme),
        Line::raw(""),
        Line::styled(
            if dialog.sending {
                "cancelling…"
            } else {
                "Enter cancels the action · Esc keeps it"
            },
            theme.dim(),
        ),
    ];
    popup_wrapped(frame, area, 90, " Cancel machine action ", lines, theme);
}
