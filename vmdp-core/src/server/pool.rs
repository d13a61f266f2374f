//! [`StreamPool`]: a few session streams on the one HTTP/2 channel.
//!
//! Each stream is its own server-side write session (spec §4.2): what it wrote
//! is visible on that stream only, until that stream is flushed. The pool keeps
//! this invisible to callers:
//!
//! - stream [`MANIFEST_STREAM`] carries every manifest request, so pending
//!   manifest changes stay visible to later manifest reads;
//! - a content written but not yet flushed is *pinned* to the stream that
//!   carried it, and reads (and rewrites) of it go there;
//! - a flush flushes the other dirty streams first and the manifest stream only
//!   after they all succeeded, so a snapshot manifest never becomes durable
//!   before the contents it refers to.
//!
//! Opening a stream costs the server one scrypt derivation (about 64 MiB and
//! noticeable CPU, spec §2.3). Only the manifest stream is opened at connect;
//! another one is opened in the background when every open stream has a
//! request in flight, up to the configured number.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kopia_proto::ids::ContentId;
use kopia_proto::session::{
    RepositoryParameters, SessionCredentials, SessionError, SessionRequest, SessionResponse,
};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use super::errors::session_error;
use super::session::{Pending, SendError, Session};
use super::url::ServerUrl;
use crate::{Error, Result};

/// The stream that carries all manifest requests and is flushed last.
pub(crate) const MANIFEST_STREAM: usize = 0;
/// Attempts to re-establish a broken stream (kopia: 10, 100 ms × 1.5ⁿ, ≤ 32 s).
const RECONNECT_ATTEMPTS: u32 = 10;
/// Times a request is re-sent after its stream broke (idempotent reads only,
/// or requests that had not been sent at all).
const RETRIES: u32 = 3;
/// After a failed background open, no new attempt on that slot for this long.
const OPEN_BACKOFF: Duration = Duration::from_secs(5);

/// What opening a stream needs.
struct Opener {
    channel: Channel,
    creds: SessionCredentials,
    purpose: String,
    read_only: bool,
    url: ServerUrl,
}

impl Opener {
    async fn open(&self) -> Result<Arc<Session>> {
        Session::open(
            self.channel.clone(),
            &self.creds,
            &self.purpose,
            self.read_only,
            self.url.as_str(),
        )
        .await
    }
}

/// One place for a stream; empty until the stream is first needed.
#[derive(Default)]
struct Slot {
    session: Mutex<Option<Arc<Session>>>,
    /// Serialises opening and re-establishing this slot's stream.
    opening: tokio::sync::Mutex<()>,
    /// A background open of this slot is under way.
    starting: AtomicBool,
    /// No background open before this instant (set after a failure).
    not_before: Mutex<Option<Instant>>,
    /// Requests sent through this slot (all its streams).
    sent: AtomicU64,
}

/// The session streams of one [`ServerRepository`](super::ServerRepository).
pub(crate) struct StreamPool {
    opener: Opener,
    params: RepositoryParameters,
    slots: Vec<Slot>,
    /// Set when a stream broke with unflushed changes; reported by the next flush.
    lost: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Unflushed writes: content → (slot, pin sequence number).
    pins: Mutex<HashMap<ContentId, (usize, u64)>>,
    next_pin: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StreamPool {
    /// Opens the manifest stream (once, no retry: fail fast on a wrong password
    /// or an unreachable server) and prepares `streams` slots in all (at least 1).
    pub(crate) async fn open(
        channel: Channel,
        creds: SessionCredentials,
        purpose: String,
        read_only: bool,
        url: ServerUrl,
        streams: usize,
    ) -> Result<Arc<StreamPool>> {
        let opener = Opener {
            channel,
            creds,
            purpose,
            read_only,
            url,
        };
        let first = opener.open().await?;
        let slots: Vec<Slot> = (0..streams.max(1)).map(|_| Slot::default()).collect();
        let params = first.params().clone();
        *lock(&slots[MANIFEST_STREAM].session) = Some(first);
        Ok(Arc::new(StreamPool {
            opener,
            params,
            slots,
            lost: Mutex::new(None),
            closed: AtomicBool::new(false),
            pins: Mutex::new(HashMap::new()),
            next_pin: AtomicU64::new(0),
        }))
    }

    /// Repository parameters from the first stream's `initialize_session`.
    pub(crate) fn params(&self) -> &RepositoryParameters {
        &self.params
    }

    /// Streams currently open and not broken.
    pub(crate) fn open_streams(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| lock(&s.session).as_ref().is_some_and(|s| !s.is_broken()))
            .count()
    }

