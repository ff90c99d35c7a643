//! How long the supervisor waits before starting again a process that
//! exited unasked: a back-off that doubles while it keeps crashing.

use std::time::Duration;

/// How the supervisor starts again a process that exited unasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The wait before the first restart after a crash.
    pub initial_delay: Duration,
    /// The longest wait: doubling stops here.
    pub max_delay: Duration,
    /// A process that ran at least this long before it exited is started
    /// again after `initial_delay`: the doubling starts over.
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    /// 100 ms doubling up to 5 s, reset after 10 s up.
    fn default() -> Self {
        RestartPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            reset_after: Duration::from_secs(10),
        }
    }
}

impl RestartPolicy {
    /// Given the wait planned for the next restart and how long the
    /// process that just exited ran: the wait to use now (the planned one,
    /// or `initial_delay` again after a long enough run), and the one after
    /// it (doubled, at most `max_delay`).
    pub(super) fn back_off(&self, planned: Duration, uptime: Duration) -> (Duration, Duration) {
        let delay = if uptime >= self.reset_after {
            self.initial_delay
        } else {
            planned
        };
        let next = delay
            .saturating_mul(2)
            .min(self.max_delay)
            .max(self.initial_delay);
        (delay, next)
    }
}
