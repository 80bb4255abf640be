//! `convo serve` instances as real child processes, and the PostgreSQL cluster and broker the
//! suite owns (so it may kill and restart them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::kafka::OwnBroker;

/// Where everything runs.
#[derive(Debug, Clone)]
pub struct Env {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub database_url: String,
    pub brokers: String,
    pub topic_prefix: String,
    pub partitions: i32,
}

impl Env {
    /// `convo` with the suite's database, broker and topics.
    pub fn convo(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env("DATABASE_URL", &self.database_url)
            .env("KAFKA_BROKERS", &self.brokers)
            .env("CONVO_TOPIC_PREFIX", &self.topic_prefix)
            .env("CONVO_PARTITIONS", self.partitions.to_string())
            .env("CONVO_JWT_SECRET", crate::SECRET)
            .env("CONVO_DB_POOL", "8")
            .env("RUST_LOG", "info");
        command
    }
}

/// The `convo` binary next to the test binary (`target/debug/convo`), or `CONVO_BIN`.
pub fn convo_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("CONVO_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("convo");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p convo`; scripts/chaos.sh does)",
        bin.display()
    );
    bin
}

/// One `convo serve` process.
#[derive(Debug)]
pub struct Instance {
    pub name: String,
    /// Base URL of its API, when it runs one.
    pub api: Option<String>,
    pub log: PathBuf,
    child: Option<Child>,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Instance {
    /// Starts `convo serve --roles roles` (with an API on a free port when `roles` has `api`) and
    /// waits until its API answers.
    pub async fn start(env: &Env, name: &str, roles: &str) -> Self {
        Self::start_with(env, name, roles, &[]).await
    }

    /// [`Instance::start`] with more environment variables.
    pub async fn start_with(env: &Env, name: &str, roles: &str, vars: &[(&str, &str)]) -> Self {
        let log = env.dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("instance log");
        let port = free_port();
        let api = roles
            .contains("api")
            .then(|| format!("http://127.0.0.1:{port}"));
        let child = env
            .convo()
            .args(["serve", "--roles", roles])
            .env("CONVO_LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start convo serve");
        let mut instance = Self {
            name: name.to_owned(),
            api,
            log,
            child: Some(child),
        };
        if let Some(base) = instance.api.clone() {
            instance.wait_for_api(&base).await;
        }
        instance
    }

    async fn wait_for_api(&mut self, base: &str) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{base}/v2/conversations/x"))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "{} exited while starting: {status} (log {})",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{}'s API did not answer within 30 s (log {})",
            self.name,
            self.log.display()
        );
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to 30 s for a clean exit.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// The exit status, if the process ended by itself.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// A private PostgreSQL cluster, managed by `scripts/lib.sh` (so the suite restarts it exactly as
/// the scripts start it).
#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
    pub state_dir: PathBuf,
}

impl Cluster {
    pub fn start(state_dir: PathBuf) -> Self {
        let cluster = Self {
            port: free_port(),
            state_dir,
        };
        cluster.lib("convo_pg_up");
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/chaos", self.port)
    }

    pub fn stop(&self) {
        self.lib("convo_pg_down");
    }

    pub fn restart(&self) {
        self.lib("convo_pg_up");
    }

    fn lib(&self, function: &str) {
        let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/lib.sh");
        let status = Command::new("bash")
            .args(["-c", &format!("source {lib} && {function}")])
            .env("CONVO_STATE_DIR", &self.state_dir)
            .env("CONVO_PG_PORT", self.port.to_string())
            .env("CONVO_PG_DB", "chaos")
            .stdout(Stdio::null())
            .status()
            .expect("bash");
        assert!(status.success(), "{function} failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The broker's outage. By default it is frozen (SIGSTOP) for `length`, then thawed: clients see
/// it gone (requests time out, connections stall) and nothing it acknowledged is lost, on either
/// broker. With `restart` (noida-db only: tansu 0.6.0 keeps its data in memory, so a restart would
/// be a disk loss) it is stopped with SIGTERM and started again on its data directory; noida-db
/// 0.2.3 then loses a few records it had acknowledged while stopping under load, which no client
/// can make up for and `convo verify` reports (docs/reliability.md).
pub async fn broker_outage(
    broker: &mut OwnBroker,
    length: Duration,
    restart: bool,
) -> &'static str {
    if restart && broker.keeps_data() {
        broker.stop().await;
        tokio::time::sleep(length).await;
        broker.restart().await;
        "stopped (SIGTERM) and restarted"
    } else {
        broker.signal("STOP");
        tokio::time::sleep(length).await;
        broker.signal("CONT");
        "frozen (SIGSTOP) and thawed"
    }
}

pub(crate) fn send_signal(pid: u32, name: &str) {
    signal(pid, name);
}
