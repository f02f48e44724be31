//! Accept loop and a socket wrapper through which a handler can break its
//! own connection: reset it, or replace the response with raw bytes.
//!
//! Each connection gets a [`ConnHandle`] in its requests' extensions. A
//! handler that sets an action still returns a normal response. When hyper
//! then writes that response, [`FaultIo`] performs the action instead.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Action to take on the next response written on a connection.
#[derive(Debug)]
enum Action {
    /// Close the connection with a TCP reset instead of responding.
    Reset,
    /// Write these bytes instead of the response, then close.
    Replace(Bytes),
}

/// Handle through which a handler breaks its connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnHandle(Arc<Mutex<Option<Action>>>);

impl ConnHandle {
    /// Resets the connection instead of sending the response.
    pub(crate) fn reset(&self) {
        self.set(Action::Reset);
    }

    /// Sends `bytes` in place of the response, then closes the connection.
    pub(crate) fn replace(&self, bytes: Bytes) {
        self.set(Action::Replace(bytes));
    }

    fn set(&self, action: Action) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(action);
    }

    fn take(&self) -> Option<Action> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// A TCP stream that carries out its [`ConnHandle`]'s action on the next
/// write.
struct FaultIo {
    stream: TcpStream,
    handle: ConnHandle,
    /// Replacement bytes and how many of them are written.
    replacing: Option<(Bytes, usize)>,
    closed: bool,
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "connection closed by an injected fault")
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Err(closed_error()));
        }
        if this.replacing.is_none() {
            match this.handle.take() {
                None => return Pin::new(&mut this.stream).poll_write(cx, buf),
                Some(Action::Reset) => {
                    // A zero linger time makes the close that follows send a
                    // reset instead of an orderly shutdown.
                    if let Err(error) =
                        socket2::SockRef::from(&this.stream).set_linger(Some(Duration::ZERO))
                    {
                        tracing::warn!(%error, "cannot set SO_LINGER for a reset");
                    }
                    this.closed = true;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "connection reset by an injected fault",
                    )));
                }
                Some(Action::Replace(bytes)) => this.replacing = Some((bytes, 0)),
            }
        }
        if let Some((bytes, written)) = &mut this.replacing {
            while *written < bytes.len() {
                let count = ready!(Pin::new(&mut this.stream).poll_write(cx, &bytes[*written..]))?;
                if count == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += count;
            }
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.closed = true;
        }
        Poll::Ready(Err(closed_error()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on connections from `listener` until `shutdown` fires,
/// then drops every open connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handle = ConnHandle::default();
                let io = FaultIo { stream, handle: handle.clone(), replacing: None, closed: false };
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(handle.clone());
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
                connections.spawn(async move {
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(io), service);
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}
