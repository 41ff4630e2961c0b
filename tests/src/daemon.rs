//! The real `findings-bridge run` binary as a child process: started with a config file and an
//! environment, its address read from its `listening on` line, ready once `/readyz` answers
//! 200; stopped with SIGKILL ([`Daemon::kill`]) or SIGTERM ([`Daemon::terminate`]). Its logs go
//! to a file beside the config (`daemon-N.log`) so a failing test can show them.
//!
//! Must not: talk to anything but the daemon it started.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

static STARTS: AtomicUsize = AtomicUsize::new(0);

/// A running daemon; killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub log_path: PathBuf,
    child: Child,
}

impl Daemon {
    /// Starts `findings-bridge run -c CONFIG` with `env` added and waits until it is ready.
    pub fn start(config_path: &Path, env: &[(String, String)]) -> anyhow::Result<Daemon> {
        let daemon = Self::spawn(config_path, env)?;
        daemon.wait_ready(Duration::from_secs(60))?;
        Ok(daemon)
    }

    /// Starts the daemon and returns once it listens (not waiting for readiness).
    pub fn spawn(config_path: &Path, env: &[(String, String)]) -> anyhow::Result<Daemon> {
        Self::spawn_with(config_path, env, &[])
    }

    /// [`Daemon::spawn`] with global flags before `run` (e.g. `--log-format json`).
    pub fn spawn_with(
        config_path: &Path,
        env: &[(String, String)],
        flags: &[&str],
    ) -> anyhow::Result<Daemon> {
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let dir = config_path.parent().unwrap_or(Path::new("."));
        let log_path = dir.join(format!("daemon-{n}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let bin = crate::bin_path("findings-bridge");
        let mut child = Command::new(&bin)
            .args(flags)
            .arg("run")
            .arg("-c")
            .arg(config_path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| {
                format!("cannot start {} (cargo build --bins first)", bin.display())
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .context("reading the daemon's first line")?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("findings-bridge did not start: first line {line:?}; log:\n{log}");
        };
        let addr = addr.to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Ok(Daemon {
            base_url: format!("http://{addr}"),
            addr,
            log_path,
            child,
        })
    }

    /// Polls `/readyz` until 200.
    pub fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.get_status_code("/readyz") == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "findings-bridge at {} is not ready; log:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The status code of a plain GET (no HTTP client needed), `None` when unreachable.
    pub fn get_status_code(&self, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(&self.addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut head = String::new();
        BufReader::new(stream).read_line(&mut head).ok()?;
        head.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        self.signal("TERM")?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("findings-bridge did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (`TERM`, `HUP`, …) with kill(1).
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{name} {} failed", self.child.id());
        }
        Ok(())
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
