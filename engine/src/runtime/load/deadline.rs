//! A per-request timeout that does not touch the timer wheel per request.
//!
//! `tokio::time::timeout` registers a timer entry for every request and
//! removes it again when the answer comes first: a lock on the runtime's
//! timer for each of them. A worker has one request in flight at a time,
//! so it keeps one `Sleep` instead and moves it only when it fires: the
//! request in flight has then either run past its own deadline (it timed
//! out) or it started later than the one the sleep was set for, and the
//! sleep is moved to its deadline. Timeouts stay exact; the timer is
//! touched about once per timeout period instead of once per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::time::{sleep_until, Instant, Sleep};

/// One worker's request timeout.
pub struct Deadline {
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    /// A timeout of `timeout` per request.
    pub fn new(timeout: Duration) -> Deadline {
        Deadline {
            timeout,
            sleep: Box::pin(sleep_until(Instant::now() + timeout)),
        }
    }

    /// Runs `work`, sent at `sent`, until it ends (`Some`) or `timeout`
    /// after `sent` has passed (`None`). `sent` must not go back in time
    /// from one call to the next (one worker, one request after another).
    /// `work` comes pinned where the caller made it (`std::pin::pin!`):
    /// taken by value, it would be stored twice in this future (the
    /// argument, then the pinned copy), in every worker's task.
    pub fn run<'a, F: Future>(
        &'a mut self,
        sent: std::time::Instant,
        mut work: Pin<&'a mut F>,
    ) -> impl Future<Output = Option<F::Output>> + 'a {
        let deadline = Instant::from_std(sent) + self.timeout;
        // Polled by hand rather than through `select!` in an `async fn`:
        // this future is stored in every worker's task, and that one is
        // larger.
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            // The sleep was set for an earlier (or this) request's
            // deadline, so it fires at most twice: once to be moved to
            // `deadline`, once at it.
            loop {
                ready!(self.sleep.as_mut().poll(cx));
                if self.sleep.deadline() >= deadline {
                    return Poll::Ready(None);
                }
                self.sleep.as_mut().reset(deadline);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quick_work_finishes_and_slow_work_times_out_on_time() {
        let mut d = Deadline::new(Duration::from_millis(100));
        // Together longer than the timeout: each request has its own.
        for _ in 0..4 {
            let work = std::pin::pin!(async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                7
            });
            let out = d.run(std::time::Instant::now(), work).await;
            assert_eq!(out, Some(7));
        }
        let started = std::time::Instant::now();
        let work = std::pin::pin!(tokio::time::sleep(Duration::from_secs(5)));
        let out = d.run(started, work).await;
        assert_eq!(out, None);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(400),
            "{took:?}"
        );
    }
}
