//! The service under test as users run it: `convo serve` (the release build beside this binary)
//! in a process of its own, on its own port, over a [`Stack`]'s database and topics. Its memory
//! is read from `/proc`; it is stopped with SIGTERM and must exit cleanly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::setup::{SECRET, Stack};

pub struct Service {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
}

impl Service {
    /// Starts `convo serve` with `roles` and waits until `/readyz` answers 200.
    pub async fn start(convo: &Path, stack: &Stack, roles: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("{}serve-{port}.log", stack.prefix));
        let child = Command::new(convo)
            .arg("serve")
            .env("DATABASE_URL", &stack.url)
            .env("KAFKA_BROKERS", &stack.brokers)
            .env("CONVO_TOPIC_PREFIX", &stack.prefix)
            .env("CONVO_LISTEN", format!("127.0.0.1:{port}"))
            .env("CONVO_JWT_SECRET", SECRET)
            .env("CONVO_ROLES", roles)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", convo.display()))?;
        let pid = child.id().context("the service has a pid")?;
        let mut service = Self {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        service.ready(Duration::from_secs(60)).await?;
        Ok(service)
    }

    /// `count` instances side by side, each running every role.
    pub async fn start_many(
        convo: &Path,
        stack: &Stack,
        count: usize,
    ) -> anyhow::Result<Vec<Self>> {
        let mut services = Vec::with_capacity(count);
        for _ in 0..count {
            services.push(Self::start(convo, stack, "api,relay,intake,projector").await?);
        }
        Ok(services)
    }

    async fn ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            self.running()?;
            let answer = client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status() == 200) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the service was not ready after {timeout:?} (log: {})",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An error if the process has exited.
    pub fn running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                anyhow::bail!("the service exited ({status}); log: {}", self.log.display())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGTERM, then waits for a clean exit (the roles stop within their grace).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.running()?;
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        anyhow::ensure!(killed.success(), "kill -TERM {} failed", self.pid);
        let status = tokio::time::timeout(Duration::from_secs(45), self.child.wait())
            .await
            .context("the service did not stop within 45 s of SIGTERM")??;
        anyhow::ensure!(
            status.success(),
            "the service exited with {status} after SIGTERM; log: {}",
            self.log.display()
        );
        let _ = std::fs::remove_file(&self.log);
        Ok(())
    }
}

/// The resident memory of process `pid` (VmRSS of `/proc/PID/status`), in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `command` to completion, sampling its resident memory every 20 ms: how long it took and
/// its largest RSS, in bytes. An error if it fails.
pub async fn run_measured(mut command: Command) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("a pid")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .map(|_| text)
    });
    let mut peak = 0;
    let status = loop {
        if let Some(rss) = rss_of(pid) {
            peak = peak.max(rss);
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let elapsed = started.elapsed();
    let errors = errors.await??;
    anyhow::ensure!(status.success(), "{command:?} failed ({status}): {errors}");
    Ok((elapsed, peak))
}
