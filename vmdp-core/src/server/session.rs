//! One session stream: a gRPC `Session` call with pipelined requests.
//!
//! Requests go out through a bounded channel that tonic drains into the HTTP/2
//! stream (HTTP/2 flow control pushes back on senders). A reader task receives
//! responses and routes each by `request_id` to that request's own unbounded
//! channel, so a slow consumer (a paged `find_manifests`) never stalls other
//! requests. When the stream ends or fails every outstanding request gets a
//! `STREAM_BROKEN` error carrying the cause, like kopia's client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use kopia_proto::ids::ContentId;
use kopia_proto::session::{
    RepositoryParameters, SessionCredentials, SessionError, SessionRequest, SessionResponse,
    new_client,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::errors::status_error;
use crate::{Error, Result};

/// Requests buffered before the sender waits for the HTTP/2 stream to take them.
const SEND_QUEUE: usize = 64;
/// A stream without requests for this long gets a cheap keep-alive request.
const IDLE_HEARTBEAT: Duration = Duration::from_secs(20);
/// How often the heartbeat task looks at the stream.
const HEARTBEAT_TICK: Duration = Duration::from_secs(5);
/// How long [`Session::close`] waits for the server to end the stream.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Client version sent as `kopia-version` (informational for the server).
const CLIENT_VERSION: &str = concat!("vmdp/", env!("CARGO_PKG_VERSION"));

type Reply = Result<SessionResponse, SessionError>;

/// Routing state shared by senders and the reader task.
#[derive(Default)]
struct Routes {
    pending: HashMap<i64, mpsc::UnboundedSender<Reply>>,
    /// Set once the stream has ended; new requests fail at once with this text.
    broken: Option<String>,
}

struct Shared {
    routes: Mutex<Routes>,
    /// How the stream ended: `Ok` for a clean end (status OK), else the mapped error text.
    ended: Mutex<Option<std::result::Result<(), String>>>,
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the stream broken and fails every outstanding request.
    fn fail_all(&self, message: &str) {
        let pending = {
            let mut r = self.routes();
            if r.broken.is_none() {
                r.broken = Some(message.to_owned());
            }
            std::mem::take(&mut r.pending)
        };
        for (_, tx) in pending {
            let _ = tx.send(Err(SessionError::StreamBroken {
                message: message.to_owned(),
            }));
        }
    }

    fn route(&self, resp: SessionResponse) {
        let id = resp.request_id;
        let tx = {
            let mut r = self.routes();
            if resp.has_more {
                r.pending.get(&id).cloned()
            } else {
                r.pending.remove(&id)
            }
        };
        match tx {
            Some(tx) => {
                let _ = tx.send(Ok(resp));
            }
            None => tracing::warn!(request_id = id, "dropping response to unknown request ID"),
        }
    }
}

/// An open, initialized session stream.
pub(crate) struct Session {
    tx: Mutex<Option<mpsc::Sender<SessionRequest>>>,
    shared: Arc<Shared>,
    next_id: AtomicI64,
    params: RepositoryParameters,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// Writes or manifest changes were sent since the last successful flush.
    dirty: AtomicBool,
    /// Milliseconds since `epoch` of the last request sent.
    last_sent_ms: AtomicU64,
    epoch: Instant,
}

/// The answer(s) to one request.
pub(crate) struct Pending {
    rx: mpsc::UnboundedReceiver<Reply>,
}

impl Pending {
    /// The next response for this request (the only one, except for paged answers).
    pub(crate) async fn next(&mut self) -> Reply {
        match self.rx.recv().await {
            Some(r) => r,
            None => Err(SessionError::StreamBroken {
                message: "session closed before the answer arrived".into(),
            }),
        }
    }
}

/// Why a request could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The request was refused locally (too large, bad prefix, ...); nothing was sent.
    Invalid(SessionError),
    /// The stream is gone; the request was not sent and may go to a new stream.
    Broken(String),
}

