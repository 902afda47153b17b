//! Misbehaving servers for the hostile suite: in-test tokio listeners on 127.0.0.1 with
//! ephemeral ports, one behaviour per listener, each serving every connection it gets until
//! the test process ends. Nothing here ever binds or connects outside loopback.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One way of (mis)behaving on an RDP port.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A correct Standard-RDP-Security-only server: RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER
    /// to requests that offer TLS, RDP_NEG_RSP selecting Standard RDP Security otherwise
    /// (MS-RDPBCGR 2.2.1.2.1, 2.2.1.2.2). The scan must report it `rdp`.
    GoodRdp,
    /// Accepts and never sends a byte.
    Silent,
    /// Sends a valid TPKT header, then one byte per second, forever.
    Slowloris,
    /// Closes right after accept, before reading anything.
    CloseOnAccept,
    /// Reads the request, sends the first `n` bytes of a valid Connection Confirm, then resets
    /// the connection (SO_LINGER 0).
    ResetMidConfirm(usize),
    /// Replies to the request with exactly these bytes, then keeps the connection open
    /// (silent) until the client goes away.
    Reply(Vec<u8>),
    /// Replies with these bytes, then closes.
    ReplyThenClose(Vec<u8>),
    /// Sends these bytes as soon as it accepts (a banner), reads the request, answers with
    /// `answer` and closes (SSH, SMTP, FTP style).
    Banner { banner: Vec<u8>, answer: Vec<u8> },
    /// Replies with `header`, then streams `total` bytes of filler as fast as the client
    /// takes them; records how many bytes the client accepted.
    Flood { header: Vec<u8>, total: usize },
    /// Selects Standard RDP Security for every request (as xrdp's `rdp` mode does), reads the
    /// client's next TPKT (the MCS Connect Initial, MS-RDPBCGR 2.2.1.3) and answers it with
    /// these bytes, then stays silent until the client goes away.
    McsReply(Vec<u8>),
}

/// A valid Connection Confirm with RDP_NEG_RSP selecting `selected` (MS-RDPBCGR 2.2.1.2.1).
pub fn confirm(flags: u8, selected: u32) -> Vec<u8> {
    let mut v = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, flags, 0x08, 0x00,
    ];
    v.extend_from_slice(&selected.to_le_bytes());
    v
}

/// A Connection Confirm with RDP_NEG_FAILURE `code` (MS-RDPBCGR 2.2.1.2.2).
pub fn failure(code: u32) -> Vec<u8> {
    let mut v = vec![
        0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x08, 0x00,
    ];
    v.extend_from_slice(&code.to_le_bytes());
    v
}

/// Reads one TPKT-framed client request (at most 512 bytes); `None` if the client sent
/// something else or went away.
pub async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.ok()?;
    if header[0] != 3 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if !(11..=512).contains(&len) {
        return None;
    }
    let mut rest = vec![0u8; len - 4];
    s.read_exact(&mut rest).await.ok()?;
    let mut all = header.to_vec();
    all.extend_from_slice(&rest);
    Some(all)
}

/// requestedProtocols of a Connection Request carrying RDP_NEG_REQ (its last four bytes).
fn requested(req: &[u8]) -> u32 {
    match req.len().checked_sub(4).and_then(|at| req.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Waits until the client closes (or 30 s), reading and discarding whatever it sends.
async fn drain(s: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n) = s.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn serve(behaviour: Behaviour, mut s: TcpStream, accepted: std::sync::Arc<Counter>) {
    match behaviour {
        Behaviour::GoodRdp => {
            let Some(req) = read_request(&mut s).await else {
                return;
            };
            let reply = if requested(&req) & 0x1 != 0 {
                failure(2)
            } else {
                confirm(0x00, 0)
            };
            let _ = s.write_all(&reply).await;
            drain(&mut s).await;
        }
        Behaviour::Silent => drain(&mut s).await,
        Behaviour::Slowloris => {
            let _ = read_request(&mut s).await;
            let _ = s.write_all(&[0x03, 0x00, 0x00, 0x13]).await;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if s.write_all(&[0x0e]).await.is_err() {
                    break;
                }
            }
        }
        Behaviour::CloseOnAccept => drop(s),
        Behaviour::ResetMidConfirm(n) => {
            let _ = read_request(&mut s).await;
            let c = confirm(0x1f, 8);
            let _ = s.write_all(c.get(..n).unwrap_or(&c)).await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = s.set_zero_linger();
            drop(s);
        }
        Behaviour::Reply(bytes) => {
            let _ = read_request(&mut s).await;
            let _ = s.write_all(&bytes).await;
            drain(&mut s).await;
        }
        Behaviour::ReplyThenClose(bytes) => {
            let _ = read_request(&mut s).await;
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
        }
        Behaviour::Banner { banner, answer } => {
            let _ = s.write_all(&banner).await;
            let mut buf = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            let _ = s.write_all(&answer).await;
            let _ = s.shutdown().await;
        }
        Behaviour::McsReply(bytes) => {
            if read_request(&mut s).await.is_none() {
                return;
            }
            if s.write_all(&confirm(0x00, 0)).await.is_err() {
                return;
            }
            // The Connect Initial: a TPKT of any size up to 64 KiB.
            let mut header = [0u8; 4];
            if s.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let mut rest = vec![0u8; len.saturating_sub(4)];
            if s.read_exact(&mut rest).await.is_err() {
                return;
            }
            let _ = s.write_all(&bytes).await;
            drain(&mut s).await;
        }
        Behaviour::Flood { header, total } => {
            let _ = read_request(&mut s).await;
            if s.write_all(&header).await.is_err() {
                return;
            }
            let chunk = vec![0x41u8; 64 * 1024];
            let mut sent = 0usize;
            while sent < total {
                let n = chunk.len().min(total - sent);
                match s.write(chunk.get(..n).unwrap_or(&chunk)).await {
                    Ok(0) | Err(_) => break,
                    Ok(w) => sent += w,
                }
                accepted.set_max(sent);
            }
        }
    }
}

/// The most bytes of filler a client accepted from a [`Behaviour::Flood`] listener.
#[derive(Debug, Default)]
pub struct Counter(std::sync::atomic::AtomicUsize);

impl Counter {
    fn set_max(&self, v: usize) {
        self.0.fetch_max(v, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A running listener.
#[derive(Debug, Clone)]
pub struct Listener {
    pub port: u16,
    pub accepted: std::sync::Arc<Counter>,
}

/// Starts every behaviour on its own loopback listener, on a runtime thread that lives until
/// the test process ends, and returns them by name.
pub fn start(behaviours: Vec<(&'static str, Behaviour)>) -> BTreeMap<&'static str, Listener> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("hostile-servers".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the hostile servers");
            rt.block_on(async move {
                let mut out = BTreeMap::new();
                for (name, behaviour) in behaviours {
                    let listener = TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind a loopback listener");
                    let port = listener.local_addr().expect("local address").port();
                    let counter = std::sync::Arc::new(Counter::default());
                    out.insert(
                        name,
                        Listener {
                            port,
                            accepted: counter.clone(),
                        },
                    );
                    tokio::spawn(async move {
                        while let Ok((s, _)) = listener.accept().await {
                            tokio::spawn(serve(behaviour.clone(), s, counter.clone()));
                        }
                    });
                }
                tx.send(out).expect("hand the listeners to the test");
                std::future::pending::<()>().await;
            });
        })
        .expect("spawn the server thread");
    rx.recv().expect("the servers start")
}
