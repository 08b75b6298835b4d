//! Two `serve` instances on one PostgreSQL database and one S3-compatible store (s3s-fs) behave
//! as one system: a session made on one is valid on the other; the at-start sync runs once for
//! both (one run per period); the WhatsApp rate limit holds over both; both dispatch the same
//! outbox without ever sending a message twice; and when one is killed (`kill -9`) mid-work the
//! other finishes its messages — none lost, none repeated.

mod common;
use common::{free_port, whatsapp_env};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::NewMessage;
use companion_db::testing::TestDb;
use companion_notify::templates::{Event, numbered};
use companion_simulators::{
    SicantikSim, SicantikSimConfig, SimTemplate, WhatsappSim, WhatsappSimConfig,
};
use companion_storage::testing::{ACCESS_KEY, S3Server, SECRET_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

struct Cluster {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn command(&self, args: &[&str], extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn serve(&self, name: &str, port: u16, extra: &[(&str, String)]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log");
        let mut vars = vec![
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}")),
        ];
        vars.extend(extra.iter().cloned());
        self.command(&["serve"], &vars)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

async fn wait_up(http: &reqwest::Client, port: u16) {
    let started = Instant::now();
    while http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "instance on {port} never ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn messages(event: Event, from: usize, to: usize) -> Vec<NewMessage> {
    companion_notify::testing::queued_messages(event, "cluster", "+62813", from..to)
}

async fn settled(db: &companion_db::Database) -> usize {
    db.message_counts()
        .await
        .expect("counts")
        .into_iter()
        .filter(|(s, _)| matches!(s.as_str(), "sent" | "delivered" | "read"))
        .map(|(_, n)| n as usize)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behave_as_one_system() {
    let t = TestDb::new("postgres").await.expect("db");
    let s3 = S3Server::start("cluster").expect("s3s-fs");
    let sicantik = SicantikSim::start(
        SicantikSimConfig {
            permits: 120,
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sicantik");
    let (pa, pb) = (free_port(), free_port());
    let event = Event::PendingReminder;
    let wa = WhatsappSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        WhatsappSimConfig {
            // Receipts go to B, the instance that survives.
            webhook_url: Some(format!("http://127.0.0.1:{pb}/webhooks/whatsapp")),
            latency_ms: 3,
            receipt_delay_ms: 20,
            read_receipts: false,
            templates: vec![SimTemplate::approved(
                event.provider_template(),
                "id",
                &numbered(event, event.default_text("id")),
            )],
            ..Default::default()
        },
    )
    .await
    .expect("whatsapp");
    let dir = tempfile::tempdir().expect("dir");
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", t.url.clone()),
        ("STORAGE_URL", "s3://cluster".to_string()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("KEYS_DIR", dir.path().join("keys").display().to_string()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("INBOX_DIR", String::new()),
        ("SICANTIK_BASE_URL", sicantik.base_url()),
        ("SICANTIK_RATE_LIMIT", "200".to_string()),
        ("SCHEDULE_LIST_SYNC_MINUTES", "60".to_string()),
        ("RUST_LOG", "info".to_string()),
    ]
    .into_iter()
    .chain(whatsapp_env(&wa))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let cluster = Cluster { env, dir };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");

    // One account, made from the command line against the shared database.
    let mut add = cluster
        .command(
            &[
                "user",
                "add",
                "kluster",
                "--role",
                "admin",
                "--password-stdin",
            ],
            &[],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    {
        use std::io::Write;
        add.stdin
            .take()
            .expect("stdin")
            .write_all(b"Kata-Sandi-Kluster-2026\n")
            .expect("password");
    }
    assert!(add.wait().expect("user add").success());

    // Phase 1: both instances, a daily limit of 100 messages and 150 waiting.
    t.db.enqueue_messages(&messages(event, 0, 150))
        .await
        .expect("enqueue");
    let limited = [("WHATSAPP_RATE_PER_DAY", "100".to_string())];
    let started_at = chrono::Utc::now();
    let a = cluster.serve("a1", pa, &limited);
    let b = cluster.serve("b1", pb, &limited);
    wait_up(&http, pa).await;
    wait_up(&http, pb).await;

    // A session made on A is valid on B.
    let form = http
        .get(format!("http://127.0.0.1:{pa}/masuk"))
        .send()
        .await
        .expect("login form");
    let csrf = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sc_login="))
        .and_then(|c| c.split(';').next())
        .expect("login cookie")
        .to_string();
    let login = http
        .post(format!("http://127.0.0.1:{pa}/masuk"))
        .header("cookie", format!("sc_login={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "kluster"),
            ("password", "Kata-Sandi-Kluster-2026"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sc_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let on_b = http
        .get(format!("http://127.0.0.1:{pb}/"))
        .header("cookie", &session)
        .send()
        .await
        .expect("dashboard on B");
    assert_eq!(
        on_b.status().as_u16(),
        200,
        "the session from A is not valid on B"
    );
    assert!(
        on_b.text()
            .await
            .unwrap_or_default()
            .contains("data-role-badge")
    );

    // The daily limit holds over both instances: exactly 100 go out, the rest wait.
    let started = Instant::now();
    while wa.accepted() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} sent",
            wa.accepted()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        wa.accepted(),
        100,
        "the daily limit was exceeded across instances"
    );

    // The at-start sync ran once for both (one run per period; the period is an hour).
    let started = Instant::now();
    while t.db.list_runs(10).await.expect("runs").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no sync ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = t.db.list_runs(10).await.expect("runs");
    let hours = {
        let (s, n) = (started_at, chrono::Utc::now());
        1 + (n.timestamp() / 3600 - s.timestamp() / 3600) as usize
    };
    assert!(
        runs.len() <= hours,
        "{} sync runs for {hours} period(s): {runs:?}",
        runs.len()
    );
    stop(a);
    stop(b);

    // Phase 2: no limit, 900 more; A is killed while both send. B finishes everything.
    t.db.enqueue_messages(&messages(event, 150, 1050))
        .await
        .expect("enqueue");
    let unlimited = [("WHATSAPP_RATE_PER_DAY", "0".to_string())];
    let mut a = cluster.serve("a2", pa, &unlimited);
    let b = cluster.serve("b2", pb, &unlimited);
    let started = Instant::now();
    while wa.accepted() < 400 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "dispatch stalled at {}: {}",
            wa.accepted(),
            cluster.log("a2")
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill().expect("kill -9");
    a.wait().expect("reaped");
    let started = Instant::now();
    loop {
        if settled(&t.db).await == 1050 && wa.webhooks_pending() == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not settled: {:?}, accepted {}; B's log: {}",
            t.db.message_counts().await,
            wa.accepted(),
            cluster.log("b2")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(b);
    assert_eq!(wa.accepted(), 1050, "every message taken once");
    assert_eq!(wa.max_per_reference(), 1, "no message sent twice");
    drop(s3);
    t.cleanup().await.expect("cleanup");
}
