//! Real S3-compatible servers for tests, started on a free loopback port with their own folder
//! and a bucket in it — no mock of S3 in the product's code paths:
//!
//! - `s3s-fs` (Rust, `cargo install`): honours create-only writes;
//! - `moto_server` (Python, `pip install "moto[server]"`): a second implementation, honours them;
//! - `s3rver` (Node, `npm install -g s3rver`): ignores `If-None-Match` and overwrites — the store
//!   that proves the product never loses or deletes another writer's object without them.
//!
//! `scripts/test.sh` installs all three. Every process a test starts is a [`TestProcess`]: it is
//! stopped (its whole process group killed and reaped) when the guard drops — also when the test
//! panics, since unwinding drops it — and, through a watchdog, when the test process ends in any
//! other way (a server held in a `static` is never dropped; a test binary killed with `kill -9`
//! runs no destructor): the watchdog waits on a pipe only the test process holds and kills the
//! group when it closes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, Storage, StorageError};

/// The credentials of the s3s-fs and moto servers.
pub const ACCESS_KEY: &str = "companion-test";
pub const SECRET_KEY: &str = "companion-test-secret";
/// s3rver accepts only its own fixed credentials.
const S3RVER_KEY: &str = "S3RVER";
/// The bucket of [`S3Server::shared`].
pub const SHARED_BUCKET: &str = "companion";

/// The wrapper a test process runs under: the program in the background, then a read of the
/// pipe only the test process holds; when it closes (the guard dropped it, or the test process
/// is gone) the whole process group is killed, the wrapper with it.
const WATCHDOG: &str = r#""$@" </dev/null &
read -r _ || true
kill -KILL 0"#;

/// A process a test started: killed with its whole process group, and reaped, on drop.
pub struct TestProcess {
    child: Child,
    /// The watchdog's lifeline; never written.
    lifeline: Option<ChildStdin>,
    name: String,
}

impl TestProcess {
    /// Starts `command` (program, arguments, environment, folder; its own stdout/stderr are
    /// discarded unless `log` names a file) under the watchdog, in a process group of its own.
    pub fn spawn(
        name: &str,
        command: &Command,
        log: Option<&std::path::Path>,
    ) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut wrapped = Command::new("sh");
        wrapped
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(command.get_program())
            .args(command.get_args())
            .stdin(Stdio::piped())
            .process_group(0);
        for (k, v) in command.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        match log {
            Some(path) => {
                let file = std::fs::File::create(path)?;
                wrapped.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                wrapped.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        // The program must exist: `sh` would start and only its background job would fail.
        let program = command.get_program();
        if !program_exists(program) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} not found", program.to_string_lossy()),
            ));
        }
        let mut child = wrapped.spawn()?;
        let lifeline = child.stdin.take();
        Ok(Self {
            child,
            lifeline,
            name: name.to_string(),
        })
    }

    /// The process group (the watchdog's pid).
    pub fn group(&self) -> u32 {
        self.child.id()
    }

    /// Whether any process of the group is still alive (zombies aside).
    pub fn group_alive(&self) -> bool {
        group_alive(self.group())
    }

    /// Closes the lifeline as the end of the test process would (tests of the watchdog).
    pub fn close_lifeline(&mut self) {
        self.lifeline = None;
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        // The group id is the watchdog's pid, which cannot be reused before it is reaped below.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        self.lifeline = None;
        let _ = self.child.wait();
        // The group's other members (the server and its children) are orphans now; a killed
        // process takes a moment to be gone (a large one tears down its memory first).
        let started = Instant::now();
        while group_alive(self.child.id()) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn program_exists(program: &std::ffi::OsStr) -> bool {
    let p = std::path::Path::new(program);
    if p.components().count() > 1 {
        return p.is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(p).is_file()))
        .unwrap_or(false)
}

/// Whether a live (not zombie) process is in group `pgid`, read from `/proc`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// Which S3 implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// `s3s-fs` (`$S3S_FS_BIN`, else on `PATH`).
    S3sFs,
    /// moto's server mode (`$MOTO_SERVER_BIN`, else `moto_server` on `PATH`).
    Moto,
    /// `s3rver` (`$S3RVER_BIN`, else on `PATH`): ignores conditional writes.
    S3rver,
}

impl S3Kind {
    pub const ALL: [S3Kind; 3] = [S3Kind::S3sFs, S3Kind::Moto, S3Kind::S3rver];

    pub fn name(self) -> &'static str {
        match self {
            S3Kind::S3sFs => "s3s-fs",
            S3Kind::Moto => "moto_server",
            S3Kind::S3rver => "s3rver",
        }
    }

    fn bin(self) -> String {
        let (var, default) = match self {
            S3Kind::S3sFs => ("S3S_FS_BIN", "s3s-fs"),
            S3Kind::Moto => ("MOTO_SERVER_BIN", "moto_server"),
            S3Kind::S3rver => ("S3RVER_BIN", "s3rver"),
        };
        std::env::var(var).unwrap_or_else(|_| default.into())
    }

    /// Whether the implementation refuses a create-only write of an existing key.
    pub fn honours_conditional_writes(self) -> bool {
        !matches!(self, S3Kind::S3rver)
    }
}

/// A running S3 server; stopped and its folder removed on drop.
pub struct S3Server {
    pub kind: S3Kind,
    /// Always `Some` until dropped.
    process: Option<TestProcess>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    pub access_key: String,
    pub secret_key: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // The process first (its guard kills and reaps it), then its folder.
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn io(e: std::io::Error) -> StorageError {
    StorageError::Source(e)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io)?
        .port())
}

