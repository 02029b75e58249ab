//! Time limits on request bodies: every read of a body has one.
//!
//! hyper bounds the wait for a request's headers (`web.header_timeout`)
//! but not for its body, so a client that declares 200 bytes and sends 9,
//! or sends one part of a form and stops, would hold its connection (and
//! an upload slot) for as long as it liked. Every body is wrapped here:
//! each frame must arrive within `idle` (`limits.idle_timeout`), and a
//! body that is not an upload — a form of at most `web.max_form_size` —
//! must arrive whole within `whole` (`web.header_timeout`) of its
//! request. A body that misses either ends with an error, which ends the
//! request and its connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep, sleep_until};

/// Why a body was cut off.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("nothing of the request's body arrived for {0:?} (limits.idle_timeout)")]
    Idle(Duration),
    #[error("the form did not arrive within {0:?} of its request (web.header_timeout)")]
    Late(Duration),
    #[error("{0}")]
    Inner(axum::Error),
}

/// A request body whose every read has a deadline.
pub struct Timed {
    inner: Body,
    idle: Duration,
    next: Pin<Box<Sleep>>,
    whole: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl Timed {
    /// `whole`: the time the entire body must arrive within, if any.
    pub fn new(inner: Body, idle: Duration, whole: Option<Duration>) -> Timed {
        let now = Instant::now();
        Timed {
            inner,
            idle,
            next: Box::pin(sleep_until(now + idle)),
            whole: whole.map(|w| (w, Box::pin(sleep_until(now + w)))),
        }
    }
}

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        // The whole deadline first: a client that trickles a byte at a
        // time must not win by always having one ready.
        if let Some((w, late)) = this.whole.as_mut()
            && late.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(BodyError::Late(*w))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            let deadline = Instant::now() + this.idle;
            this.next.as_mut().reset(deadline);
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::Inner)));
        }
        if this.next.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyError::Idle(this.idle))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_ends_with_an_error() {
        let (mut tx, rx) = futures_channel();
        let body = Body::from_stream(rx);
        let mut timed = Timed::new(body, Duration::from_secs(5), None);
        tx.push(Bytes::from_static(b"first"));
        let got = timed.frame().await;
        assert!(matches!(got, Some(Ok(_))));
        let stalled = timed.frame().await;
        assert!(
            matches!(stalled, Some(Err(BodyError::Idle(_)))),
            "{stalled:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_form_that_trickles_ends_at_its_whole_deadline() {
        let (mut tx, rx) = futures_channel();
        let body = Body::from_stream(rx);
        let mut timed = Timed::new(body, Duration::from_secs(5), Some(Duration::from_secs(12)));
        let mut last = None;
        for _ in 0..10 {
            tx.push(Bytes::from_static(b"x"));
            last = timed.frame().await;
            if matches!(last, Some(Err(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        assert!(matches!(last, Some(Err(BodyError::Late(_)))), "{last:?}");
    }

    /// A stream the test feeds by hand, pending when empty.
    struct Feed(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Bytes>>>);
    struct Rx(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Bytes>>>);

    impl Feed {
        fn push(&mut self, b: Bytes) {
            self.0.lock().unwrap().push_back(b);
        }
    }

    impl futures_util::Stream for Rx {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            match self.0.lock().unwrap().pop_front() {
                Some(b) => Poll::Ready(Some(Ok(b))),
                None => Poll::Pending,
            }
        }
    }

    fn futures_channel() -> (Feed, Rx) {
        let q = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        (Feed(std::sync::Arc::clone(&q)), Rx(q))
    }
}
