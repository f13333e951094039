//! TCP proxies for peer links, one per directed link, so the runner can cut a link.
//!
//! Node `i` dials peer `j` through the proxy of link `(i, j)` (the `peer_dial` setting), which
//! forwards to `j`'s real peer port. A gRPC connection carries both the requests of `i` and
//! the responses of `j`, so cutting the link `(i, j)` stops `i`'s calls to `j` and their
//! responses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft_types::NodeId;

/// Time allowed to connect to the target peer port.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One directed link. While it is cut, new connections are accepted and closed at once, and
/// open ones are closed.
pub struct LinkProxy {
    address: SocketAddr,
    open: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LinkProxy {
    /// Binds a free port on 127.0.0.1 and forwards every connection to `target`.
    pub async fn start(target: String) -> std::io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (open, _) = watch::channel(true);
        let task = tokio::spawn(accept_loop(listener, target, open.subscribe()));
        Ok(LinkProxy {
            address,
            open,
            task,
        })
    }

    /// Returns the address a node dials instead of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Lets traffic through (`true`) or cuts the link (`false`).
    pub fn set_open(&self, open: bool) {
        self.open.send_if_modified(|current| {
            let changed = *current != open;
            *current = open;
            changed
        });
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // Dropping `open` closes every connection task, and the accept loop is aborted here.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: String, open: watch::Receiver<bool>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or a reset before accept: back off instead of spinning.
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        if !*open.borrow() {
            drop(inbound);
            continue;
        }
        tokio::spawn(forward(inbound, target.clone(), open.clone()));
    }
}

/// Copies bytes both ways until either side closes or fails, or the link is cut, and then
/// closes both. A half-closed connection is not kept open, because a paused peer may never
/// finish its side and each kept connection holds two of the runner's descriptors.
async fn forward(mut inbound: TcpStream, target: String, mut open: watch::Receiver<bool>) {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target));
    let Ok(Ok(mut outbound)) = connect.await else {
        return;
    };
    let _ = outbound.set_nodelay(true);
    let _ = inbound.set_nodelay(true);
    let cut = async {
        loop {
            if !*open.borrow_and_update() || open.changed().await.is_err() {
                return;
            }
        }
    };
    let (mut inbound_read, mut inbound_write) = inbound.split();
    let (mut outbound_read, mut outbound_write) = outbound.split();
    tokio::select! {
        _ = tokio::io::copy(&mut inbound_read, &mut outbound_write) => {}
        _ = tokio::io::copy(&mut outbound_read, &mut inbound_write) => {}
        () = cut => {}
    }
}

/// The proxies of every directed link between the nodes.
pub struct Links {
    proxies: BTreeMap<(NodeId, NodeId), LinkProxy>,
}

impl Links {
    /// Starts a proxy for every ordered pair of `peer_addrs` (node id to real peer address).
    pub async fn start(peer_addrs: &BTreeMap<NodeId, String>) -> std::io::Result<Links> {
        let mut proxies = BTreeMap::new();
        for from in peer_addrs.keys() {
            for (to, target) in peer_addrs {
                if from != to {
                    proxies.insert((*from, *to), LinkProxy::start(target.clone()).await?);
                }
            }
        }
        Ok(Links { proxies })
    }

    /// Returns the address node `from` dials to reach node `to`.
    pub fn dial_address(&self, from: NodeId, to: NodeId) -> Option<SocketAddr> {
        self.proxies.get(&(from, to)).map(LinkProxy::address)
    }

    /// Opens the links inside each side and cuts every other link. A node listed on two
    /// sides (a bridge) keeps its links to both.
    pub fn partition(&self, sides: &[BTreeSet<NodeId>]) {
        for ((from, to), proxy) in &self.proxies {
            let together = sides
                .iter()
                .any(|side| side.contains(from) && side.contains(to));
            proxy.set_open(together);
        }
    }

    /// Opens every link.
    pub fn heal(&self) {
        for proxy in self.proxies.values() {
            proxy.set_open(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 64];
                    while let Ok(read) = stream.read(&mut buffer).await {
                        if read == 0 || stream.write_all(&buffer[..read]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    async fn round_trip(address: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(b"ping").await?;
        let mut reply = vec![0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut reply)).await??;
        Ok(reply)
    }

    #[tokio::test]
    async fn open_link_forwards_bytes() {
        let proxy = LinkProxy::start(echo_server().await).await.unwrap();

        let reply = round_trip(proxy.address()).await.unwrap();

        assert_eq!(reply, b"ping");
    }

    #[tokio::test]
    async fn cut_link_closes_open_connection() {
        let proxy = LinkProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.address()).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await.unwrap();

        proxy.set_open(false);
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest));

        assert!(matches!(read.await, Ok(Ok(0)) | Ok(Err(_))));
    }

    #[tokio::test]
    async fn cut_link_rejects_new_connection() {
        let proxy = LinkProxy::start(echo_server().await).await.unwrap();
        proxy.set_open(false);

        let result = round_trip(proxy.address()).await;

        assert!(result.is_err());
    }

    #[tokio::test]
    async fn healed_link_forwards_again() {
        let proxy = LinkProxy::start(echo_server().await).await.unwrap();
        proxy.set_open(false);
        proxy.set_open(true);

        let reply = round_trip(proxy.address()).await.unwrap();

        assert_eq!(reply, b"ping");
    }

    #[tokio::test]
    async fn bridge_keeps_both_sides() {
        let peers: BTreeMap<NodeId, String> = [
            (1, echo_server().await),
            (2, echo_server().await),
            (3, echo_server().await),
        ]
        .into();
        let links = Links::start(&peers).await.unwrap();
        let sides = [BTreeSet::from([1, 2]), BTreeSet::from([2, 3])];

        links.partition(&sides);

        assert!(round_trip(links.dial_address(1, 2).unwrap()).await.is_ok());
        assert!(round_trip(links.dial_address(3, 2).unwrap()).await.is_ok());
        assert!(round_trip(links.dial_address(1, 3).unwrap()).await.is_err());
        assert!(round_trip(links.dial_address(3, 1).unwrap()).await.is_err());
    }
}
