//! The generated tonic client, driven against an in-process fake server.
//!
//! Checks what goes on the wire (method path, metadata, gRPC framing of the
//! request) and that answers are decoded, including the 20 MiB limit set by
//! `session::new_client`. No network and no async runtime: every future here
//! completes without waiting, so a no-op waker suffices.
#![cfg(feature = "grpc")]

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use kopia_proto::session::{
    Bytes, KopiaRepositoryClient, MAX_MESSAGE_SIZE, Message, SESSION_METHOD_PATH,
    SessionCredentials, SessionRequest, SessionResponse, new_client, session_response,
};
use tonic::codegen::{http, tokio_stream};

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// What the fake server saw of the request.
#[derive(Default)]
struct Seen {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type RespBody =
    StreamBody<tokio_stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A gRPC "server" that records the request and answers with fixed messages.
#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
    answers: Vec<SessionResponse>,
}

fn grpc_frame(msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8];
    f.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    f.extend_from_slice(msg);
    f
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Fake {
    type Response = http::Response<RespBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let seen = self.seen.clone();
        let answers = self.answers.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.expect("request body").to_bytes();
            *seen.lock().unwrap() = Seen {
                path: parts.uri.path().to_owned(),
                headers: parts.headers,
                body,
            };
            let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = answers
                .iter()
                .map(|a| Ok(Frame::data(Bytes::from(grpc_frame(&a.encode_to_vec())))))
                .collect();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            frames.push(Ok(Frame::trailers(trailers)));
            Ok(http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(StreamBody::new(tokio_stream::iter(frames)))
                .unwrap())
        })
    }
}

fn fake(answers: Vec<SessionResponse>) -> (Fake, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    (
        Fake {
            seen: seen.clone(),
            answers,
        },
        seen,
    )
}

#[test]
fn session_call_goes_to_kopias_method_with_credentials() {
    let answer = SessionResponse {
        request_id: 1,
        has_more: false,
        response: Some(session_response::Response::Flush(Default::default())),
    };
    let (svc, seen) = fake(vec![answer.clone()]);
    let mut client: KopiaRepositoryClient<Fake> = new_client(svc);

    let req = SessionRequest::flush(1);
    let mut request = tonic::Request::new(tokio_stream::iter(vec![req.clone()]));
    SessionCredentials::new("alice", "laptop", "secret")
        .unwrap()
        .apply(request.metadata_mut(), Some("vmdp/test"))
        .unwrap();

    let got = block_on(async {
        let mut stream = client.session(request).await.expect("session").into_inner();
        let first = stream.message().await.expect("first message");
        let end = stream.message().await.expect("end of stream");
        (first, end)
    });
    assert_eq!(got.0, Some(answer));
    assert_eq!(got.1, None);
    got.0.unwrap().into_flush().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.path, SESSION_METHOD_PATH);
    assert_eq!(seen.path, "/kopia_repository.KopiaRepository/Session");
    assert_eq!(seen.headers["content-type"], "application/grpc");
    assert_eq!(seen.headers["kopia-username"], "alice");
    assert_eq!(seen.headers["kopia-hostname"], "laptop");
    assert_eq!(seen.headers["kopia-password"], "secret");
    assert_eq!(seen.headers["kopia-version"], "vmdp/test");
    assert!(seen.headers.get("grpc-encoding").is_none());
    // One uncompressed gRPC frame holding exactly the hand-checked flush bytes.
    assert_eq!(&seen.body[..], &grpc_frame(&[0x08, 0x01, 0x62, 0x00])[..]);
}

fn big_content_answer() -> SessionResponse {
    SessionResponse {
        request_id: 2,
        has_more: false,
        response: Some(session_response::Response::GetContent(
            kopia_proto::session::GetContentResponse {
                data: Bytes::from(vec![7u8; 5 << 20]),
            },
        )),
    }
}

#[test]
fn new_client_accepts_kopia_sized_messages() {
    let (svc, _) = fake(vec![big_content_answer()]);
    let mut client = new_client(svc);
    let req = SessionRequest::get_content(2, &"ab".parse().unwrap());
    let data = block_on(async {
        let mut s = client
            .session(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        s.message()
            .await
            .unwrap()
            .unwrap()
            .into_get_content()
            .unwrap()
    });
    assert_eq!(data.len(), 5 << 20);
    assert!(MAX_MESSAGE_SIZE > data.len());
}

#[test]
fn default_tonic_limit_would_refuse_the_same_answer() {
    let (svc, _) = fake(vec![big_content_answer()]);
    let mut client = KopiaRepositoryClient::new(svc);
    let req = SessionRequest::get_content(2, &"ab".parse().unwrap());
    let status = block_on(async {
        let mut s = client
            .session(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        s.message().await.unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status}");
}
