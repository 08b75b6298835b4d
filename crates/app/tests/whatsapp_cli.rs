//! The WhatsApp dispatcher through the real binary against the simulator (Meta's wire format,
//! signed receipts back to our webhook): 1,000 queued messages, `kill -9` of the server while it
//! sends them, a restart — and every message sent exactly once (the simulator counts per
//! reference), none lost, every one settled by the provider's answer or its receipt.

mod common;
use common::{free_port, whatsapp_env};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::MessageQuery;
use companion_db::testing::TestDb;
use companion_notify::templates::Event;
use companion_simulators::{WhatsappSim, WhatsappSimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");
const MESSAGES: usize = 1000;

fn serve(vars: &[(&str, String)], log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve")
}

async fn states(db: &companion_db::Database) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (state, n) in db.message_counts().await.expect("counts") {
        out.insert(state, n as usize);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dispatcher_loses_nothing_and_sends_nothing_twice() {
    let t = TestDb::new("sqlite").await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let event = Event::PendingReminder;
    let sim = WhatsappSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        WhatsappSimConfig {
            webhook_url: Some(format!("http://127.0.0.1:{port}/webhooks/whatsapp")),
            latency_ms: 3,
            receipt_delay_ms: 20,
            read_receipts: false,
            templates: vec![companion_simulators::SimTemplate::approved(
                event.provider_template(),
                "id",
                &companion_notify::templates::numbered(event, event.default_text("id")),
            )],
            ..Default::default()
        },
    )
    .await
    .expect("sim");
    let messages =
        companion_notify::testing::queued_messages(event, "kill-test", "+62812", 0..MESSAGES);
    assert_eq!(
        t.db.enqueue_messages(&messages).await.expect("enqueue"),
        MESSAGES as u64
    );
    let mut vars: Vec<(&str, String)> = vec![
        ("DATABASE_URL", t.url.clone()),
        (
            "STORAGE_URL",
            format!("file://{}/objects", dir.path().display()),
        ),
        ("DATA_DIR", dir.path().display().to_string()),
        ("KEYS_DIR", dir.path().join("keys").display().to_string()),
        ("INBOX_DIR", String::new()),
        ("LISTEN", format!("127.0.0.1:{port}")),
        ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}")),
        // No SICANTIK here: its schedule must not matter.
        ("SICANTIK_BASE_URL", "http://127.0.0.1:9/".into()),
        ("SCHEDULE_LIST_SYNC_MINUTES", "100000".into()),
        ("WHATSAPP_RATE_PER_DAY", "0".into()),
        ("RUST_LOG", "info".into()),
    ];
    vars.extend(whatsapp_env(&sim));
    let mut first = serve(&vars, &dir.path().join("first.log"));
    // Kill it part-way: a third of the messages taken by the provider.
    let started = Instant::now();
    while sim.accepted() < (MESSAGES / 3) as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the dispatcher never got going: {}",
            std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    let at_kill = sim.accepted();
    assert!(
        at_kill < MESSAGES as u64,
        "killed too late to test anything"
    );
    let before_restart = states(&t.db).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut second = serve(&vars, &dir.path().join("second.log"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = states(&t.db).await;
        let done: usize = ["sent", "delivered", "read"]
            .iter()
            .map(|k| s.get(*k).copied().unwrap_or(0))
            .sum();
        if done == MESSAGES && sim.webhooks_pending() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {s:?} (before restart {before_restart:?}, accepted {}), log: {}",
            sim.accepted(),
            std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.kill().expect("stop");
    second.wait().expect("reaped");

    assert_eq!(sim.accepted(), MESSAGES as u64, "each message taken once");
    assert_eq!(sim.max_per_reference(), 1, "no message sent twice");
    for i in [0, MESSAGES / 2, MESSAGES - 1] {
        let m = &t
            .db
            .list_messages(&MessageQuery {
                phone: Some(format!("62812{i:08}")),
                limit: 1,
                ..Default::default()
            })
            .await
            .expect("list")[0];
        assert_eq!(
            sim.count_for_reference(&companion_notify::service::reference(m.id)),
            1
        );
        assert!(m.provider_id.as_deref().unwrap_or("").starts_with("wamid."));
    }
    // Receipts came back through the signed webhook: most messages are delivered by now.
    let s = states(&t.db).await;
    assert!(
        s.get("delivered").copied().unwrap_or(0) > MESSAGES / 2,
        "{s:?}"
    );
    t.cleanup().await.expect("cleanup");
}