    /// Requests sent per slot so far (index 0: the manifest stream).
    pub(crate) fn requests_sent(&self) -> Vec<u64> {
        self.slots
            .iter()
            .map(|s| s.sent.load(Ordering::Relaxed))
            .collect()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::InvalidInput(
                "the repository connection was closed".into(),
            ));
        }
        Ok(())
    }

    /// The stream in slot `i` (opened by [`StreamPool::pick`] or at start).
    fn session(&self, i: usize) -> Result<Arc<Session>> {
        self.check_open()?;
        lock(&self.slots[i].session)
            .clone()
            .ok_or_else(|| Error::Protocol(format!("session stream {i} is not open")))
    }

    /// The slot for a content request: the one `content` is pinned to while its
    /// write is unflushed, else the open stream with the fewest requests in
    /// flight. When every open stream is busy, opens another in the background.
    pub(crate) fn pick(self: &Arc<Self>, content: Option<&ContentId>) -> usize {
        if let Some(id) = content {
            if let Some(&(i, _)) = lock(&self.pins).get(id) {
                return i;
            }
        }
        let mut best = (usize::MAX, MANIFEST_STREAM);
        let mut unopened = None;
        for (i, slot) in self.slots.iter().enumerate() {
            match &*lock(&slot.session) {
                Some(s) => {
                    let n = s.in_flight();
                    if n < best.0 {
                        best = (n, i);
                    }
                }
                None => {
                    unopened.get_or_insert(i);
                }
            }
        }
        if best.0 > 0 {
            if let Some(i) = unopened {
                self.start_opening(i);
            }
        }
        best.1
    }

    /// Records that content `id` is being written on slot `i` (no-op with one stream).
    pub(crate) fn pin(&self, id: ContentId, i: usize) {
        if self.slots.len() > 1 {
            let seq = self.next_pin.fetch_add(1, Ordering::SeqCst);
            lock(&self.pins).insert(id, (i, seq));
        }
    }

    fn start_opening(self: &Arc<Self>, i: usize) {
        let slot = &self.slots[i];
        if lock(&slot.not_before).is_some_and(|t| Instant::now() < t) {
            return;
        }
        if slot.starting.swap(true, Ordering::SeqCst) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move { pool.open_slot(i).await });
    }

    async fn open_slot(&self, i: usize) {
        let slot = &self.slots[i];
        let _guard = slot.opening.lock().await;
        if self.closed.load(Ordering::SeqCst) || lock(&slot.session).is_some() {
            slot.starting.store(false, Ordering::SeqCst);
            return;
        }
        let opened = match self.opener.open().await {
            Ok(s) => self.check_params(&s).map(|()| s),
            Err(e) => Err(e),
        };
        match opened {
            Ok(s) if self.closed.load(Ordering::SeqCst) => {
                let _ = s.close().await;
            }
            Ok(s) => {
                tracing::debug!(stream = i, "opened another session stream");
                *lock(&slot.session) = Some(s);
            }
            Err(e) => {
                tracing::debug!(stream = i, error = %e, "opening another session stream failed");
                *lock(&slot.not_before) = Some(Instant::now() + OPEN_BACKOFF);
            }
        }
        slot.starting.store(false, Ordering::SeqCst);
    }

    fn check_params(&self, s: &Session) -> Result<()> {
        let p = s.params();
        if p.hash_function != self.params.hash_function || p.hmac_secret != self.params.hmac_secret
        {
            return Err(Error::Protocol(
                "the server's repository parameters changed on reconnect (different repository?)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Records that the unflushed changes of the broken stream `s` are gone
    /// (once: the stream is marked clean).
    fn note_lost(&self, s: &Session) {
        if s.is_dirty() {
            s.mark_clean();
            lock(&self.lost).get_or_insert_with(|| {
                "a session stream broke before changes since the last flush were flushed".into()
            });
        }
    }

    /// Replaces the broken stream `broken` of slot `i` by a new one (once,
    /// however many callers noticed the break) and returns the current one.
    async fn reconnect(&self, i: usize, broken: &Arc<Session>) -> Result<Arc<Session>> {
        let _guard = self.slots[i].opening.lock().await;
        let cur = self.session(i)?;
        if !Arc::ptr_eq(&cur, broken) && !cur.is_broken() {
            return Ok(cur);
        }
        self.note_lost(&cur);
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        let session = loop {
            attempt += 1;
            match self.opener.open().await {
                Ok(s) => break s,
                Err(e) if !e.is_retryable() || attempt >= RECONNECT_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, stream = i, error = %e, "re-establishing a session stream failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay.mul_f64(1.5)).min(Duration::from_secs(32));
                }
            }
        };
        self.check_params(&session)?;
        self.check_open()?;
        *lock(&self.slots[i].session) = Some(session.clone());
        Ok(session)
    }

    /// Sends a request on slot `i`; if its stream is already broken (nothing was
    /// sent), re-establishes it and sends on the new one.
    pub(crate) async fn send(
        &self,
        i: usize,
        build: impl Fn(i64) -> std::result::Result<SessionRequest, SessionError>,
        changes_state: bool,
        ctx: &str,
    ) -> Result<(Arc<Session>, Pending)> {
        let mut session = self.session(i)?;
        for _ in 0..=RETRIES {
            if session.is_broken() {
                // Replace it first: marking it dirty would report a loss that is not.
                session = self.reconnect(i, &session).await?;
            }
            if changes_state {
                session.mark_dirty();
            }
            self.slots[i].sent.fetch_add(1, Ordering::Relaxed);
            match session.send(&build).await {
                Ok(p) => return Ok((session, p)),
                Err(SendError::Invalid(e)) => return Err(session_error(e, ctx)),
                Err(SendError::Broken(_)) => session = self.reconnect(i, &session).await?,
            }
        }
        Err(Error::Transport {
            message: format!("{ctx}: the session stream keeps breaking"),
            retryable: true,
        })
    }

    /// Sends a non-idempotent request on slot `i` and waits for its single answer (no retry).
    pub(crate) async fn send_once(
        &self,
        i: usize,
        build: impl Fn(i64) -> std::result::Result<SessionRequest, SessionError>,
        changes_state: bool,
        ctx: &str,
    ) -> Result<SessionResponse> {
        let (_, mut pending) = self.send(i, build, changes_state, ctx).await?;
        pending.next().await.map_err(|e| session_error(e, ctx))
    }

    /// Runs an idempotent read on slot `i`, re-sending it on a new stream after
    /// `STREAM_BROKEN`. `finish` consumes the answer(s); `map` turns a final
    /// session error into [`Error`].
    pub(crate) async fn read<T, F>(
        &self,
        i: usize,
        build: impl Fn(i64) -> SessionRequest,
        finish: F,
        map: impl Fn(SessionError) -> Error,
    ) -> Result<T>
    where
        F: AsyncFnMut(&mut Pending) -> std::result::Result<T, SessionError>,
    {
        let mut finish = finish;
        let mut attempt = 0;
        loop {
            let (session, mut pending) = self.send(i, |id| Ok(build(id)), false, "").await?;
            match finish(&mut pending).await {
                Err(e @ SessionError::StreamBroken { .. }) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, stream = i, "retrying read on a new session stream");
                    self.reconnect(i, &session).await?;
                }
                Err(e) => return Err(map(e)),
                Ok(v) => return Ok(v),
            }
        }
    }

    /// A mark for [`StreamPool::flush`]: pins taken before it are covered by a
    /// flush that starts after all writes begun before it were answered.
    pub(crate) fn flush_mark(&self) -> u64 {
        self.next_pin.load(Ordering::SeqCst)
    }

    /// Flushes every dirty content stream (concurrently), then the manifest
    /// stream. Call only after the writes to cover were answered; `mark` comes
    /// from [`StreamPool::flush_mark`] taken before waiting for them.
    pub(crate) async fn flush(&self, mark: u64) -> Result<()> {
        self.check_open()?;
        for slot in &self.slots {
            let s = lock(&slot.session).clone();
            if let Some(s) = s.filter(|s| s.is_broken()) {
                self.note_lost(&s);
            }
        }
        if let Some(why) = lock(&self.lost).take() {
            return Err(Error::Transport {
                message: format!(
                    "{why}; writes and manifest changes since the previous flush may be lost, \
                     repeat the operation"
                ),
                retryable: true,
            });
        }
        let mut content = Vec::new();
        for (i, slot) in self.slots.iter().enumerate().skip(1) {
            let s = lock(&slot.session).clone();
            if let Some(s) = s.filter(|s| s.is_dirty()) {
                slot.sent.fetch_add(1, Ordering::Relaxed);
                content.push((i, s));
            }
        }
        let mut manifest = self.session(MANIFEST_STREAM)?;
        if manifest.is_broken() {
            // Clean (a dirty broken stream was reported above): just replace it.
            manifest = self.reconnect(MANIFEST_STREAM, &manifest).await?;
        }
        self.slots[MANIFEST_STREAM]
            .sent
            .fetch_add(1, Ordering::Relaxed);
        flush_in_order(content, (MANIFEST_STREAM, manifest), |(i, s)| {
            flush_stream(i, s)
        })
        .await?;
        // Everything written before `mark` is now durable, or was on a broken
        // stream and reported lost: reads of it may go to any stream.
        lock(&self.pins).retain(|_, (_, seq)| *seq >= mark);
        Ok(())
    }

    /// Half-closes every stream and waits for the server to end each: the
    /// content streams first, then the manifest stream (the server flushes a
    /// session when its stream ends).
    pub(crate) async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut sessions = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            // Waits for an open or reconnect under way in this slot.
            let _guard = slot.opening.lock().await;
            if let Some(s) = lock(&slot.session).clone() {
                sessions.push((i, s));
            }
        }
        let (manifest, content): (Vec<_>, Vec<_>) = sessions
            .into_iter()
            .partition(|(i, _)| *i == MANIFEST_STREAM);
        let manifest = manifest.into_iter().next();
        let mut first_error = None;
        let mut set = JoinSet::new();
        for (_, s) in content {
            set.spawn(async move { s.close().await });
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = joined(r) {
                first_error.get_or_insert(e);
            }
        }
        if let Some((_, s)) = manifest {
            if let Err(e) = s.close().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.unwrap_or_else(|e| {
        Err(Error::Repository(format!(
            "session stream task failed: {e}"
        )))
    })
}

