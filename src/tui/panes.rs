//! One file per pane, each drawing from borrowed state and changing nothing.
//!
//! The browse screen's panes meet one contract, `BrowsePane`, and are listed once in
//! `BROWSE`: the view draws whatever is listed where the layout put it. A new pane is a file
//! here implementing it, a place in `Pane::ALL` and the layout, and its keys in the key map.

pub(super) mod act;
pub(super) mod actions;
pub(super) mod chrome;
pub(super) mod commands;
pub(super) mod overlays;
pub(super) mod review;
pub(super) mod transcript;

use ratatui::Frame;

use super::app::App;
use super::layout::Screen;
use super::state::browse::Pane;
use super::theme::Theme;

/// A pane of the browse screen.
pub(super) trait BrowsePane: Sync {
    /// Which pane it is: its place in the focus order, its area and its key context.
    fn pane(&self) -> Pane;

    /// Draws it into its area of `screen` from borrowed state; it writes nothing.
    fn render(&self, frame: &mut Frame, screen: &Screen, app: &App, theme: &Theme);
}

/// Every browse pane, in `Pane::ALL` order.
pub(super) const BROWSE: [&dyn BrowsePane; Pane::ALL.len()] = [
    &actions::ActionsPane,
    &commands::CommandsPane,
    &transcript::TranscriptPane,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_is_listed_once_in_focus_order() {
        let listed: Vec<Pane> = BROWSE.iter().map(|pane| pane.pane()).collect();
        assert_eq!(listed, Pane::ALL);
    }
}
