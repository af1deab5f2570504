//! The request body deadline: a client gets `body_read_timeout_secs` from the moment its
//! headers arrived to send the whole body. A slower body fails with an error the extractors
//! turn into a 4xx answer, and the connection (its body unread) is closed. Unlike a per-read idle
//! timeout, a client trickling one byte at a time cannot hold the connection for longer.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// Why a body was cut (shown to the client: it holds nothing of the request).
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {0} s")]
pub struct BodyTimedOut(u64);

/// A request body that fails once its deadline has passed.
pub struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    pub fn new(inner: Body, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(
                this.limit.as_secs(),
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Gives `req` a body that must arrive within `limit` from now.
pub fn with_deadline(req: Request, limit: Duration) -> Request {
    req.map(|body| Body::new(DeadlineBody::new(body, limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body whose client never sends the rest.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn item7_a_stalled_body_fails_at_its_deadline() {
        let body = Body::new(DeadlineBody::new(
            Body::new(Stalled),
            Duration::from_millis(50),
        ));
        let started = std::time::Instant::now();
        let err = axum::body::to_bytes(body, 1024).await.unwrap_err();
        assert!(format!("{err:?}").contains("BodyTimedOut"), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        // A complete body passes untouched.
        let body = Body::new(DeadlineBody::new(Body::from("abc"), Duration::from_secs(5)));
        assert_eq!(axum::body::to_bytes(body, 1024).await.unwrap(), "abc");
    }
}