/// Sends `flush` on stream `i` and waits for the answer. A stream that answers
/// with an error (and did not break) stays dirty, so the next flush tries again.
async fn flush_stream(i: usize, session: Arc<Session>) -> Result<()> {
    session.mark_clean();
    let resp = match session.send(|id| Ok(SessionRequest::flush(id))).await {
        Ok(mut p) => p.next().await,
        Err(SendError::Invalid(e)) => Err(e),
        Err(SendError::Broken(message)) => Err(SessionError::StreamBroken { message }),
    };
    resp.and_then(SessionResponse::into_flush).map_err(|e| {
        if let SessionError::StreamBroken { message } = &e {
            Error::Transport {
                message: format!(
                    "flush failed, session stream {i} broke ({message}); writes since the \
                     previous flush may be lost, repeat the operation"
                ),
                retryable: true,
            }
        } else {
            session.mark_dirty();
            session_error(e, "flush")
        }
    })
}

/// Runs `flush` on every content stream concurrently and then, only when all
/// of them succeeded, on the manifest stream. Returns the first error.
async fn flush_in_order<T, F, Fut>(content: Vec<T>, manifest: T, flush: F) -> Result<()>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut set = JoinSet::new();
    for c in content {
        set.spawn(flush(c));
    }
    let mut first_error = None;
    while let Some(r) = set.join_next().await {
        if let Err(e) = joined(r) {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => flush(manifest).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<String>>>;

    fn recorder(
        log: &Log,
        fail: Option<usize>,
    ) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send>> {
        let log = log.clone();
        move |i| {
            let log = log.clone();
            Box::pin(async move {
                lock(&log).push(format!("start {i}"));
                // Later streams answer sooner: the order must not depend on it.
                tokio::time::sleep(Duration::from_millis(60 - 10 * i as u64)).await;
                lock(&log).push(format!("end {i}"));
                if fail == Some(i) {
                    Err(Error::Transport {
                        message: format!("stream {i} broke"),
                        retryable: true,
                    })
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn the_manifest_stream_is_flushed_after_all_content_streams() {
        let log = Log::default();
        flush_in_order(vec![1, 2, 3], 0, recorder(&log, None))
            .await
            .unwrap();
        let log = lock(&log).clone();
        assert_eq!(log.len(), 8, "{log:?}");
        let start0 = log.iter().position(|e| e == "start 0").unwrap();
        for i in 1..=3 {
            let end = log.iter().position(|e| *e == format!("end {i}")).unwrap();
            assert!(
                end < start0,
                "stream {i} ended after the manifest flush began: {log:?}"
            );
        }
        // The content streams ran concurrently: all started before any ended.
        assert!(log[..3].iter().all(|e| e.starts_with("start")), "{log:?}");
    }

    #[tokio::test]
    async fn a_failed_content_flush_keeps_the_manifest_stream_unflushed() {
        let log = Log::default();
        let e = flush_in_order(vec![1, 2], 0, recorder(&log, Some(2)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("stream 2 broke"), "{e}");
        let log = lock(&log).clone();
        assert!(!log.iter().any(|e| e.ends_with(" 0")), "{log:?}");
        // The other content stream still finished its flush.
        assert!(log.contains(&"end 1".to_string()), "{log:?}");
    }

    #[tokio::test]
    async fn only_the_manifest_stream_when_no_content_stream_is_dirty() {
        let log = Log::default();
        flush_in_order(Vec::new(), 0, recorder(&log, None))
            .await
            .unwrap();
        assert_eq!(*lock(&log), vec!["start 0", "end 0"]);
    }
}
