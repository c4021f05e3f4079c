//! Starting the real binary and talking to it over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a test waits for the server to print a line before it gives up (a hang guard, not a
/// timing assertion).
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

pub fn example_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/objectbox-model.json")
}

/// A `sync-server` command running in `cwd` (so that no stray config file is picked up).
pub fn sync_server(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sync-server"));
    cmd.current_dir(cwd);
    cmd
}

/// Runs a command that is expected to exit by itself; kills it if it is still running after
/// `LINE_TIMEOUT` (a hang guard, so a wrongly started server fails the test instead of hanging).
pub fn run_to_end(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let guard = std::thread::spawn(move || {
        if done_rx.recv_timeout(LINE_TIMEOUT).is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let output = child.wait_with_output().expect("wait");
    let _ = done_tx.send(());
    let _ = guard.join();
    output
}

/// A server process with its log lines.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
    pub sync_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
}

impl Running {
    /// Starts the server on loopback port 0 with the given extra arguments and waits for its
    /// "started" line.
    pub fn start(cwd: &Path, args: &[&str]) -> Running {
        let mut cmd = sync_server(cwd);
        cmd.args(["--bind", "ws://127.0.0.1:0", "--admin-bind", "127.0.0.1:0"])
            .args(args);
        Running::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for reader in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut running = Running {
            child,
            lines,
            log: Vec::new(),
            sync_addr: ([0, 0, 0, 0], 0).into(),
            admin_addr: None,
        };
        running.wait_for("server started in");
        let port = |line: &str| line.rsplit(' ').next().and_then(|p| p.parse::<u16>().ok());
        let sync_port = running
            .log
            .iter()
            .find(|l| l.contains("Started on port"))
            .and_then(|l| port(l))
            .expect("sync port");
        running.sync_addr = ([127, 0, 0, 1], sync_port).into();
        running.admin_addr = running
            .log
            .iter()
            .find(|l| l.contains("[HttpSv] Listening on http://"))
            .and_then(|l| l.rsplit("http://").next())
            .and_then(|a| a.parse().ok());
        running
    }

    /// Waits until a log line containing `needle` appears; returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM and returns the exit code with the rest of the log.
    pub fn terminate(mut self) -> (i32, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let code = self.child.wait().expect("wait").code().unwrap_or(-1);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        (code, std::mem::take(&mut self.log))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET; returns (status, headers+body text).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(LINE_TIMEOUT))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, response)
}

/// The body of an HTTP response (after the blank line).
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The server running in-process (`sync_server::run`) on loopback listeners, stopped by
/// [`InProcess::stop`]: what the in-process test modules build their servers on.
pub struct InProcess {
    pub sync: SocketAddr,
    /// `None` when the config turns the admin server off.
    pub admin: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl InProcess {
    /// Binds the config's listeners and runs the server until [`InProcess::stop`].
    pub async fn start(config: sync_server::config::Config) -> InProcess {
        let listeners = sync_server::Listeners::bind(&config).await.expect("bind");
        let sync = listeners.sync_addr().expect("sync addr");
        let admin = listeners.admin_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sync_server::run(config, listeners, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        InProcess {
            sync,
            admin,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts the server down as SIGTERM would and waits until it has closed the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}
