//! Drawing the screen: the layout fitted to the state first (the update side), then every
//! pane drawn from borrowed state. Rendering only reads.

use ratatui::Frame;

use super::app::App;
use super::layout::Screen;
use super::message::Effect;
use super::panes::{BROWSE, act, chrome, overlays};
use super::state::dialogs::Prompt;
use super::theme::Theme;

/// Lays the frame out (the update side: selections kept in view, pages sized) and draws it.
/// The work the layout asks for (highlighting the lines now on screen) goes to `start`
/// before the frame is drawn, so the worker runs while the frame is being drawn.
pub fn draw(frame: &mut Frame, app: &mut App, theme: &Theme, start: &mut dyn FnMut(Effect)) {
    for effect in app.arrange(frame.area()) {
        start(effect);
    }
    render(frame, app, theme);
}

/// Draws the state as it is; it changes nothing.
pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if let Some(canvas) = theme.canvas() {
        frame
            .buffer_mut()
            .set_style(area, ratatui::style::Style::default().bg(canvas));
    }
    let screen = Screen::of(app, area);
    let rows = [screen.header, screen.body, screen.meter, screen.hints];
    chrome::header(frame, rows[0], app, theme);
    body(frame, &screen, app, theme);
    chrome::meter(frame, rows[2], app, theme);
    chrome::hints(frame, rows[3], app, theme);
    match &app.prompt {
        Prompt::Help { scroll } => overlays::help(frame, area, *scroll, app, theme),
        Prompt::Run(dialog) => act::run_dialog(frame, area, dialog, theme),
        Prompt::Cancel(dialog) => act::cancel_dialog(frame, area, dialog, theme),
        _ => {}
    }
    if let Some((text, _)) = &app.toast {
        overlays::toast(frame, rows[1], text, theme);
    }
    if let Some((uri, code)) = &app.device_prompt {
        overlays::device_dialog(frame, area, uri, code, theme);
    }
}

fn body(frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme) {
    if let Some(parts) = screen.review {
        if let Some(review) = &app.review {
            review.render(
                frame,
                parts,
                &app.meter,
                app.now.with_timezone(&app.local_offset),
                theme,
            );
        }
        return;
    }
    for pane in BROWSE {
        if screen.panes[pane.pane()].height > 0 {
            pane.render(frame, screen, app, theme);
        }
    }
}
