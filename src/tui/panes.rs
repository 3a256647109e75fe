//! One file per pane, each drawing from borrowed state and changing nothing. A new pane is a
//! file here, a rectangle in `layout` and its keys in the key map.

pub(super) mod actions;
pub(super) mod chrome;
pub(super) mod commands;
pub(super) mod overlays;
pub(super) mod review;
pub(super) mod transcript;
