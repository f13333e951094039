//! The sockets a node opens, behind one trait so that a simulation can replace them.
//!
//! Every listener and outgoing connection of a node goes through its [`Transport`]: the peer
//! and client servers, peer channels, write forwarding and the bootstrap probe. [`Tcp`] is
//! the real one. The deterministic simulation in `tests/simulation.rs` passes a transport
//! over turmoil's simulated network, so the same node code runs on both.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A byte stream in both directions.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// An open connection.
pub type Conn = Box<dyn Io>;

/// A bound listener.
#[async_trait]
pub trait Accept: Send + 'static {
    /// Waits for the next incoming connection and returns it with the remote address.
    async fn accept(&mut self) -> io::Result<(Conn, SocketAddr)>;

    /// Returns the address the listener is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Opens listeners and connections.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Binds a listener to `address` (`host:port`).
    async fn bind(&self, address: &str) -> io::Result<Box<dyn Accept>>;

    /// Opens a connection to `address` (`host:port`).
    async fn connect(&self, address: &str) -> io::Result<Conn>;
}

/// The operating system's TCP sockets, with Nagle's algorithm off on every connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp;

impl Tcp {
    /// Returns the TCP transport as a shared trait object.
    pub fn shared() -> Arc<dyn Transport> {
        Arc::new(Tcp)
    }
}

#[async_trait]
impl Transport for Tcp {
    async fn bind(&self, address: &str) -> io::Result<Box<dyn Accept>> {
        Ok(Box::new(TcpListener::bind(address).await?))
    }

    async fn connect(&self, address: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
}

#[async_trait]
impl Accept for TcpListener {
    async fn accept(&mut self) -> io::Result<(Conn, SocketAddr)> {
        let (stream, remote) = TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((Box::new(stream), remote))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

/// An accepted connection as tonic's server and axum take it.
pub struct Accepted(pub Conn);

impl AsyncRead for Accepted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Accepted {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// Returns the connections `listener` accepts as a stream, for tonic's
/// `serve_with_incoming`.
pub fn incoming(
    listener: Box<dyn Accept>,
) -> impl futures::Stream<Item = io::Result<Accepted>> + Send + 'static {
    futures::stream::unfold(listener, |mut listener| async move {
        let next = listener.accept().await.map(|(conn, _)| Accepted(conn));
        Some((next, listener))
    })
}

/// A listener as `axum::serve` takes it: accept errors are logged and retried.
pub struct AxumListener(pub Box<dyn Accept>);

/// Pause after a failed accept, as when the process is out of file descriptors.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

impl axum::serve::Listener for AxumListener {
    type Io = Accepted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((conn, remote)) => return (Accepted(conn), remote),
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
