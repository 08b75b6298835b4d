//! `/metrics` of a running server against Prometheus' own checker and `docs/metrics.md`:
//! `promtool check metrics` passes; every family has HELP and TYPE; durations are histograms;
//! the families the office's monitoring asks for are there; every exposed family is documented
//! with its type and labels. The alert rules pass `promtool check rules`, and the alert rules and
//! the Grafana dashboard (`deploy/`) query only documented metrics.
//!
//! promtool comes from the Debian package `prometheus`, installed by `scripts/test.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use companion_db::testing::TestDb;
use companion_simulators::{BsreSim, BsreSimConfig, BsreSimUser, SicantikSim, SicantikSimConfig};

mod common;
use common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// One family as `docs/metrics.md` describes it.
#[derive(Debug)]
struct Documented {
    kind: String,
    labels: BTreeSet<String>,
}

/// The cells of a Markdown table row (`\|` is a `|` inside a cell).
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(cell) = out.last_mut() {
                    cell.push('|');
                }
            }
            '|' => out.push(String::new()),
            c => {
                if let Some(cell) = out.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The reference tables of `docs/metrics.md`: name → type and labels.
fn documented() -> BTreeMap<String, Documented> {
    let mut out = BTreeMap::new();
    for line in repo_file("docs/metrics.md").lines() {
        if !line.starts_with("| `companion_") {
            continue;
        }
        let c = cells(line);
        assert!(c.len() >= 5, "a metrics row has 5 cells: {line}");
        let name = c[0].trim_matches('`').to_string();
        let labels = if c[2] == "—" {
            BTreeSet::new()
        } else {
            c[2].split(',')
                .map(|l| l.trim().trim_matches('`').to_string())
                .collect()
        };
        assert!(
            !c[4].is_empty(),
            "{name}: every metric has an example alert"
        );
        let previous = out.insert(
            name.clone(),
            Documented {
                kind: c[1].clone(),
                labels,
            },
        );
        assert!(previous.is_none(), "{name} is documented twice");
    }
    assert!(out.len() > 20, "docs/metrics.md lists the metrics");
    out
}

/// One family as the exposition shows it.
#[derive(Debug, Default)]
struct Family {
    help: bool,
    kind: Option<String>,
    labels: BTreeSet<String>,
    samples: usize,
}

/// The label names of `{a="x",b="y, \"z\""}` (values may hold commas and escaped quotes).
fn label_names(inside: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = inside.chars();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name.trim().trim_start_matches(',').trim();
        if name.is_empty() {
            return names;
        }
        names.insert(name.to_string());
        assert_eq!(chars.next(), Some('"'), "a label value is quoted: {inside}");
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
    }
}

fn parse_exposition(body: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(!help.trim().is_empty(), "{name}: empty HELP");
            families.entry(name.to_string()).or_default().help = true;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().kind = Some(kind.trim().to_string());
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..end];
            let labels = match (line.find('{'), line.rfind('}')) {
                (Some(a), Some(b)) if a < b => label_names(&line[a + 1..b]),
                _ => BTreeSet::new(),
            };
            samples.push((name.to_string(), labels));
        }
    }
    for (name, mut labels) in samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|base| {
                families
                    .get(*base)
                    .is_some_and(|f| f.kind.as_deref() == Some("histogram"))
            })
            .map(str::to_string)
            .unwrap_or(name);
        labels.remove("le");
        let f = families.entry(family).or_default();
        f.labels.extend(labels);
        f.samples += 1;
    }
    families
}

