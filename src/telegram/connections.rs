//! The connections the HTTP listener accepts: at most [`MAX_CONNECTIONS`] at once, a first
//! request whose headers must all arrive within [`HEADER_LIMIT`], and no connection kept that
//! sends nothing for [`IDLE_LIMIT`].
//!
//! A webhook's port is open to the internet. Without these bounds, a client that opens
//! connections and sends its headers a byte at a time holds a descriptor and a task per
//! connection for as long as it likes. axum's `serve` sets no such limits; they are applied
//! here to the stream it reads, so that the router, its graceful stop and its request
//! handling stay axum's.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections open at once; more wait in the kernel's backlog (Telegram opens at most
/// `max_connections`, 40 by default).
pub const MAX_CONNECTIONS: usize = 128;
/// Time for a new connection's first request headers to arrive whole.
pub const HEADER_LIMIT: Duration = Duration::from_secs(10);
/// A connection silent for this long is closed. Longer than the longest wait for an
/// update's answer, so that a request in hand is never cut off.
pub const IDLE_LIMIT: Duration = Duration::from_secs(75);

/// A TCP listener with those bounds.
pub struct Bounded {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl Bounded {
    /// Bounds the connections `listener` accepts.
    pub fn new(listener: TcpListener) -> Bounded {
        Bounded {
            listener,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }
}

impl axum::serve::Listener for Bounded {
    type Io = BoundedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (BoundedStream, SocketAddr) {
        loop {
            // The semaphore is never closed; should it be, accept anyway.
            let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
            match self.listener.accept().await {
                Ok((stream, addr)) => return (BoundedStream::new(stream, slot), addr),
                Err(err) => {
                    // Out of descriptors, or a connection reset before it was accepted.
                    tracing::debug!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted connection under its deadlines.
pub struct BoundedStream {
    stream: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
    /// Until the first request's headers are in: when they must be; after that, when the
    /// connection has been silent too long.
    deadline: Pin<Box<Sleep>>,
    /// Whether the first request's headers are in.
    headers_in: bool,
    /// The last three bytes read, to find the headers' end across reads.
    tail: [u8; 3],
}

impl BoundedStream {
    fn new(stream: TcpStream, slot: Option<OwnedSemaphorePermit>) -> BoundedStream {
        BoundedStream {
            stream,
            _slot: slot,
            deadline: Box::pin(tokio::time::sleep(HEADER_LIMIT)),
            headers_in: false,
            tail: [0; 3],
        }
    }

    /// Notes `bytes` just read: finds the end of the first request's headers, and moves the
    /// idle deadline once they are in.
    fn saw(&mut self, bytes: &[u8]) {
        if !self.headers_in {
            let mut window: Vec<u8> = self.tail.to_vec();
            window.extend_from_slice(bytes);
            self.headers_in = window.windows(4).any(|w| w == b"\r\n\r\n");
            let keep = window.len().saturating_sub(3);
            self.tail.copy_from_slice(&window[keep..keep + 3]);
        }
        if self.headers_in {
            self.deadline.as_mut().reset(Instant::now() + IDLE_LIMIT);
        }
    }
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled()[before..].to_vec();
                self.saw(&read);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    if self.headers_in {
                        "the connection was idle too long"
                    } else {
                        "the request headers took too long"
                    },
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (BoundedStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bounded = Bounded::new(listener);
        let client = tokio::spawn(TcpStream::connect(addr));
        let (server, _) = bounded.accept().await;
        (server, client.await.unwrap().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn headers_sent_a_byte_at_a_time_are_cut_off() {
        let (mut server, mut client) = pair().await;
        client
            .write_all(b"POST /webhook HTTP/1.1\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert!(n > 0);
        // The rest never comes: the read fails once the header time is up.
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_request_then_silence_waits_for_the_idle_limit() {
        let (mut server, mut client) = pair().await;
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let _ = server.read(&mut buf).await.unwrap();
        // The end of the headers split across two reads.
        client.write_all(b"\n\r\n").await.unwrap();
        let _ = server.read(&mut buf).await.unwrap();
        assert!(server.headers_in);
        let started = Instant::now();
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= IDLE_LIMIT);
    }
}
