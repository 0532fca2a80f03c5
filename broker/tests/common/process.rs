//! Running real client programs (kcat, Python scripts) with a deadline, capturing
//! what they print, and killing them if they overrun.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a finished client printed and how it exited.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with everything the client printed unless it exited 0.
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "{self}");
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.is_empty()).collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// A spawned client that is killed on drop unless waited for.
pub struct Running {
    what: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Waits up to `timeout`; on overrun kills the client and panics with its output.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let status = self.child.wait().expect("reap killed client");
                    let out = self.collect(status);
                    panic!("client overran its {timeout:?} deadline and was killed:\n{out}");
                }
                Err(e) => panic!("waiting for `{}`: {e}", self.what),
            }
        };
        self.collect(status)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the client is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        let join = |h: Option<JoinHandle<String>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        Output {
            what: self.what.clone(),
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        if let Ok(status) = self.child.wait() {
            let out = self.collect(status);
            // The test failed while this client ran: what it printed explains why.
            if std::thread::panicking() {
                eprintln!("client still running when the test failed, killed:\n{out}");
            }
        }
    }
}

fn reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Spawns `program args`, feeding `stdin` (if any) and capturing its output.
pub fn spawn(program: &str, args: &[String], stdin: Option<Vec<u8>>) -> Running {
    let what = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        // `cargo test --workspace` puts the build dir of rdkafka-sys (a librdkafka built
        // without zlib for tidewater-perf) on LD_LIBRARY_PATH; Debian's kcat must load
        // its own librdkafka.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e} (.ci/test installs the test tools)"));
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A writer thread: a client that stops reading must not deadlock the test.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    Running {
        what,
        child,
        stdout,
        stderr,
    }
}

/// Fails the test unless `tool` is on PATH; missing tools are a failure, not a skip.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; run .ci/test (it installs kcat, iperf3 and the Python clients)"
    );
}

/// Fails the test unless python3 can import every one of `modules`.
pub fn require_python_modules(modules: &[&str]) {
    require_tool("python3");
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = spawn("python3", &["-c".into(), code], None).wait(Duration::from_secs(60));
    assert!(
        out.status.success(),
        "python3 cannot import {modules:?}; run .ci/test (it pip-installs .ci/requirements.txt)\n{out}"
    );
}

/// Runs kcat with `args` and optional stdin, with a deadline.
pub fn kcat(args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Output {
    require_tool("kcat");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    spawn("kcat", &args, stdin.map(<[u8]>::to_vec)).wait(timeout)
}

/// Reads `topic` from the beginning to its current end with kcat (`-C -o beginning
/// -e`), with `more` arguments appended (a `-f` format, `-p`, `-X` properties).
pub fn kcat_read(bootstrap: &str, topic: &str, more: &[&str], timeout: Duration) -> Output {
    let mut args = vec!["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e"];
    args.extend_from_slice(more);
    kcat(&args, None, timeout).ok()
}

/// The path of a client script in `broker/tests/clients/`.
pub fn client_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Starts `python3 broker/tests/clients/<script> args...` without waiting.
pub fn spawn_python(script: &str, args: &[String]) -> Running {
    require_tool("python3");
    let mut full = vec![client_script(script).display().to_string()];
    full.extend(args.iter().cloned());
    // Unbuffered: a killed or overrunning script still shows what it printed.
    let mut all = vec!["-u".to_string()];
    all.extend(full);
    spawn("python3", &all, None)
}

/// Runs `python3 broker/tests/clients/<script> args...` with a deadline.
pub fn python_client(script: &str, args: &[String], timeout: Duration) -> Output {
    spawn_python(script, args).wait(timeout)
}
