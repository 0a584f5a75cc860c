//! Lingering close: a request answered before its body was read (401, 413,
//! 415, 429, 501, ...) still has its body read, and thrown away, before the
//! connection closes, so the client reads the answer instead of a reset.
//!
//! # Design
//!
//! An answer sent without reading the body makes hyper close the
//! connection while the client is still sending. The kernel then answers
//! the bytes still arriving with a TCP reset, and a client that has not
//! yet read the answer (most of them: they read once the body is sent)
//! gets "connection reset" instead of the 413 it was owed. This is the
//! case RFC 9112 §9.6 warns of:
//!
//! > If a server performs an immediate close of a TCP connection, there
//! > is a significant risk that the client will not be able to read the
//! > last HTTP response. [...] a server SHOULD perform a staged
//! > disconnect: [...] continue to read from the connection until it
//! > receives a corresponding close by the client, or until the server is
//! > reasonably certain that its own TCP stack has received the client's
//! > acknowledgement of the packet(s) containing the server's last
//! > response.
//!
//! [`layer`] is the outermost middleware. It lends the handlers a body
//! that reads through a shared slot; whatever is left in the slot once the
//! answer is built is drained by a task of its own, at most
//! [`LINGER_BYTES`] and [`LINGER_TIME`], then dropped (and hyper closes the
//! connection, as before). Not drained: a body the client is waiting to
//! send on `Expect: 100-continue` that nobody asked for (reading it would
//! send the `100 Continue`), and the body of a 408 (the client stalled; it
//! is not going to finish).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// At most this much of an unread body is read and dropped after the answer.
pub const LINGER_BYTES: u64 = 32 << 20;
/// And for at most this long.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// The request's body, shared between the handler (through [`Lent`]) and
/// [`layer`], which drains what the handler left.
struct Slot {
    body: Option<Body>,
    /// Whether anyone asked for a frame (for `Expect: 100-continue`: hyper
    /// has sent the `100 Continue` once the body is polled).
    polled: bool,
}

type Shared = Arc<Mutex<Slot>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Slot> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The body as the handlers see it: every call goes to the one in the slot.
struct Lent(Shared);

impl HttpBody for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = lock(&self.0);
        slot.polled = true;
        match slot.body.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0).body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0)
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// The middleware: lend the body, answer, then drain what is left.
pub async fn layer(req: Request, next: Next) -> Response {
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = req.into_parts();
    let shared: Shared = Arc::new(Mutex::new(Slot {
        body: Some(body),
        polled: false,
    }));
    let lent = Body::new(Lent(shared.clone()));
    let resp = next.run(Request::from_parts(parts, lent)).await;
    let left = {
        let mut slot = lock(&shared);
        let skip =
            (expects_continue && !slot.polled) || resp.status() == StatusCode::REQUEST_TIMEOUT;
        if skip { None } else { slot.body.take() }
    };
    if let Some(body) = left.filter(|b| !b.is_end_stream()) {
        tokio::spawn(drain(body));
    }
    resp
}

/// Read and drop `body` until it ends, fails, passes [`LINGER_BYTES`] or
/// [`LINGER_TIME`]; then drop it (hyper closes the connection if it did
/// not end).
async fn drain(mut body: Body) {
    let read = async {
        let mut seen: u64 = 0;
        while seen <= LINGER_BYTES {
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => {
                    let n = frame.data_ref().map_or(0, Bytes::len);
                    seen = seen.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
                }
                Some(Err(_)) | None => break,
            }
        }
    };
    // Timing out only stops the reading; the body is dropped either way.
    let _ = tokio::time::timeout(LINGER_TIME, read).await;
}
