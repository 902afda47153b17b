//! Child server processes: each runs in its own session (like `setsid server ...`), is awaited
//! until its listening socket shows up in `/proc/net/tcp`, and is stopped with its whole process
//! group on drop (xrdp forks one child per connection).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server gets to start listening before the fixture panics.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server gets to exit after SIGTERM before its group gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Lines of each log shown when a server fails.
const TAIL_LINES: usize = 40;

/// The absolute path of `name`, searched on `PATH` and in the sbin folders (Debian puts xrdp in
/// `/usr/sbin`, which a non-login `PATH` may lack).
///
/// Panics, naming the Debian package to install, when it is missing: tests never skip.
pub fn require_binary(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        let executable = candidate
            .metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if executable {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed (searched PATH and /usr/sbin): the real-server tests need the \
         Debian package `{package}`. Run scripts/test.sh (it installs the test servers) or \
         `apt-get install -y --no-install-recommends {package}`."
    );
}

/// The last `lines` lines of a text file, or a note saying why there are none.
pub fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            let mut out = format!(
                "--- {} (last {} of {} lines) ---\n",
                path.display(),
                all.len() - start,
                all.len()
            );
            for line in &all[start..] {
                out.push_str(line);
                out.push('\n');
            }
            out
        }
        Err(e) => format!("--- {}: cannot read: {e} ---\n", path.display()),
    }
}

/// Whether a TCP socket is in LISTEN state on exactly `addr` (read from `/proc/net/tcp`, so the
/// check does not open a connection to the server).
pub fn is_listening(addr: SocketAddrV4) -> bool {
    !listening_inodes(addr).is_empty()
}

/// Socket inodes in LISTEN state on exactly `addr`, from `/proc/net/tcp`.
fn listening_inodes(addr: SocketAddrV4) -> Vec<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_else(|e| panic!("cannot read /proc/net/tcp to see whether {addr} listens: {e}"));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_proc_addr(fields.get(1)?)?;
            let listening = *fields.get(3)? == "0A";
            (listening && local == addr).then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

/// Whether process `pid` holds one of the socket `inodes` (looked up in `/proc/PID/fd`).
fn holds_socket(pid: u32, inodes: &[u64]) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path())
            .ok()
            .and_then(|target| {
                let target = target.to_str()?.to_string();
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .is_some_and(|inode| inodes.contains(&inode))
    })
}

/// `0100007F:0D3D` -> 127.0.0.1:3389 (the address is the in-memory u32 printed in host order).
fn parse_proc_addr(field: &str) -> Option<SocketAddrV4> {
    let (ip, port) = field.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
}

/// A running server process, leader of its own session and process group.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    /// Files shown by [`ServerProcess::log_tail`]: its console output and any log it writes.
    logs: Vec<PathBuf>,
}

impl ServerProcess {
    /// Spawns `cmd` in a new session (`setsid()` before exec, as `setsid CMD` does) with stdin
    /// from /dev/null and stdout/stderr into `console_log`, unless `stdout_piped` (then stdout is
    /// a pipe the caller takes from [`ServerProcess::child_mut`]).
    pub fn spawn(name: &str, mut cmd: Command, console_log: &Path, stdout_piped: bool) -> Self {
        let out = File::create(console_log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", console_log.display()));
        let err = out.try_clone().unwrap_or_else(|e| {
            panic!("cannot clone the handle of {}: {e}", console_log.display())
        });
        cmd.stdin(Stdio::null()).stderr(err);
        if stdout_piped {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(out);
        }
        // SAFETY: setsid() is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Self {
            name: name.to_string(),
            child,
            logs: vec![console_log.to_path_buf()],
        }
    }

    /// Adds a file (the server's own log) to what [`ServerProcess::log_tail`] shows.
    pub fn add_log(&mut self, path: PathBuf) {
        self.logs.push(path);
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of every log of this server.
    pub fn log_tail(&self) -> String {
        self.logs.iter().map(|p| file_tail(p, TAIL_LINES)).collect()
    }

    /// Panics (with the log tail) if the process has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}) {what}\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// Waits until this process (not some other one) listens on `addr`; panics with the log
    /// tail if it exits first or does not listen within [`START_TIMEOUT`].
    pub fn wait_listening(&mut self, addr: SocketAddrV4) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let inodes = listening_inodes(addr);
            if !inodes.is_empty() && holds_socket(self.child.id(), &inodes) {
                return;
            }
            self.assert_running(&format!("before listening on {addr}"));
            if Instant::now() >= deadline {
                panic!(
                    "{} (pid {}) did not listen on {addr} within {} s\n{}",
                    self.name,
                    self.child.id(),
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Ok(pgid) = i32::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill() has no memory effects; a negative pid names our child's process group.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            sleep(Duration::from_millis(10));
        }
        // Whatever is left of the group (the leader if it ignored SIGTERM, forked children).
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
