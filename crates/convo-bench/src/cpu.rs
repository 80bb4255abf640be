//! Where the machine's CPU went during a phase: the CPU time of every process, grouped by what it
//! is (the service, PostgreSQL, the broker, this load generator, anything else), from `/proc`.
//! It shows what bounds a figure on this machine: with every core busy, the split says who
//! used them.

use std::collections::BTreeMap;
use std::time::Instant;

use sqlx::PgPool;

use crate::report::Sample;

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// How processes are told apart: the service and PostgreSQL by process id, so that a second
/// PostgreSQL or a `convo` of another checkout on the same machine counts as "other"; the broker
/// by name, as the harness does not start it.
#[derive(Debug, Clone)]
pub struct Groups {
    services: Vec<u32>,
    /// PostgreSQL's postmaster; `None` when the server is not on this machine (its processes are
    /// then told by name, and count only if they are here).
    postmaster: Option<u32>,
    load_generator: u32,
}

impl Groups {
    /// The service processes `services`, the PostgreSQL server behind `pool` (its postmaster and
    /// every process it started), and this process.
    pub async fn new(services: Vec<u32>, pool: &PgPool) -> anyhow::Result<Self> {
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await?;
        Ok(Self {
            services,
            postmaster: u32::try_from(backend).ok().and_then(parent),
            load_generator: std::process::id(),
        })
    }

    fn of(&self, process: &Process) -> &'static str {
        let postgres = match self.postmaster {
            Some(postmaster) => process.pid == postmaster || process.parent == postmaster,
            None => process.name == "postgres",
        };
        if self.services.contains(&process.pid) {
            "service"
        } else if postgres {
            "postgres"
        } else if process.pid == self.load_generator {
            "load generator"
        } else if matches!(process.name.as_str(), "tansu" | "noida-db" | "python3") {
            "broker"
        } else {
            "other"
        }
    }

    /// What the groups are, for a figure's load line.
    pub fn described(&self) -> &'static str {
        "user + system time from /proc: the service's processes, PostgreSQL's postmaster and its children (by name if the server is elsewhere), the broker by name (tansu, noida-db), this load generator, other"
    }
}

/// CPU ticks so far per group, and when they were read.
#[derive(Debug)]
pub struct Snapshot {
    at: Instant,
    ticks: BTreeMap<&'static str, u64>,
}

impl Snapshot {
    pub fn take(groups: &Groups) -> Self {
        let mut ticks = BTreeMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(process) = Process::read(pid) {
                *ticks.entry(groups.of(&process)).or_insert(0) += process.ticks;
            }
        }
        Self {
            at: Instant::now(),
            ticks,
        }
    }

    /// Each group's CPU since `earlier`, in percent of one core (200 is both cores of a 2-core
    /// machine), largest first. Processes that ended in between are not counted.
    pub fn since(&self, earlier: &Snapshot) -> Vec<(&'static str, f64)> {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64();
        let mut used: Vec<(&'static str, f64)> = self
            .ticks
            .iter()
            .map(|(group, now)| {
                let before = earlier.ticks.get(group).copied().unwrap_or(0);
                let ticks = now.saturating_sub(before) as f64;
                (*group, 100.0 * ticks / TICKS_PER_SECOND / seconds)
            })
            .collect();
        used.sort_by(|a, b| b.1.total_cmp(&a.1));
        used
    }
}

/// The figures of a CPU split: the total, then one per group, keyed `{prefix}_cpu_{group}{suffix}`
/// (e.g. `w1_cpu_postgres_2_instances`).
pub fn samples(
    id: &'static str,
    prefix: &str,
    suffix: &str,
    phase: &str,
    groups: &Groups,
    split: &[(&'static str, f64)],
) -> Vec<Sample> {
    let cores = cores();
    let total: f64 = split.iter().map(|(_, used)| used).sum();
    let mut samples = vec![
        Sample::new(
            id,
            format!("{prefix}_cpu_total{suffix}"),
            format!("CPU used during {phase}, all processes"),
            total,
            "% of core",
        )
        .load(format!(
            "user + system time of every process (/proc), {cores} cores: {}% is all of them",
            100 * cores
        )),
    ];
    for (group, used) in split {
        samples.push(
            Sample::new(
                id,
                format!("{prefix}_cpu_{}{suffix}", group.replace(' ', "_")),
                format!("CPU used during {phase}: {group}"),
                *used,
                "% of core",
            )
            .load(groups.described()),
        );
    }
    samples
}

/// One process's name, parent and user + system ticks.
#[derive(Debug)]
struct Process {
    pid: u32,
    name: String,
    parent: u32,
    ticks: u64,
}

impl Process {
    /// From `/proc/PID/stat`: the name is in parentheses and may hold spaces; after it come the
    /// state (3rd field), the parent (4th), ..., utime (14th) and stime (15th).
    fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let parent = fields.get(1)?.parse().ok()?;
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(Self {
            pid,
            name,
            parent,
            ticks: utime + stime,
        })
    }
}

/// The parent of process `pid`.
fn parent(pid: u32) -> Option<u32> {
    Process::read(pid).map(|p| p.parent)
}

/// The cores of this machine.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
