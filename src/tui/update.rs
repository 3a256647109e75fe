//! How the state changes: the handlers of keys, the mouse, the command line and the review,
//! each an `impl App` beside the others, none of them touching the network (they return
//! `Effect`s).

mod act;
mod browse;
mod command_line;
mod dialogs;
mod results;
mod review;
mod search;
mod transcript;
