//! Where the machine's CPU went during a phase: the CPU time of every process, grouped by what it
//! is (the service, PostgreSQL, the broker, this load generator, anything else), from `/proc`.
//! It shows what bounds a figure on this machine: with every core busy, the split says who
//! used them.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The groups, by the process's name (`/proc/PID/comm`).
fn group(comm: &str) -> &'static str {
    match comm {
        "convo" => "service",
        "postgres" => "postgres",
        "tansu" | "noida-db" | "python3" => "broker",
        "convo-bench" => "load generator",
        _ => "other",
    }
}

/// CPU ticks so far per group, and when they were read.
pub struct Snapshot {
    at: Instant,
    ticks: BTreeMap<&'static str, u64>,
}

impl Snapshot {
    pub fn take() -> Self {
        let mut ticks = BTreeMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((comm, used)) = process_ticks(pid) {
                *ticks.entry(group(&comm)).or_insert(0) += used;
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

/// The name and user + system ticks of process `pid` (`/proc/PID/stat`: the name is in
/// parentheses and may hold spaces; utime and stime are the 14th and 15th fields).
fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // fields[0] is the 3rd field (state): utime is the 14th field, stime the 15th.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// The cores of this machine.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
