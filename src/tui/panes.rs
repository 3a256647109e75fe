//! One file per pane, each drawing from borrowed state and changing nothing. A new pane is a
//! file here, a rectangle in `layout` and its keys in the key map.

pub mod actions;
pub mod chrome;
pub mod commands;
pub mod overlays;
pub mod review;
pub mod transcript;