impl Session {
    /// Opens a stream on `channel`, authenticates with `creds` and initializes it.
    pub(crate) async fn open(
        channel: Channel,
        creds: &SessionCredentials,
        purpose: &str,
        read_only: bool,
        server: &str,
    ) -> Result<Arc<Session>> {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        // The server answers nothing (not even headers) before it has read
        // `initialize_session`, so queue it before starting the call.
        tx.send(SessionRequest::initialize_session(1, purpose, read_only))
            .await
            .map_err(|_| Error::Protocol("request queue closed".into()))?;
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        creds
            .apply(request.metadata_mut(), Some(CLIENT_VERSION))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let identity = creds.identity();
        let mut client = new_client(channel);
        let mut stream = client
            .session(request)
            .await
            .map_err(|s| status_error(&s, &identity, server))?
            .into_inner();
        let first = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(Error::Protocol(format!(
                    "server {server} ended the session without answering initialize_session"
                )));
            }
            Err(s) => return Err(status_error(&s, &identity, server)),
        };
        if first.request_id != 1 {
            return Err(Error::Protocol(format!(
                "answer to initialize_session carries request ID {} instead of 1",
                first.request_id
            )));
        }
        let params = first
            .into_initialize_session()
            .map_err(|e| Error::Protocol(format!("initialize_session: {e}")))?;

        let shared = Arc::new(Shared {
            routes: Mutex::new(Routes::default()),
            ended: Mutex::new(None),
        });
        let reader_shared = shared.clone();
        let reader_identity = identity.clone();
        let reader_server = server.to_owned();
        let reader = tokio::spawn(async move {
            let outcome = loop {
                match stream.message().await {
                    Ok(Some(resp)) => reader_shared.route(resp),
                    Ok(None) => break Ok(()),
                    Err(s) => {
                        break Err(status_error(&s, &reader_identity, &reader_server).to_string());
                    }
                }
            };
            let why = match &outcome {
                Ok(()) => "the server ended the session stream".to_owned(),
                Err(e) => e.clone(),
            };
            reader_shared.fail_all(&why);
            *reader_shared
                .ended
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        });
        let session = Arc::new(Session {
            tx: Mutex::new(Some(tx)),
            shared,
            next_id: AtomicI64::new(2),
            params,
            reader: Mutex::new(Some(reader)),
            dirty: AtomicBool::new(false),
            last_sent_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&session)));
        Ok(session)
    }

    /// Repository parameters the server sent in answer to `initialize_session`.
    pub(crate) fn params(&self) -> &RepositoryParameters {
        &self.params
    }

    /// True once the stream has ended or failed.
    pub(crate) fn is_broken(&self) -> bool {
        self.shared.routes().broken.is_some()
    }

    /// Number of requests sent on this stream whose (last) answer has not arrived.
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.routes().pending.len()
    }

    /// True when writes or manifest changes were sent since the last flush.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    /// Records that state-changing requests were sent (cleared by [`Session::mark_clean`]).
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Called right before sending `flush`: later writes set the flag again.
    pub(crate) fn mark_clean(&self) {
        self.dirty.store(false, Ordering::SeqCst);
    }

    /// Sends one request built by `build` (given its request ID) and returns the
    /// handle on which its answer(s) arrive. Pipelined: does not wait for answers.
    pub(crate) async fn send(
        &self,
        build: impl FnOnce(i64) -> std::result::Result<SessionRequest, SessionError>,
    ) -> std::result::Result<Pending, SendError> {
        let id = self.next_request_id();
        let req = build(id).map_err(SendError::Invalid)?;
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| SendError::Broken("session was closed".into()))?;
        let (rtx, rrx) = mpsc::unbounded_channel();
        {
            let mut r = self.shared.routes();
            if let Some(why) = &r.broken {
                return Err(SendError::Broken(why.clone()));
            }
            r.pending.insert(id, rtx);
        }
        self.last_sent_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        if tx.send(req).await.is_err() {
            self.shared.routes().pending.remove(&id);
            let why = self
                .shared
                .routes()
                .broken
                .clone()
                .unwrap_or_else(|| "session stream closed".into());
            return Err(SendError::Broken(why));
        }
        Ok(Pending { rx: rrx })
    }

    fn next_request_id(&self) -> i64 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id > 0 {
                return id;
            }
            // Wrapped around after i64::MAX requests: start again at 2.
            let _ = self
                .next_id
                .compare_exchange(id + 1, 2, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Half-closes the stream and waits for the server to end it. The server
    /// flushes the session's pending writes when the client half-closes.
    pub(crate) async fn close(&self) -> Result<()> {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let reader = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(reader) = reader {
            match tokio::time::timeout(CLOSE_TIMEOUT, reader).await {
                Ok(_) => {}
                Err(_) => {
                    return Err(Error::Transport {
                        message: "timed out waiting for the server to end the session".into(),
                        retryable: true,
                    });
                }
            }
        }
        let ended = self
            .shared
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match ended {
            Some(Err(e)) => Err(Error::Transport {
                message: format!("closing the session: {e}"),
                retryable: false,
            }),
            _ => Ok(()),
        }
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_sent_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// Keeps idle streams alive through proxies with idle timeouts (spec §4.6 should 3):
/// after [`IDLE_HEARTBEAT`] without requests, asks for the info of a content that
/// does not exist (expected answer: `CONTENT_NOT_FOUND`).
async fn heartbeat(session: Weak<Session>) {
    let probe = match ContentId::new(None, &[0u8; 16]) {
        Ok(id) => id,
        Err(_) => return,
    };
    loop {
        tokio::time::sleep(HEARTBEAT_TICK).await;
        let Some(s) = session.upgrade() else { return };
        if s.is_broken() {
            return;
        }
        if s.idle_for() < IDLE_HEARTBEAT {
            continue;
        }
        match s
            .send(|id| Ok(SessionRequest::get_content_info(id, &probe)))
            .await
        {
            Ok(mut pending) => {
                drop(s);
                let _ = tokio::time::timeout(IDLE_HEARTBEAT, pending.next()).await;
            }
            Err(_) => return,
        }
    }
}
