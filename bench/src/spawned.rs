//! Child processes of the bench (the server under test, client swarms, the broadcast baseline),
//! their standard output as timed lines, and what `/proc` says about them.
//!
//! Must not know what the lines mean beyond the server's two start-up lines: the swarm protocol
//! lives in `swarm` and `scale`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

/// Sync connections a spawned server accepts (`--max-connections`), above any count we test.
pub const MAX_CONNECTIONS: u32 = 1_000_000;
/// A hang guard for a server's start-up lines (not a timing assertion).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server may take to exit after SIGTERM before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process whose standard output arrives as lines stamped with the instant they were
/// read. Killed on drop.
pub struct Process {
    child: Child,
    pub pid: u32,
    /// Lines from a reader thread, which owns the pipe; it ends when the child closes it.
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    /// `None` once closed (which tells a swarm to exit).
    stdin: Option<ChildStdin>,
}

impl Process {
    /// Spawns `command` with piped stdin and stdout. After a line containing `quiet_after`
    /// the reader thread stops forwarding and only drains, so a chatty child (the server logs
    /// every connection) never blocks on a full pipe nor fills our memory.
    pub fn spawn(mut command: Command, quiet_after: Option<&'static str>) -> Result<Process> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut forward = true;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if forward {
                    forward = quiet_after.is_none_or(|q| !line.contains(q));
                    if tx.send((Instant::now(), line)).is_err() {
                        forward = false;
                    }
                }
            }
        });
        Ok(Process {
            pid: child.id(),
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// The next line that starts with `prefix` (others are skipped), without the prefix, and
    /// when it was read.
    pub async fn expect(&mut self, prefix: &str, within: Duration) -> Result<(Instant, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .with_context(|| {
                    format!("no \"{prefix}\" line from pid {} in {within:?}", self.pid)
                })?
                .with_context(|| format!("pid {} ended before a \"{prefix}\" line", self.pid))?;
            if let Some(rest) = line.1.strip_prefix(prefix) {
                return Ok((line.0, rest.to_owned()));
            }
        }
    }

    /// Writes one line to the child's standard input.
    pub fn say(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes standard input (a swarm then exits) and waits for the exit.
    pub async fn close(mut self) -> Result<()> {
        self.stdin = None;
        self.wait(EXIT_TIMEOUT).await
    }

    /// SIGTERM, then waits for the exit (killed after a timeout). Returns how long it took.
    pub async fn terminate(mut self) -> Result<Duration> {
        let started = Instant::now();
        // SAFETY: kill(2) with our own child's pid and a valid signal number touches no memory.
        if unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) } != 0 {
            bail!(
                "SIGTERM to pid {}: {}",
                self.pid,
                std::io::Error::last_os_error()
            );
        }
        self.wait(EXIT_TIMEOUT).await?;
        Ok(started.elapsed())
    }

    async fn wait(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("pid {} did not exit within {within:?}", self.pid);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    pub fn rss_kib(&self) -> Result<u64> {
        vm_rss_kib(self.pid)
    }

    /// User plus system CPU time the process has used so far.
    pub fn cpu(&self) -> Result<Duration> {
        process_cpu(self.pid)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A spawned `sync-server`: unsecured, no admin, sync on 127.0.0.1:0.
pub struct Server {
    pub process: Process,
    pub port: u16,
    /// From just before `spawn` until its "server started in" line was read.
    pub start: Duration,
    /// The start-up time the server printed itself, in ms.
    pub reported_ms: Option<f64>,
}

impl Server {
    /// Spawns `binary` with `model` on the database directory `db` (created if missing), and
    /// waits for its port and its "started" line.
    pub async fn spawn(binary: &Path, model: &Path, db: &Path) -> Result<Server> {
        let mut command = Command::new(binary);
        command
            .current_dir(db.parent().context("db dir has a parent")?)
            .args([
                "--unsecured-no-authentication",
                "--bind",
                "ws://127.0.0.1:0",
            ])
            .args(["--admin-off", "--max-connections"])
            .arg(MAX_CONNECTIONS.to_string())
            .arg("--model")
            .arg(model)
            .arg("--db-directory")
            .arg(db)
            .stderr(Stdio::null());
        let spawned = Instant::now();
        let mut process = Process::spawn(command, Some("server started in"))?;
        // Lines are read in order: the port line comes before the "started" line.
        let mut port = None;
        let (at, reported) = loop {
            let (at, line) = process.expect("", START_TIMEOUT).await?;
            if let Some(rest) = line.split("Started on port ").nth(1) {
                port = Some(rest.trim().parse::<u16>()?);
            }
            if let Some(rest) = line.split("server started in ").nth(1) {
                break (at, rest.trim().trim_end_matches("ms").trim().parse().ok());
            }
        };
        Ok(Server {
            process,
            port: port.context("the server printed no \"Started on port\" line")?,
            start: at - spawned,
            reported_ms: reported,
        })
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

/// Raises the soft and hard limit of open files to the kernel's maximum (`fs.nr_open`; raising
/// the hard limit needs CAP_SYS_RESOURCE, without it the soft limit is raised to the hard one).
/// Children inherit it. Returns the soft limit now in force and the one wanted.
pub fn raise_nofile() -> (u64, u64) {
    let max = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
        .unwrap_or(1 << 20);
    let mut limit = libc::rlimit {
        rlim_cur: max,
        rlim_max: max,
    };
    // SAFETY: setrlimit and getrlimit only read or write the struct we pass by reference.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0
            && libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    (limit.rlim_cur, max)
}

/// `VmRSS` of a process, in KiB.
pub fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            return Ok(rest.trim().trim_end_matches("kB").trim().parse()?);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// `utime + stime` of a process (fields 14 and 15 of `/proc/PID/stat`, in clock ticks).
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it start at field 3.
    let after = stat.rsplit_once(')').context("/proc/PID/stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    Ok(ticks_to_duration(ticks))
}

/// Busy and total CPU time of the whole machine so far (all cores, from `/proc/stat`).
#[derive(Clone, Copy)]
pub struct MachineCpu {
    pub busy: Duration,
    pub total: Duration,
}

impl MachineCpu {
    pub fn now() -> Result<MachineCpu> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let line = stat.lines().next().context("/proc/stat is empty")?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let total: u64 = ticks.iter().take(8).sum();
        // Fields 4 and 5 are idle and iowait.
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        Ok(MachineCpu {
            busy: ticks_to_duration(total - idle),
            total: ticks_to_duration(total),
        })
    }

    /// The share of the machine's CPU time that was busy since `earlier`, in percent.
    pub fn busy_percent_since(&self, earlier: &MachineCpu) -> f64 {
        let total = (self.total - earlier.total).as_secs_f64();
        if total == 0.0 {
            return 0.0;
        }
        100.0 * (self.busy - earlier.busy).as_secs_f64() / total
    }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf reads a configuration value and touches no memory of ours.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = if per_second > 0 {
        per_second as u64
    } else {
        100
    };
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}
