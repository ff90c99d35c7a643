//! Following a run another replica owns: its events come only from the
//! database. A reader tails the `run_events` table by sequence number,
//! woken early by the [`Bell`] when a replica stored a batch (PostgreSQL's
//! `LISTEN`/`NOTIFY` on [`CHANNEL`]), and in any case every
//! [`POLL_INTERVAL`], so a lost notification costs at most one interval.

use std::time::Duration;
use tokio::sync::broadcast;

/// The PostgreSQL channel a batch of stored events is announced on; the
/// payload is the run's id.
pub use crate::db::EVENTS_CHANNEL as CHANNEL;

/// How often a reader looks at the table when no notification came.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Wakes the readers of a run when any replica stored events of it.
#[derive(Clone)]
pub struct Bell {
    rings: broadcast::Sender<String>,
}

impl Default for Bell {
    fn default() -> Self {
        Bell {
            rings: broadcast::channel(1024).0,
        }
    }
}

impl Bell {
    /// Announces that events of `run_id` were stored.
    pub fn ring(&self, run_id: &str) {
        // Nobody listening is fine.
        let _ = self.rings.send(run_id.to_owned());
    }

    /// A listener for every ring.
    pub fn listen(&self) -> broadcast::Receiver<String> {
        self.rings.subscribe()
    }

    /// Rings for every notification PostgreSQL delivers on [`CHANNEL`],
    /// until the process ends. `url` is the server's database URL; it is
    /// never logged. Reconnects after a lost connection (readers poll
    /// meanwhile).
    pub fn follow_postgres(&self, url: &str) {
        let bell = self.clone();
        let url = url.to_owned();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => match listener.listen(CHANNEL).await {
                        Ok(()) => loop {
                            match listener.recv().await {
                                Ok(note) => bell.ring(note.payload()),
                                Err(e) => {
                                    tracing::warn!(
                                        "event notifications lost ({e}); readers poll until they are back"
                                    );
                                    break;
                                }
                            }
                        },
                        Err(e) => tracing::warn!("cannot listen for event notifications: {e}"),
                    },
                    // sqlx's connect errors name no URL, so no password.
                    Err(e) => {
                        tracing::warn!("cannot connect for event notifications ({e}); readers poll")
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
}

/// Why a reader woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The bell rang for its run (or rings were missed, maybe its own).
    Rang,
    /// [`POLL_INTERVAL`] passed.
    Polled,
}

/// Waits until the bell rings for `run_id` or [`POLL_INTERVAL`] passed.
pub async fn wait_for(rings: &mut broadcast::Receiver<String>, run_id: &str) -> Woken {
    let deadline = tokio::time::sleep(POLL_INTERVAL);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Woken::Polled,
            ring = rings.recv() => match ring {
                Ok(id) if id == run_id => return Woken::Rang,
                Ok(_) => {}
                // Missed rings may have been ours.
                Err(broadcast::error::RecvError::Lagged(_)) => return Woken::Rang,
                Err(broadcast::error::RecvError::Closed) => {
                    deadline.as_mut().await;
                    return Woken::Polled;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_for_the_run_wakes_its_reader_and_others_do_not() {
        let bell = Bell::default();
        let mut rings = bell.listen();
        bell.ring("other");
        bell.ring("run-1");
        assert_eq!(wait_for(&mut rings, "run-1").await, Woken::Rang);
        // Only another run's ring: the reader still wakes, by polling.
        bell.ring("other");
        assert_eq!(wait_for(&mut rings, "run-1").await, Woken::Polled);
    }
}
