//! The nodes' sockets on turmoil's simulated network, with peer links the harness can cut.
//!
//! A cut link behaves like the process runner's link proxy: the open connections between
//! the two hosts fail with `ConnectionReset` on both ends, and new connections fail until the
//! link is healed. turmoil's own `partition` only drops segments, and since its TCP does not
//! retransmit, a connection that lost one stays stuck after the repair, which no real network
//! does.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use raftcron::net::{Accept, Conn, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use turmoil::net::{TcpListener, TcpStream};

/// A pair of hosts, lower address first.
type Link = (IpAddr, IpAddr);

fn link(a: IpAddr, b: IpAddr) -> Link {
    if a <= b { (a, b) } else { (b, a) }
}

/// The wakers of one connection's pending read and write.
#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

#[derive(Default)]
struct CutState {
    cut: BTreeSet<Link>,
    /// Incremented each time a link is cut, so connections opened before stay broken after
    /// the link heals.
    generation: BTreeMap<Link, u64>,
    /// Connections by link, to wake them when their link is cut.
    open: BTreeMap<Link, Vec<Weak<Mutex<Wakers>>>>,
}

/// The links the harness has cut, shared by every node's transport.
#[derive(Clone, Default)]
pub struct Cuts(Arc<Mutex<CutState>>);

impl Cuts {
    fn state(&self) -> std::sync::MutexGuard<'_, CutState> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Cuts the link between `a` and `b` and fails its open connections.
    pub fn cut(&self, a: IpAddr, b: IpAddr) {
        let key = link(a, b);
        let wakers: Vec<Waker> = {
            let mut state = self.state();
            state.cut.insert(key);
            *state.generation.entry(key).or_default() += 1;
            let open = state.open.remove(&key).unwrap_or_default();
            open.iter()
                .filter_map(Weak::upgrade)
                .flat_map(|slot| {
                    let mut slot = slot.lock().unwrap_or_else(|poison| poison.into_inner());
                    [slot.read.take(), slot.write.take()]
                })
                .flatten()
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Opens every link again; connections broken by a cut stay broken.
    pub fn heal_all(&self) {
        self.state().cut.clear();
    }

    fn is_cut(&self, a: IpAddr, b: IpAddr) -> bool {
        self.state().cut.contains(&link(a, b))
    }

    /// Registers a new connection between `local` and `remote` and returns its generation
    /// and waker slot, or `None` when the link is cut.
    fn register(&self, local: IpAddr, remote: IpAddr) -> Option<(u64, Arc<Mutex<Wakers>>)> {
        let key = link(local, remote);
        let mut state = self.state();
        if state.cut.contains(&key) {
            return None;
        }
        let generation = state.generation.get(&key).copied().unwrap_or(0);
        let slot = Arc::new(Mutex::new(Wakers::default()));
        let open = state.open.entry(key).or_default();
        open.retain(|weak| weak.strong_count() > 0);
        open.push(Arc::downgrade(&slot));
        Some((generation, slot))
    }

    fn is_broken(&self, key: Link, generation: u64) -> bool {
        let state = self.state();
        state.cut.contains(&key) || state.generation.get(&key).copied().unwrap_or(0) != generation
    }
}

/// A node's transport: turmoil TCP, subject to the harness's cuts.
#[derive(Clone)]
pub struct SimTransport {
    pub cuts: Cuts,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SimTransport")
    }
}

fn reset(remote: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("link to {remote} is cut"),
    )
}

impl SimTransport {
    /// Wraps `stream`, or returns `ConnectionReset` when its link is cut.
    fn wrap(&self, stream: TcpStream) -> io::Result<CutAware> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        let (generation, wakers) = self
            .cuts
            .register(local.ip(), remote.ip())
            .ok_or_else(|| reset(remote))?;
        Ok(CutAware {
            stream,
            cuts: self.cuts.clone(),
            link: link(local.ip(), remote.ip()),
            generation,
            wakers,
        })
    }
}

#[async_trait]
impl Transport for SimTransport {
    async fn bind(&self, address: &str) -> io::Result<Box<dyn Accept>> {
        // turmoil binds only the unspecified address; the host name picks the host.
        let port = address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("no port in {address}"))
            })?;
        let listener = TcpListener::bind(("0.0.0.0", port)).await?;
        Ok(Box::new(SimListener {
            listener,
            transport: self.clone(),
        }))
    }

    async fn connect(&self, address: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(address).await?;
        let remote = stream.peer_addr()?;
        if self.cuts.is_cut(stream.local_addr()?.ip(), remote.ip()) {
            return Err(reset(remote));
        }
        Ok(Box::new(self.wrap(stream)?))
    }
}

struct SimListener {
    listener: TcpListener,
    transport: SimTransport,
}

#[async_trait]
impl Accept for SimListener {
    async fn accept(&mut self) -> io::Result<(Conn, SocketAddr)> {
        loop {
            let (stream, remote) = self.listener.accept().await?;
            // Like the process runner's proxy, a cut link accepts a connection and closes it.
            match self.transport.wrap(stream) {
                Ok(conn) => return Ok((Box::new(conn), remote)),
                Err(_) => continue,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A turmoil stream that fails once its link is cut.
struct CutAware {
    stream: TcpStream,
    cuts: Cuts,
    link: Link,
    generation: u64,
    wakers: Arc<Mutex<Wakers>>,
}

impl CutAware {
    fn check(&self, cx: &Context<'_>, write: bool) -> io::Result<()> {
        if self.cuts.is_broken(self.link, self.generation) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "link was cut",
            ));
        }
        let mut wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let slot = if write {
            &mut wakers.write
        } else {
            &mut wakers.read
        };
        *slot = Some(cx.waker().clone());
        Ok(())
    }
}

impl AsyncRead for CutAware {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx, false)?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutAware {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx, true)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx, true)?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
