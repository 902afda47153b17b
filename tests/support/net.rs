//! Loopback addresses, free and closed ports, and in-test listeners that are not RDP.
//!
//! NETWORK SAFETY: everything here binds 127.0.0.0/8 only.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// A loopback address no other call in this process has returned: `127.<binary_tag>.<n>.<p>`,
/// with `n` a per-process counter and `p` derived from the process id (so two runs of the same
/// test binary at once, or nextest's one-process-per-test, rarely share an address; ports are
/// picked free by the kernel anyway, see [`free_port`]).
///
/// Each integration test binary passes its own tag so binaries running at once do not mix
/// servers: 10 `tests/servers.rs`, 11 `tests/negotiate.rs`, 30 `tests/tls.rs`, 40
/// `tests/credssp.rs`, 50 `tests/compat.rs`, 60 `tests/windows.rs`, 70 `tests/snapshots.rs`,
/// 80 `tests/mcs.rs`, 90 `tests/reports.rs` (no servers; its synthetic endpoints use
/// 127.90.0.x), 100 `tests/diff.rs`, 110 `tests/real_client.rs`, 130 `tests/diff_cli.rs`,
/// 150 `tests/verdicts.rs`; pick an unused one for a new binary and add it here. Tag 0 is
/// refused: 127.0.0.x holds 127.0.0.1, which FreeRDP treats specially.
pub fn loopback(binary_tag: u8) -> Ipv4Addr {
    assert_ne!(
        binary_tag, 0,
        "loopback tag 0 would hand out 127.0.x.x; use 1..=255"
    );
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    let third = (n % 256) as u8;
    let fourth = 1 + (std::process::id() % 254) as u8;
    Ipv4Addr::new(127, binary_tag, third, fourth)
}

/// A TCP port that is free on `ip` right now (bound with port 0, then released).
pub fn free_port(ip: Ipv4Addr) -> u16 {
    assert!(ip.is_loopback(), "tests only bind 127.0.0.0/8, not {ip}");
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address for {ip}:0: {e}"))
        .port()
}

/// A fresh loopback address (see [`loopback`]) with a free port on it: where to start a server.
pub fn endpoint(binary_tag: u8) -> SocketAddrV4 {
    let ip = loopback(binary_tag);
    SocketAddrV4::new(ip, free_port(ip))
}

/// An address where nothing listens: connecting gets a RST (connection refused).
pub fn closed_port(binary_tag: u8) -> SocketAddrV4 {
    endpoint(binary_tag)
}

/// What a [`FakeListener`] does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeBehavior {
    /// Reads what the client sends (up to 1 s), answers `HTTP/1.1 400 Bad Request`, closes.
    Http400,
    /// Accepts and then says nothing, holding the connection until the client closes it or the
    /// listener stops.
    Silent,
}

/// The answer of [`FakeBehavior::Http400`].
pub const HTTP_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: rdpsweep-test\r\n\
Content-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request";

/// A TCP server in a background thread that is not RDP; stops on drop.
#[derive(Debug)]
pub struct FakeListener {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeListener {
    /// An HTTP server that answers everything with 400 (a "not RDP" endpoint).
    pub fn http_400(binary_tag: u8) -> Self {
        Self::start(binary_tag, FakeBehavior::Http400)
    }

    /// A server that accepts and never answers (a timeout in the negotiation stage).
    pub fn silent(binary_tag: u8) -> Self {
        Self::start(binary_tag, FakeBehavior::Silent)
    }

    pub fn start(binary_tag: u8, behavior: FakeBehavior) -> Self {
        let ip = loopback(binary_tag);
        let listener =
            TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port();
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("cannot make the {ip}:{port} listener non-blocking: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            thread::spawn(move || accept_loop(&listener, behavior, &stop, &accepted))
        };
        Self {
            addr: SocketAddrV4::new(ip, port),
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// `ip:port`, as a scan target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    behavior: FakeBehavior,
    stop: &Arc<AtomicBool>,
    accepted: &AtomicUsize,
) {
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                let stop = Arc::clone(stop);
                handlers.push(thread::spawn(move || serve(stream, behavior, &stop)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn serve(mut stream: TcpStream, behavior: FakeBehavior, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let mut buf = [0u8; 4096];
    match behavior {
        FakeBehavior::Http400 => {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(HTTP_400);
            let _ = stream.shutdown(Shutdown::Write);
            // Drain until the client closes, so closing does not turn into a RST that could
            // overtake the answer.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
        FakeBehavior::Silent => {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            while !stop.load(Ordering::SeqCst) {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

/// A loopback endpoint whose SYNs go unanswered, as behind a firewall that drops them, without
/// privileges: a listener with a listen backlog of 0 that never accepts, whose accept queue is
/// already full (on Linux a backlog-0 queue holds one connection, and a SYN to a full queue is
/// dropped), so a connect waits for its timeout. Callers assert the `filtered` status they get.
pub struct Filtered {
    pub addr: SocketAddrV4,
    _filler: TcpStream,
    _listener: tokio::net::TcpListener,
    _rt: tokio::runtime::Runtime,
}

impl Filtered {
    pub fn start(ip: Ipv4Addr) -> Self {
        assert!(ip.is_loopback(), "tests only bind 127.0.0.0/8, not {ip}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a tokio runtime");
        let (listener, addr, filler) = rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket
                .bind(std::net::SocketAddr::from((ip, 0)))
                .unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"));
            let listener = socket.listen(0).expect("listen with a backlog of 0");
            let addr = match listener.local_addr().expect("its address") {
                std::net::SocketAddr::V4(a) => a,
                other => panic!("not IPv4: {other}"),
            };
            let filler = tokio::net::TcpStream::connect(addr)
                .await
                .expect("the first connection fills the accept queue");
            (listener, addr, filler.into_std().expect("a std stream"))
        });
        Self {
            addr,
            _filler: filler,
            _listener: listener,
            _rt: rt,
        }
    }
}
