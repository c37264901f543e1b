//! Stopping without losing a request behind a load balancer. On SIGTERM (or Ctrl-C):
//!
//! 1. **drain** (`PARTNERGRAPH_DRAIN_SECS`): `/readyz` answers 503 so the balancer takes the replica out,
//!    requests are still served, and every response says `Connection: close` so no kept-alive connection
//!    is left to be reused when we stop;
//! 2. **stop accepting**: the listener closes — a balancer's new connection is refused, which it can retry
//!    on another replica because nothing was sent — and every WebSocket is closed with 1001;
//! 3. **linger** (1 s when draining): connections accepted just before get their request served;
//! 4. **graceful shutdown**: in-flight requests finish, idle connections close, the process exits.
//!
//! Closing the listener apart from the connections matters: axum's graceful shutdown does both at once,
//! and a connection accepted a moment before, whose request had not arrived yet, was closed unanswered
//! (nginx: "connection reset by peer while reading response header", 502 on a POST it will not retry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::app::Lifecycle;

/// A TCP listener that can be closed on its own, before the server's connections are shut down.
pub struct StopAccepting {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
    /// Connections that were waiting in the kernel's queue when the listener closed: still served.
    last: std::collections::VecDeque<(TcpStream, SocketAddr)>,
}

impl StopAccepting {
    pub fn new(listener: TcpListener, stop: watch::Receiver<bool>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        Ok(StopAccepting { inner: Some(listener), addr, stop, last: Default::default() })
    }

    /// Closes the listener. The connections whose handshake the kernel already completed (a balancer has
    /// sent, or is sending, a request on them) are taken first: closing a listener resets them.
    fn close(&mut self) {
        let Some(listener) = self.inner.take() else { return };
        match listener.into_std() {
            Ok(std_listener) => {
                // Non-blocking already (tokio's); each call is one accept(2) on what is queued now.
                while let Ok((stream, peer)) = std_listener.accept() {
                    // An accepted socket starts blocking; tokio takes only non-blocking ones.
                    match stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream)) {
                        Ok(stream) => self.last.push_back((stream, peer)),
                        Err(e) => tracing::warn!(error = %e, "a queued connection could not be taken"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the listener could not be emptied before closing"),
        }
        tracing::info!(queued = self.last.len(), "stopped accepting connections");
    }
}

impl Listener for StopAccepting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if let Some(conn) = self.last.pop_front() {
                return conn;
            }
            let Some(listener) = &self.inner else {
                return std::future::pending().await;
            };
            let stop = &mut self.stop;
            tokio::select! {
                biased;
                true = async { stop.wait_for(|s| *s).await.is_ok() } => self.close(),
                accepted = listener.accept() => match accepted {
                    Ok(conn) => return conn,
                    // As axum's own listener: a failed connection is skipped; anything else (out of file
                    // descriptors) is waited out.
                    Err(e) if is_connection_error(&e) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// How long requests on connections accepted just before the listener closed have to arrive.
const LINGER: Duration = Duration::from_secs(1);

/// Waits for SIGTERM or Ctrl-C, then runs steps 1–3 above; when it returns the server shuts down
/// gracefully (step 4). A second signal during the drain cuts it short.
pub async fn sequence(lifecycle: Arc<Lifecycle>, drain: Duration, stop_accepting: watch::Sender<bool>) {
    signal().await;
    lifecycle.start_draining();
    if !drain.is_zero() {
        tracing::info!(?drain, "draining: /readyz answers 503, requests are still served");
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            () = signal() => tracing::info!("a second signal: draining cut short"),
        }
    }
    stop_accepting.send_replace(true);
    lifecycle.shut_down();
    if !drain.is_zero() {
        tokio::time::sleep(LINGER).await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