impl S3Server {
    /// Starts `s3s-fs` with bucket `bucket`.
    pub fn start(bucket: &str) -> Result<Self> {
        Self::start_kind(S3Kind::S3sFs, bucket)
    }

    /// Starts one of the implementations with bucket `bucket`, listening when this returns.
    pub fn start_kind(kind: S3Kind, bucket: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let port = free_port()?;
        let data_dir = std::env::temp_dir().join(format!(
            "companion-s3-{}-{}-{port}-{}",
            kind.name(),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&data_dir).map_err(io)?;
        let bin = kind.bin();
        let mut cmd = Command::new(&bin);
        let (access_key, secret_key) = match kind {
            S3Kind::S3sFs => {
                // A bucket is a folder in s3s-fs's data directory.
                std::fs::create_dir_all(data_dir.join(bucket)).map_err(io)?;
                cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(&data_dir);
                (ACCESS_KEY, SECRET_KEY)
            }
            S3Kind::Moto => {
                cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                (ACCESS_KEY, SECRET_KEY)
            }
            S3Kind::S3rver => {
                cmd.arg("-d")
                    .arg(&data_dir)
                    .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--silent"])
                    .args(["--configure-bucket", bucket]);
                (S3RVER_KEY, S3RVER_KEY)
            }
        };
        let log =
            std::env::var_os("COMPANION_TEST_SERVER_LOG").map(|_| data_dir.with_extension("log"));
        let process = TestProcess::spawn(kind.name(), &cmd, log.as_deref()).map_err(|e| {
            StorageError::Source(std::io::Error::new(
                e.kind(),
                format!(
                    "cannot start {bin} ({e}); install it with scripts/test.sh or set {}",
                    match kind {
                        S3Kind::S3sFs => "S3S_FS_BIN",
                        S3Kind::Moto => "MOTO_SERVER_BIN",
                        S3Kind::S3rver => "S3RVER_BIN",
                    }
                ),
            ))
        })?;
        let server = Self {
            kind,
            process: Some(process),
            endpoint: format!("http://127.0.0.1:{port}"),
            data_dir,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(io(std::io::Error::other(format!(
                    "{} did not start listening",
                    kind.name()
                ))));
            }
            if !server.process().is_some_and(TestProcess::group_alive) {
                return Err(io(std::io::Error::other(format!(
                    "{} exited at start",
                    kind.name()
                ))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if kind == S3Kind::Moto {
            // moto starts empty; it takes an unsigned CreateBucket.
            create_bucket_unsigned(port, bucket)?;
        }
        Ok(server)
    }

    /// One s3s-fs server per test process, with bucket [`SHARED_BUCKET`] and the `AWS_*`
    /// variables set; suites keep apart by key prefix. Held in a `static`, so never dropped:
    /// the watchdog stops it when the test process ends.
    pub fn shared() -> &'static S3Server {
        static SERVER: std::sync::OnceLock<S3Server> = std::sync::OnceLock::new();
        SERVER.get_or_init(|| {
            let server = S3Server::start(SHARED_BUCKET)
                .expect("s3s-fs (run scripts/test.sh to install it, or set S3S_FS_BIN)");
            server.export_env();
            server
        })
    }

    /// Sets the `AWS_*` variables for this server (tests in one process share one server).
    pub fn export_env(&self) {
        // SAFETY: called once per test process before any storage is opened from another thread.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", &self.access_key);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", &self.secret_key);
            std::env::set_var("AWS_ENDPOINT_URL", &self.endpoint);
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    }

    /// The variables [`Storage::from_url`] reads, for a child process (CLI tests).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A store on this server's `bucket` under `prefix` (empty: none), configured explicitly
    /// (the environment is not read), so one test process can use several servers.
    pub fn storage(&self, bucket: &str, prefix: &str) -> Result<Storage> {
        Storage::s3_explicit(
            &self.endpoint,
            &self.access_key,
            &self.secret_key,
            bucket,
            prefix,
        )
    }

    /// A raw `object_store` client of this server (tests that write behind the product's back).
    pub fn raw_client(&self, bucket: &str) -> Result<object_store::aws::AmazonS3> {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .build()
            .map_err(StorageError::Store)
    }

    /// Where s3s-fs keeps `key` of `bucket` on disk (tests that corrupt objects).
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.data_dir.join(bucket).join(key)
    }

    /// The server's process guard (tests of the clean-up).
    pub fn process(&self) -> Option<&TestProcess> {
        self.process.as_ref()
    }
}

/// `PUT /bucket` over plain HTTP/1.1, retried while the server warms up.
fn create_bucket_unsigned(port: u16, bucket: &str) -> Result<()> {
    use std::io::{Read, Write};
    let started = Instant::now();
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                s,
                "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            let mut answer = String::new();
            s.read_to_string(&mut answer)?;
            Ok(answer)
        })();
        match attempt {
            Ok(a) if a.starts_with("HTTP/1.1 200") || a.starts_with("HTTP/1.0 200") => {
                return Ok(());
            }
            other => {
                if started.elapsed() > Duration::from_secs(20) {
                    return Err(io(std::io::Error::other(format!(
                        "creating bucket {bucket} failed: {other:?}"
                    ))));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A throw-away local store in a temporary folder (removed on drop).
pub struct LocalStore {
    pub storage: Storage,
    pub dir: PathBuf,
}

impl LocalStore {
    pub fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "companion-objects-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let storage = Storage::from_url(&format!("file://{}", dir.display()))?;
        Ok(Self { storage, dir })
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}
