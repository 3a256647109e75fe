//! Terminal input for tests that drive the real event loop.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use ratatui::crossterm::event::Event;

/// Terminal input as crossterm's `EventStream` gives it: the stream keeps the first waker it
/// is polled with until a key comes, so a loop that ever polls it with a throwaway waker
/// may never hear of the next key (unless something else happens to wake it). It counts
/// such polls, so a test can hold the loop to none.
#[derive(Clone, Default)]
pub(crate) struct LikeCrossterm(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    keys: VecDeque<Event>,
    /// Called when a key comes.
    waker: Option<Waker>,
    /// The loop's own task, as the first poll saw it.
    task: Option<Waker>,
    strangers: usize,
}

impl LikeCrossterm {
    pub(crate) fn send(&self, event: Event) {
        let mut inner = self.0.lock().expect("lock");
        inner.keys.push_back(event);
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// How many polls came with a waker that does not wake the task that first polled.
    pub(crate) fn polls_by_strangers(&self) -> usize {
        self.0.lock().expect("lock").strangers
    }
}

impl futures_util::Stream for LikeCrossterm {
    type Item = std::io::Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inner = self.0.lock().expect("lock");
        match &inner.task {
            None => inner.task = Some(cx.waker().clone()),
            Some(task) if !task.will_wake(cx.waker()) => inner.strangers += 1,
            Some(_) => {}
        }
        if let Some(event) = inner.keys.pop_front() {
            return Poll::Ready(Some(Ok(event)));
        }
        if inner.waker.is_none() {
            inner.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}