/// Metric names a PromQL expression uses (histogram series named by their family).
fn queried(expr: &str, docs: &BTreeMap<String, Documented>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("companion_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|base| docs.get(*base).is_some_and(|d| d.kind == "histogram"))
            .unwrap_or(name);
        out.insert(family.to_string());
        rest = &tail[end..];
    }
    out
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed by scripts/test.sh");
    if let Some(input) = stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        pipe.write_all(input.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool output");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the office's monitoring asks for, and the rest that a fresh server with a local signer
/// and one sync behind it must show.
const MUST_APPEAR: &[&str] = &[
    // design contract
    "companion_sync_permits_total",
    "companion_documents_signed_total",
    "companion_verifications_total",
    "companion_whatsapp_messages_total",
    // signature failures by reason; signer certificate expiry
    "companion_signing_failures_total",
    "companion_signer_certificate_not_after_timestamp_seconds",
    "companion_signing_items_stalled",
    // SICANTIK latency / success / errors by endpoint
    "companion_sicantik_calls_total",
    "companion_sicantik_call_duration_seconds",
    // sync completeness
    "companion_sync_runs_total",
    "companion_sync_last_run_timestamp_seconds",
    "companion_sync_last_run_complete",
    "companion_sync_last_complete_full_timestamp_seconds",
    "companion_sync_failed_pages",
    "companion_sync_missing_permits",
    "companion_issued_permits",
    "companion_expiry_lookups_total",
    // service
    "companion_http_requests_total",
    "companion_http_request_duration_seconds",
    "companion_job_runs_total",
    "companion_job_duration_seconds",
    "companion_build_info",
];

const HISTOGRAMS: &[&str] = &[
    "companion_sicantik_call_duration_seconds",
    "companion_http_request_duration_seconds",
    "companion_job_duration_seconds",
];

companion_db::on_both_backends!(metrics_of_a_live_server_pass_promtool_and_are_documented);

async fn metrics_of_a_live_server_pass_promtool_and_are_documented(backend: &str) {
    let sim = SicantikSim::start(
        SicantikSimConfig {
            permits: 90,
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sicantik");
    let t = TestDb::new(backend).await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let command = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &t.url)
            .env("SICANTIK_BASE_URL", sim.base_url())
            .env("SICANTIK_RATE_LIMIT", "1000")
            .env(
                "STORAGE_URL",
                format!("file://{}", dir.path().join("objects").display()),
            )
            .env("KEYS_DIR", dir.path().join("keys"))
            .env("DATA_DIR", dir.path())
            .env("INBOX_DIR", "")
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .env("RUST_LOG", "warn");
        cmd
    };
    for args in [&["keys", "init"][..], &["sync", "--once"][..]] {
        let out = command(args).output().expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _server = Server(
        command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let scrape = || async {
        match http.get(format!("{base}/metrics")).send().await {
            Ok(r) if r.status() == 200 => {
                let typed = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/plain"));
                assert!(typed, "/metrics is text/plain");
                r.text().await.ok()
            }
            _ => None,
        }
    };
    // Traffic of a few kinds, then wait for the at-start sync job to have run and been timed.
    let started = Instant::now();
    let body = loop {
        for path in ["/healthz", "/periksa", "/tidak-ada"] {
            let _ = http.get(format!("{base}{path}")).send().await;
        }
        if let Some(body) = scrape().await
            && body.contains("companion_job_duration_seconds_bucket")
            && body.contains("companion_sicantik_call_duration_seconds_bucket")
        {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the server never showed its sync job in /metrics"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // Prometheus' own checker: the format, HELP, naming and histogram rules.
    let (ok, said) = promtool(&["check", "metrics"], Some(&body));
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n---\n{body}"
    );

    let families = parse_exposition(&body);
    for (name, f) in &families {
        assert!(f.help, "{name} has no HELP");
        assert!(f.kind.is_some(), "{name} has no TYPE");
        assert_ne!(f.kind.as_deref(), Some("summary"), "{name} is a summary");
        assert!(f.samples > 0, "{name} has HELP/TYPE but no sample");
    }
    for name in MUST_APPEAR {
        assert!(
            families.contains_key(*name),
            "{name} is missing from /metrics"
        );
    }
    for name in HISTOGRAMS {
        assert_eq!(
            families[*name].kind.as_deref(),
            Some("histogram"),
            "{name} is a histogram"
        );
    }
    let le: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("companion_http_request_duration_seconds_bucket{"))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        le.contains(&"0.005") && le.contains(&"+Inf"),
        "HTTP durations have sensible buckets: {le:?}"
    );

    // Every exposed family is documented, with the same type and labels.
    let docs = documented();
    for (name, f) in &families {
        let d = docs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in docs/metrics.md"));
        assert_eq!(f.kind.as_deref(), Some(d.kind.as_str()), "{name}: type");
        assert_eq!(f.labels, d.labels, "{name}: labels");
    }
    // The values say what happened: one complete full sync, a local certificate in the future.
    let value = |prefix: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no sample {prefix}"))
    };
    assert_eq!(
        value("companion_sync_last_run_complete{kind=\"list_full\"}"),
        1.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        value("companion_signer_certificate_not_after_timestamp_seconds{signer=\"local\"") > now
    );
    assert!(value("companion_sync_last_complete_full_timestamp_seconds") <= now + 1.0);
    t.cleanup().await.expect("cleanup");
}

/// With `SIGNER=bsre`, each official's certificate status (checked at start-up) is on `/metrics`,
/// by account name and never by NIK; an official BSrE does not know reads `NOT_REGISTERED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bsre_certificate_status_of_each_official_is_on_metrics() {
    let user = |nik: &str, status: &str| BsreSimUser {
        nik: nik.into(),
        name: format!("Pejabat {nik}"),
        passphrase: "rahasia-uji".into(),
        status: status.into(),
    };
    let bsre = BsreSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        BsreSimConfig {
            username: "karo-client".into(),
            password: "kredensial-uji".into(),
            users: vec![
                user("1207010101800001", "ISSUE"),
                user("1207010101800002", "EXPIRED"),
            ],
            latency: Duration::from_millis(5),
        },
    )
    .await
    .expect("bsre");
    let t = TestDb::new("sqlite").await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let command = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &t.url)
            .env("SICANTIK_BASE_URL", "http://127.0.0.1:9")
            .env(
                "STORAGE_URL",
                format!("file://{}", dir.path().join("objects").display()),
            )
            .env("KEYS_DIR", dir.path().join("keys"))
            .env("DATA_DIR", dir.path())
            .env("INBOX_DIR", "")
            .env("SIGNER", "bsre")
            .env("BSRE_BASE_URL", bsre.url())
            .env("BSRE_USERNAME", "karo-client")
            .env("BSRE_PASSWORD", "kredensial-uji")
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .env("RUST_LOG", "warn");
        cmd
    };
    // The seal key (the QR's signature) is made here; BSrE signs the PDFs.
    let out = command(&["keys", "init"]).output().expect("keys");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, nik) in [
        ("pejabat.aktif", "1207010101800001"),
        ("pejabat.lewat", "1207010101800002"),
        ("pejabat.asing", "1207010101800009"),
    ] {
        for args in [
            &["user", "add", name, "--role", "official"][..],
            &["user", "nik", name, nik][..],
        ] {
            let out = command(args).output().expect("run");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let log = dir.path().join("serve.log");
    let _server = Server(
        command(&["serve"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("serve"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let wanted = [
        "companion_bsre_user_status{official=\"pejabat.aktif\",status=\"ISSUE\"} 1",
        "companion_bsre_user_status{official=\"pejabat.lewat\",status=\"EXPIRED\"} 1",
        "companion_bsre_user_status{official=\"pejabat.asing\",status=\"NOT_REGISTERED\"} 1",
    ];
    let started = Instant::now();
    let mut last = String::new();
    let body = loop {
        if let Ok(r) = http.get(format!("{base}/metrics")).send().await
            && r.status() == 200
            && let Ok(body) = r.text().await
        {
            if wanted.iter().all(|w| body.lines().any(|l| l == *w)) {
                break body;
            }
            last = body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the officials' BSrE status never showed on /metrics:\n{}\n--- serve log:\n{}",
            last.lines()
                .filter(|l| l.contains("bsre"))
                .collect::<Vec<_>>()
                .join("\n"),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(!body.contains("120701010180000"), "a NIK is never a label");
    let (ok, said) = promtool(&["check", "metrics"], Some(&body));
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );
    t.cleanup().await.expect("cleanup");
}

#[test]
fn alert_rules_pass_promtool_and_query_documented_metrics() {
    let path = format!(
        "{}/../../deploy/prometheus/alerts.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (ok, said) = promtool(&["check", "rules", &path], None);
    assert!(ok, "promtool check rules:\n{said}");
    let docs = documented();
    let rules = repo_file("deploy/prometheus/alerts.yml");
    let used = queried(&rules, &docs);
    assert!(used.len() > 15, "the rules cover the metrics: {used:?}");
    for name in used {
        assert!(
            docs.contains_key(&name),
            "alerts.yml uses {name}, not in docs/metrics.md"
        );
    }
}

fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query" | "definition", serde_json::Value::String(s)) => {
                        out.push(s.clone())
                    }
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_queries_only_documented_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/grafana/sicantik-companion.json"))
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "sicantik-companion");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut all = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let mut own = Vec::new();
        exprs(&p["targets"], &mut own);
        assert!(!own.is_empty(), "panel {} queries something", p["title"]);
        all.extend(own);
    }
    exprs(&dashboard["templating"], &mut all);
    let docs = documented();
    let mut used = BTreeSet::new();
    for e in &all {
        used.extend(queried(e, &docs));
    }
    for name in &used {
        assert!(
            docs.contains_key(name),
            "the dashboard queries {name}, not in docs/metrics.md"
        );
    }
    // What the office's monitoring asks for is on the dashboard.
    for asked in [
        "companion_signing_failures_total",
        "companion_signer_certificate_not_after_timestamp_seconds",
        "companion_bsre_user_status",
        "companion_sicantik_calls_total",
        "companion_sicantik_call_duration_seconds",
        "companion_sync_last_run_complete",
        "companion_sync_last_complete_full_timestamp_seconds",
        "companion_sync_failed_pages",
        "companion_sync_missing_permits",
    ] {
        assert!(used.contains(asked), "the dashboard shows {asked}");
    }
}
