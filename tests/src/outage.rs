//! A database outage for one test: a TCP proxy in front of the test's PostgreSQL server that the
//! test cuts (every connection closed, new ones refused, as a stopped server does), freezes
//! (connections stay open but nothing gets through, as on a network that drops packets), and
//! restores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// The proxy: listening on `addr` while up.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    frozen: Arc<AtomicBool>,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy to `target`, up.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut proxy = Self {
            addr: listener.local_addr().expect("address"),
            target,
            frozen: Arc::default(),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&mut self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again, on the same address.
    pub fn restore(&mut self) {
        self.frozen.store(false, Ordering::SeqCst);
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("bind the same address");
        self.serve(socket.listen(64).expect("listen"));
    }

    /// Keeps every connection open but lets no byte through, either way; a side that closes is
    /// still closed on the other side.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (target, tasks, frozen) = (self.target, Arc::clone(&self.tasks), &self.frozen);
        let frozen = Arc::clone(frozen);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let mut tasks = tasks.lock().expect("tasks");
                tasks.push(tokio::spawn(pipe(
                    client_read,
                    server_write,
                    frozen.clone(),
                )));
                tasks.push(tokio::spawn(pipe(
                    server_read,
                    client_write,
                    frozen.clone(),
                )));
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }
}

/// Copies `from` to `to` (dropping the bytes while frozen) until `from` ends, then ends `to`.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        if !frozen.load(Ordering::SeqCst) && to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
