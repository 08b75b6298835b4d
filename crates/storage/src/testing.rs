//! A real S3-compatible server for tests: `s3s-fs` (installed by `scripts/test.sh`) started on a
//! free loopback port with its own folder, and a bucket in it. No mock of S3 anywhere.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, Storage, StorageError};

pub const ACCESS_KEY: &str = "companion-test";
pub const SECRET_KEY: &str = "companion-test-secret";
/// The bucket of [`S3Server::shared`].
pub const SHARED_BUCKET: &str = "companion";

/// A running `s3s-fs`; stopped and its folder removed on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub data_dir: PathBuf,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn io(e: std::io::Error) -> StorageError {
    StorageError::Source(e)
}

impl S3Server {
    /// Starts `s3s-fs` (`$S3S_FS_BIN`, else on `PATH`) with bucket `bucket`.
    pub fn start(bucket: &str) -> Result<Self> {
        let bin = std::env::var("S3S_FS_BIN").unwrap_or_else(|_| "s3s-fs".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io)?
            .port();
        let data_dir =
            std::env::temp_dir().join(format!("companion-s3-{}-{port}", std::process::id()));
        // A bucket is a folder in s3s-fs's data directory.
        std::fs::create_dir_all(data_dir.join(bucket)).map_err(io)?;
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                StorageError::Source(std::io::Error::new(
                    e.kind(),
                    format!("cannot start {bin} ({e}); install it with scripts/test.sh or set S3S_FS_BIN"),
                ))
            })?;
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            data_dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err(io(std::io::Error::other("s3s-fs did not start listening")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// One server per test process, with bucket [`SHARED_BUCKET`] and the `AWS_*` variables
    /// set; suites keep apart by key prefix.
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
            std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
            std::env::set_var("AWS_ENDPOINT_URL", &self.endpoint);
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    }

    /// Where s3s-fs keeps `key` of `bucket` on disk (tests that corrupt objects).
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.data_dir.join(bucket).join(key)
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
