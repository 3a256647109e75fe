//! A small pool of threads for decoding payloads, with two lanes: what the analyst waits
//! for (the transcript they opened, a diff) goes before what can wait (the review's digests
//! of thousands of results). Bounded to about the core count: a review of 5,000 results
//! would otherwise take one blocking thread each (tokio's blocking pool grows to 512).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Someone is looking at the screen for it.
    Now,
    /// Background work: taken only when nothing waits in `Now`.
    Later,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queues {
    now: VecDeque<Job>,
    later: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Queues {
    fn next(&mut self) -> Option<Job> {
        self.now.pop_front().or_else(|| self.later.pop_front())
    }
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
}

/// See the module's doc. Threads start as work arrives, up to the bound, and then wait for
/// more; they live as long as the process.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
    name: &'static str,
    max_threads: usize,
}

impl Pool {
    pub fn new(name: &'static str, max_threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queues: Mutex::new(Queues::default()),
                wake: Condvar::new(),
            }),
            name,
            max_threads: max_threads.max(1),
        }
    }

    /// The process's decoding pool: one thread per core.
    pub fn decoding() -> &'static Self {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
            Self::new("lrx-decode", cores)
        })
    }

    pub fn submit(&self, lane: Lane, job: impl FnOnce() + Send + 'static) {
        let mut queues = self
            .shared
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match lane {
            Lane::Now => queues.now.push_back(Box::new(job)),
            Lane::Later => queues.later.push_back(Box::new(job)),
        }
        if queues.idle > 0 {
            self.shared.wake.notify_one();
            return;
        }
        if queues.threads < self.max_threads {
            let shared = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || work(&shared));
            match started {
                Ok(_) => queues.threads += 1,
                // The threads already running will get to it.
                Err(error) => tracing::warn!("no decoding thread: {error}"),
            }
        }
    }

    /// Threads started so far.
    pub fn threads(&self) -> usize {
        self.shared
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .threads
    }
}

fn work(shared: &Shared) {
    let mut queues = shared
        .queues
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        if let Some(job) = queues.next() {
            drop(queues);
            // A job that panics takes only itself down, not the thread the others need.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            queues = shared
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        }
        queues.idle += 1;
        queues = shared
            .wake
            .wait(queues)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.idle -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn work_waiting_now_goes_before_work_that_can_wait() {
        let pool = Pool::new("test", 1);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        // Hold the one thread while the queues fill.
        pool.submit(Lane::Later, move || {
            let _ = gate_rx.recv();
        });
        for (lane, name) in [
            (Lane::Later, "digest 1"),
            (Lane::Later, "digest 2"),
            (Lane::Now, "opened"),
        ] {
            let done = done_tx.clone();
            pool.submit(lane, move || {
                let _ = done.send(name);
            });
        }
        gate_tx.send(()).expect("gate");
        let order: Vec<_> = (0..3).map(|_| done_rx.recv().expect("done")).collect();
        assert_eq!(order, ["opened", "digest 1", "digest 2"]);
    }

    #[test]
    fn a_thousand_jobs_take_no_more_threads_than_the_bound() {
        let pool = Pool::new("test", 3);
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..1000 {
            let done = done_tx.clone();
            pool.submit(Lane::Later, move || {
                let _ = done.send(i);
            });
        }
        let mut seen: Vec<i32> = (0..1000).map(|_| done_rx.recv().expect("done")).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(pool.threads() <= 3, "{} threads", pool.threads());
    }

    #[test]
    fn a_job_that_panics_leaves_the_pool_working() {
        let pool = Pool::new("test", 1);
        pool.submit(Lane::Now, || panic!("a hostile payload"));
        let (done_tx, done_rx) = mpsc::channel();
        pool.submit(Lane::Now, move || {
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the next job still runs");
    }
}
