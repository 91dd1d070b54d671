//! Reload triggers for one source, coalesced.
//!
//! Anything may ask a source to sync: its poll timer, its file watcher, a
//! webhook, the manual reload endpoint, SIGHUP. Requests are not queued:
//! however many arrive while a sync runs, exactly one more sync follows, and
//! it reads whatever the source holds by then, which covers them all. Each
//! request gets a ticket, so a caller that wants to know when its request
//! has been served can wait for the first sync that started after it.

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::sync::{Notify, watch};

/// The trigger of one source.
#[derive(Debug)]
pub struct Trigger {
    wake: Notify,
    /// Requests made so far; a ticket is the value after one's own.
    requested: AtomicU64,
    /// The highest ticket covered by a finished sync.
    served: watch::Sender<u64>,
}

impl Default for Trigger {
    fn default() -> Self {
        Self {
            wake: Notify::new(),
            requested: AtomicU64::new(0),
            served: watch::Sender::new(0),
        }
    }
}

impl Trigger {
    /// Asks for a sync; returns the request's ticket.
    pub fn fire(&self) -> u64 {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        // Stores at most one permit: requests made during a sync collapse
        // into one more sync.
        self.wake.notify_one();
        ticket
    }

    /// Waits until a sync that started after `ticket` was issued has
    /// finished.
    pub async fn served(&self, ticket: u64) {
        let mut rx = self.served.subscribe();
        // An error means the sender is gone; nothing more will be served.
        let _ = rx.wait_for(|served| *served >= ticket).await;
    }

    /// Runs `sync` whenever fired, and every `poll` if set, until `stop`
    /// completes. Never two syncs at once.
    pub async fn drive<F, Fut>(
        &self,
        poll: Option<Duration>,
        stop: impl Future<Output = ()>,
        sync: F,
    ) where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut ticker = poll.map(|every| {
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        tokio::pin!(stop);
        loop {
            let tick = async {
                match &mut ticker {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = self.wake.notified() => {}
                () = tick => {}
            }
            let covers = self.requested.load(Ordering::SeqCst);
            sync().await;
            self.served.send_if_modified(|served| {
                let newer = covers > *served;
                if newer {
                    *served = covers;
                }
                newer
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn requests_during_a_sync_coalesce_into_one_more_sync() {
        let trigger = Arc::new(Trigger::default());
        let syncs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();

        let driver = {
            let (trigger, syncs, gate) = (trigger.clone(), syncs.clone(), gate.clone());
            tokio::spawn(async move {
                let stop = async {
                    let _ = stop_rx.await;
                };
                trigger
                    .drive(None, stop, || {
                        let (syncs, gate) = (syncs.clone(), gate.clone());
                        async move {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            // Each sync waits for the test to let it finish.
                            if let Ok(permit) = gate.acquire().await {
                                permit.forget();
                            }
                        }
                    })
                    .await;
            })
        };

        // The first request starts a sync, which blocks on the gate.
        let first = trigger.fire();
        wait_until(|| syncs.load(Ordering::SeqCst) == 1).await;
        // Fifty more arrive while it runs.
        let last = (0..50).map(|_| trigger.fire()).max().unwrap();
        gate.add_permits(1);
        trigger.served(first).await;

        // Exactly one more sync runs, and it serves all fifty.
        wait_until(|| syncs.load(Ordering::SeqCst) == 2).await;
        gate.add_permits(1);
        trigger.served(last).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(syncs.load(Ordering::SeqCst), 2);

        let _ = stop_tx.send(());
        driver.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn polling_syncs_on_every_interval() {
        let trigger = Trigger::default();
        let syncs = AtomicUsize::new(0);
        let stop = tokio::time::sleep(Duration::from_millis(3500));
        trigger
            .drive(Some(Duration::from_secs(1)), stop, || {
                syncs.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .await;
        assert_eq!(syncs.load(Ordering::SeqCst), 3);
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        for _ in 0..1000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not met within 10 s");
    }
}
