//! Bookkeeping of asynchronous `write_content` requests.
//!
//! Like kopia, a write returns its (locally computed) content ID as soon as the
//! request is sent; the answer is checked in the background and failures are
//! reported by the next flush. Outstanding bytes are bounded by a semaphore so
//! memory stays flat however fast the caller produces data.
//!
//! The server executes the requests of a stream concurrently, so a read sent
//! right after a write may overtake it; reads of a content whose write is still
//! unanswered first wait for that answer ([`WriteTracker::wait_for`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kopia_proto::ids::ContentId;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

/// Default bound on the bytes of unanswered writes (24 MiB).
pub const DEFAULT_WRITE_BUDGET: usize = 24 << 20;

/// Counts outstanding writes, bounds their bytes and keeps the first failure.
pub(crate) struct WriteTracker {
    outstanding: AtomicUsize,
    /// Unanswered writes per content ID (the same data may be written twice).
    in_flight: Mutex<HashMap<ContentId, usize>>,
    /// Sequence number of the next write.
    next_seq: AtomicU64,
    /// Sequence numbers of unanswered writes, so a flush waits only for the
    /// writes begun before it (and is not starved by a busy uploader).
    pending: Mutex<BTreeSet<u64>>,
    /// Signalled whenever a write ends.
    idle: Notify,
    budget: Arc<Semaphore>,
    budget_size: usize,
    failures: Mutex<(usize, Option<Error>)>,
}

impl WriteTracker {
    /// A tracker allowing `budget` bytes of unanswered writes.
    pub(crate) fn new(budget: usize) -> Self {
        let budget = budget.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        WriteTracker {
            outstanding: AtomicUsize::new(0),
            in_flight: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(0),
            pending: Mutex::new(BTreeSet::new()),
            idle: Notify::new(),
            budget: Arc::new(Semaphore::new(budget)),
            budget_size: budget,
            failures: Mutex::new((0, None)),
        }
    }

    /// Waits until `len` bytes fit in the budget and registers one outstanding
    /// write of content `id`; the returned guard ends it when dropped.
    pub(crate) async fn begin(self: &Arc<Self>, id: ContentId, len: usize) -> WriteGuard {
        let permits = len.clamp(1, self.budget_size) as u32;
        let permit = self.budget.clone().acquire_many_owned(permits).await.ok();
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        *self.in_flight().entry(id).or_insert(0) += 1;
        let seq = self.register();
        WriteGuard {
            tracker: self.clone(),
            id: Some(id),
            seq,
            _permit: permit,
        }
    }

    /// Registers one outstanding manifest change (`put_manifest`,
    /// `delete_manifest`), so that a concurrent flush waits for its answer.
    pub(crate) fn begin_change(self: &Arc<Self>) -> WriteGuard {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        WriteGuard {
            tracker: self.clone(),
            id: None,
            seq: self.register(),
            _permit: None,
        }
    }

    /// Gives a new write or change its sequence number and marks it pending.
    fn register(&self) -> u64 {
        let mut p = self.pending();
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        p.insert(seq);
        seq
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<ContentId, usize>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no write of content `id` is outstanding.
    pub(crate) async fn wait_for(&self, id: &ContentId) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.in_flight().contains_key(id) {
                return;
            }
            notified.await;
        }
    }

    /// Records a failed write; the next flush reports it.
    pub(crate) fn fail(&self, e: Error) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.0 += 1;
        if f.1.is_none() {
            f.1 = Some(e);
        }
    }

    /// Waits until every write begun before this call has been answered
    /// (writes begun later do not delay it).
    pub(crate) async fn wait_idle(&self) {
        let before = {
            let _p = self.pending();
            self.next_seq.load(Ordering::SeqCst)
        };
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending().first().is_none_or(|&s| s >= before) {
                return;
            }
            notified.await;
        }
    }

    /// Number of writes whose answer has not arrived yet.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    /// Returns (and clears) the recorded failures as one error.
    pub(crate) fn take_failure(&self) -> Result<()> {
        let (count, first) = {
            let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut f.0), f.1.take())
        };
        match first {
            None => Ok(()),
            Some(e) if count == 1 => Err(e),
            Some(e) if e.is_retryable() => Err(Error::Transport {
                message: format!("{count} asynchronous content writes failed; first: {e}"),
                retryable: true,
            }),
            Some(e) => Err(keep_kind(e, count)),
        }
    }
}

