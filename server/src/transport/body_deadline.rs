//! A request body must arrive whole within a deadline.
//!
//! The idle timeout ends a connection that moves no byte; a client that
//! trickles its body (a byte every few seconds) keeps moving bytes, and would
//! hold its connection, its handler and a graceful shutdown for as long as it
//! liked. Every request body therefore has `--body-read-timeout-ms` from the
//! moment its head was read; past it, reading the body fails, the handler
//! answers with an error and the connection closes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// A body that fails once its deadline passes before its end.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

/// The body was not received in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

impl<B> DeadlineBody<B> {
    /// `inner`, which must end within `timeout` from now.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            crate::ops::metrics::connection_timed_out("body_read");
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.timeout)))));
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
    async fn a_trickled_body_fails_at_the_deadline_and_a_prompt_one_does_not() {
        let whole = DeadlineBody::new(
            http_body_util::Full::new(Bytes::from("ok")),
            Duration::from_secs(1),
        );
        assert_eq!(whole.collect().await.expect("body").to_bytes(), "ok");

        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let stream = http_body_util::StreamBody::new(tokio_stream_like(rx));
        let trickled = DeadlineBody::new(stream, Duration::from_secs(10));
        let sender = tokio::spawn(async move {
            for _ in 0..20 {
                if tx.send(Ok(Frame::data(Bytes::from("x")))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let err = trickled.collect().await.expect_err("past the deadline");
        assert!(err.to_string().contains("did not arrive"), "{err}");
        sender.abort();
    }

    fn tokio_stream_like<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