/// Keeps the variant of a non-retryable first error, adding the count to its text.
fn keep_kind(e: Error, count: usize) -> Error {
    match e {
        Error::AccessDenied(m) => {
            Error::AccessDenied(format!("{m} (and {} more failed writes)", count - 1))
        }
        Error::Protocol(m) => {
            Error::Protocol(format!("{m} (and {} more failed writes)", count - 1))
        }
        Error::Corrupt(m) => Error::Corrupt(format!("{m} (and {} more failed writes)", count - 1)),
        other => Error::Repository(format!("{other} (and {} more failed writes)", count - 1)),
    }
}

/// One outstanding write: releases its budget and count when dropped.
pub(crate) struct WriteGuard {
    tracker: Arc<WriteTracker>,
    /// The content written (`None` for a manifest change).
    id: Option<ContentId>,
    seq: u64,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if let Some(id) = &self.id {
            let mut m = self.tracker.in_flight();
            if let Some(n) = m.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    m.remove(id);
                }
            }
        }
        self.tracker.pending().remove(&self.seq);
        self.tracker.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.tracker.idle.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cid(n: u8) -> ContentId {
        ContentId::new(None, &[n; 16]).unwrap()
    }

    #[tokio::test]
    async fn budget_blocks_until_writes_finish() {
        let t = Arc::new(WriteTracker::new(100));
        let g1 = t.begin(cid(2), 60).await;
        let g2 = t.begin(cid(3), 40).await;
        assert_eq!(t.outstanding(), 2);
        let t2 = t.clone();
        let third = tokio::spawn(async move { t2.begin(cid(4), 50).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "budget of 100 bytes exceeded");
        drop(g1);
        let g3 = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .unwrap()
            .unwrap();
        drop(g2);
        // Larger than the whole budget: still admitted (alone).
        drop(g3);
        let big = t.begin(cid(5), 1_000).await;
        assert_eq!(t.outstanding(), 1);
        drop(big);
        tokio::time::timeout(Duration::from_secs(5), t.wait_idle())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn wait_idle_waits_for_all() {
        let t = Arc::new(WriteTracker::new(10));
        let g = t.begin(cid(6), 1).await;
        let t2 = t.clone();
        let change = t.begin_change();
        let waiter = tokio::spawn(async move { t2.wait_idle().await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished());
        drop(g);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "a manifest change is outstanding");
        drop(change);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn reads_wait_for_writes_of_the_same_content() {
        let t = Arc::new(WriteTracker::new(100));
        let a1 = t.begin(cid(9), 1).await;
        let a2 = t.begin(cid(9), 1).await;
        let _b = t.begin(cid(8), 1).await;
        tokio::time::timeout(Duration::from_secs(5), t.wait_for(&cid(7)))
            .await
            .unwrap();
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.wait_for(&cid(9)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(a1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !waiter.is_finished(),
            "one write of the content is still unanswered"
        );
        drop(a2);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn failures_are_reported_once() {
        let t = WriteTracker::new(10);
        assert!(t.take_failure().is_ok());
        t.fail(Error::AccessDenied("access denied".into()));
        let e = t.take_failure().unwrap_err();
        assert!(matches!(e, Error::AccessDenied(_)), "{e:?}");
        assert!(t.take_failure().is_ok());
        t.fail(Error::Transport {
            message: "broken".into(),
            retryable: true,
        });
        t.fail(Error::AccessDenied("x".into()));
        let e = t.take_failure().unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("2 asynchronous"),
            "{e}"
        );
        t.fail(Error::AccessDenied("denied".into()));
        t.fail(Error::AccessDenied("denied".into()));
        let e = t.take_failure().unwrap_err();
        assert!(
            matches!(&e, Error::AccessDenied(m) if m.contains("1 more")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn wait_idle_ignores_later_writes() {
        let t = Arc::new(WriteTracker::new(10));
        let g = t.begin(cid(6), 1).await;
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.wait_idle().await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let _later = t.begin(cid(5), 1).await;
        drop(g);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.outstanding(), 1);
    }
}
