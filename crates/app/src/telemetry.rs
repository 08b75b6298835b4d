//! Logging (text or JSON lines, to stderr) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::Settings;

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

pub struct Guard;

pub fn init(settings: &Settings) -> Guard {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Guard
}

/// What a family is, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    #[allow(dead_code)] // read by the tests that hold the catalogue against docs/metrics.md
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family: its name, type, labels and the HELP text (`docs/metrics.md` says more).
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    #[allow(dead_code)] // as `as_str`: the label names docs/metrics.md must list
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// Upper bounds of a histogram's buckets (seconds); empty for the others.
    pub buckets: &'static [f64],
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        labels,
        help,
        buckets: &[],
    }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        labels,
        help,
        buckets: &[],
    }
}

const fn histogram(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    buckets: &'static [f64],
) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        labels,
        help,
        buckets,
    }
}

/// A page or an API answer: milliseconds to a few seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// One call to SICANTIK over the office's slow link: tens of milliseconds to the 30 s timeout.
const SICANTIK_BUCKETS: &[f64] = &[
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];
/// A scheduled job: a second's inbox scan to an hour's full expiry sync.
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];
/// Any histogram not in the catalogue (there should be none): a wide default, never a summary.
const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 3600.0,
];

/// Every metric the product exports. The names marked in `docs/metrics.md` as the design
/// contract (`../shared/design.md`) never change; a test checks the document against this list
/// and the live `/metrics` against both.
pub const CATALOGUE: &[Metric] = &[
    // --- contract (design.md)
    counter(
        "companion_sync_permits_total",
        &["result"],
        "Permits the list sync wrote, by result (inserted, updated, unchanged, skipped_invalid).",
    ),
    counter(
        "companion_documents_signed_total",
        &[],
        "Documents signed: a signed file stored and its case marked signed.",
    ),
    counter(
        "companion_verifications_total",
        &["result"],
        "Public portal verifications, by verdict.",
    ),
    counter(
        "companion_whatsapp_messages_total",
        &["status"],
        "WhatsApp messages by delivery step reached (queued, sent, delivered, read, failed).",
    ),
    // --- SICANTIK and the sync
    counter(
        "companion_sicantik_calls_total",
        &["endpoint", "outcome"],
        "Calls to the SICANTIK API by endpoint and outcome (ok, not_found, timeout, error); every retry counts.",
    ),
    histogram(
        "companion_sicantik_call_duration_seconds",
        &["endpoint"],
        "Duration of one call to the SICANTIK API, by endpoint.",
        SICANTIK_BUCKETS,
    ),
    counter(
        "companion_sync_runs_total",
        &["kind", "outcome"],
        "List sync runs this process finished, by kind (list_full, list_incremental) and outcome (succeeded, partial, failed).",
    ),
    gauge(
        "companion_sync_last_run_timestamp_seconds",
        &["kind"],
        "When the newest finished sync run of each kind ended (Unix time), from the recorded runs.",
    ),
    gauge(
        "companion_sync_last_run_complete",
        &["kind"],
        "1 when the newest finished sync run of the kind succeeded (read every list to SICANTIK's end signal), else 0.",
    ),
    gauge(
        "companion_sync_last_complete_full_timestamp_seconds",
        &[],
        "When the last complete (succeeded) full list sync ended (Unix time).",
    ),
    gauge(
        "companion_sync_failed_pages",
        &["list"],
        "Pages of a SICANTIK list the newest list run could not read after every retry (the next run reads them first).",
    ),
    gauge(
        "companion_sync_missing_permits",
        &["list"],
        "Permits stored here with the list's status that the newest full run no longer saw in SICANTIK's list.",
    ),
    counter(
        "companion_expiry_lookups_total",
        &["result"],
        "Expiry-date look-ups (cekperizinan) by result (found, not_registered, no_expiry, error).",
    ),
    gauge(
        "companion_issued_permits",
        &["expiry_status"],
        "Issued permits by the state of their expiry date (unknown = not yet looked up).",
    ),
    // --- signing
    counter(
        "companion_signing_failures_total",
        &["reason"],
        "Signing attempts that failed (or were refused before signing), by reason.",
    ),
    gauge(
        "companion_signer_certificate_not_after_timestamp_seconds",
        &["signer", "subject"],
        "End of validity (Unix time) of each signer certificate in use: the local one, or each BSrE official's newest.",
    ),
    gauge(
        "companion_bsre_user_status",
        &["official", "status"],
        "BSrE certificate status of an official as last checked: 1 for the current status (ISSUE is usable), 0 for an earlier one.",
    ),
    gauge(
        "companion_signing_items_stalled",
        &[],
        "Documents of signing jobs signing for longer than the stall limit (SIGNING_STALL_SECONDS).",
    ),
    // --- documents
    counter(
        "companion_documents_imported_total",
        &["source", "result"],
        "PDF imports by source (upload, api, inbox, cli, demo, signing) and result (stored, duplicate, or the refusal code).",
    ),
    gauge(
        "companion_documents_integrity_problems",
        &[],
        "Missing, altered and unrecorded objects found by the last integrity check of the store.",
    ),
    gauge(
        "companion_documents_integrity_check_timestamp_seconds",
        &[],
        "When the last integrity check of the store finished (Unix time).",
    ),
    counter(
        "companion_document_link_downloads_total",
        &["result"],
        "Downloads through applicants' signed links, by result (ok, expired, revoked, invalid, error).",
    ),
    // --- portal
    counter(
        "companion_portal_rate_limited_total",
        &[],
        "Public portal requests refused by the per-client limit.",
    ),
    counter(
        "companion_verification_log_dropped_total",
        &[],
        "Portal checks that could not be written to the verification log.",
    ),
    counter(
        "companion_portal_uploads_refused_total",
        &["reason"],
        "Portal PDF checks asked to try again because the upload gate was full (reason busy).",
    ),
    // --- retention
    counter(
        "companion_retention_removed_total",
        &["log"],
        "Entries the retention policy removed or stripped, by log.",
    ),
    // --- satisfaction survey (SKM)
    counter(
        "companion_survey_invitations_total",
        &[],
        "Survey invitations queued to applicants of published permits.",
    ),
    counter(
        "companion_survey_answers_total",
        &["outcome"],
        "Survey answers submitted, by outcome (stored, already_answered, expired, unknown).",
    ),
    // --- long-term validity
    counter(
        "companion_archive_renewals_total",
        &["outcome"],
        "Archive-timestamp renewal checks, by outcome (renewed, resumed, scheduled, stopped, failed).",
    ),
    // --- application tracking (/lacak)
    counter(
        "companion_tracking_requests_total",
        &["outcome"],
        "Tracking requests on /lacak, by outcome (found, not_found, too_many_attempts).",
    ),
    counter(
        "companion_tracking_lookups_total",
        &["source"],
        "SICANTIK tracking look-ups, by where the answer came from (live, no_steps, cached, unavailable).",
    ),
    // --- WhatsApp
    gauge(
        "companion_whatsapp_outbox_messages",
        &["state"],
        "WhatsApp messages in the outbox by state (the queued ones are the backlog).",
    ),
    counter(
        "companion_whatsapp_webhooks_total",
        &["result"],
        "Provider webhooks received, by result (ok, unauthorized).",
    ),
    counter(
        "companion_whatsapp_invalid_numbers_total",
        &[],
        "Messages not queued because the phone number is not a valid WhatsApp number.",
    ),
    counter(
        "companion_whatsapp_daftar_total",
        &["outcome"],
        "DAFTAR opt-in replies, by outcome (accepted, held for staff to confirm).",
    ),
    // --- HTTP and jobs
    counter(
        "companion_http_requests_total",
        &["method", "route", "status"],
        "HTTP requests by method, matched route and status code.",
    ),
    histogram(
        "companion_http_request_duration_seconds",
        &["method", "route"],
        "HTTP request duration by method and matched route.",
        HTTP_BUCKETS,
    ),
    counter(
        "companion_job_runs_total",
        &["job", "outcome"],
        "Scheduled job runs by job and outcome (succeeded, failed).",
    ),
    histogram(
        "companion_job_duration_seconds",
        &["job"],
        "Duration of a scheduled job run.",
        JOB_BUCKETS,
    ),
    gauge(
        "companion_build_info",
        &["version"],
        "Always 1; the version label names the running build.",
    ),
];

/// The process-wide metrics handle: every family described (HELP), histograms with buckets,
/// and the families whose label values are known up front present from the start (at zero).
pub fn metrics() -> Option<PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for m in CATALOGUE.iter().filter(|m| m.kind == Kind::Histogram) {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(m.name.to_string()), m.buckets)
                    .ok()?;
            }
            let builder = builder
                // Every other histogram (full matches win over prefixes): never a summary.
                .set_buckets_for_metric(Matcher::Prefix(String::new()), DEFAULT_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            for m in CATALOGUE {
                match m.kind {
                    Kind::Counter => metrics::describe_counter!(m.name, m.help),
                    Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
                    Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
                }
            }
            register_known();
            Some(handle)
        })
        .clone()
}

fn register_known() {
    for result in ["inserted", "updated", "unchanged", "skipped_invalid"] {
        metrics::counter!("companion_sync_permits_total", "result" => result).absolute(0);
    }
    metrics::counter!("companion_documents_signed_total").absolute(0);
    for result in [
        "asli",
        "dicabut",
        "kedaluwarsa",
        "tidak_dikenal",
        "tidak_asli",
        "tidak_dapat_dipastikan",
    ] {
        metrics::counter!("companion_verifications_total", "result" => result).absolute(0);
    }
    for status in ["queued", "sent", "delivered", "read", "failed"] {
        metrics::counter!("companion_whatsapp_messages_total", "status" => status).absolute(0);
    }
    for kind in ["list_full", "list_incremental"] {
        for outcome in ["succeeded", "partial", "failed"] {
            metrics::counter!("companion_sync_runs_total", "kind" => kind, "outcome" => outcome)
                .absolute(0);
        }
    }
    for result in ["found", "not_registered", "no_expiry", "error"] {
        metrics::counter!("companion_expiry_lookups_total", "result" => result).absolute(0);
    }
    for result in ["ok", "expired", "revoked", "invalid", "error"] {
        metrics::counter!("companion_document_link_downloads_total", "result" => result)
            .absolute(0);
    }
    for result in ["ok", "unauthorized"] {
        metrics::counter!("companion_whatsapp_webhooks_total", "result" => result).absolute(0);
    }
    metrics::counter!("companion_portal_uploads_refused_total", "reason" => "busy").absolute(0);
    for log in [
        "sicantik_calls",
        "whatsapp_messages",
        "whatsapp_receipts",
        "daftar_requests",
        "verification_addresses",
    ] {
        metrics::counter!("companion_retention_removed_total", "log" => log).absolute(0);
    }
    for outcome in ["stored", "already_answered", "expired", "unknown"] {
        metrics::counter!("companion_survey_answers_total", "outcome" => outcome).absolute(0);
    }
    metrics::counter!("companion_survey_invitations_total").absolute(0);
    for outcome in ["renewed", "resumed", "scheduled", "stopped", "failed"] {
        metrics::counter!("companion_archive_renewals_total", "outcome" => outcome).absolute(0);
    }
    for outcome in ["found", "not_found", "too_many_attempts"] {
        metrics::counter!("companion_tracking_requests_total", "outcome" => outcome).absolute(0);
    }
    for source in ["live", "no_steps", "cached", "unavailable"] {
        metrics::counter!("companion_tracking_lookups_total", "source" => source).absolute(0);
    }
    for outcome in ["accepted", "held"] {
        metrics::counter!("companion_whatsapp_daftar_total", "outcome" => outcome).absolute(0);
    }
    for name in [
        "companion_portal_rate_limited_total",
        "companion_verification_log_dropped_total",
        "companion_whatsapp_invalid_numbers_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
    companion_signing::telemetry::register();
    metrics::gauge!("companion_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/metrics.md`'s reference rows: name → (type, labels).
    fn documented() -> std::collections::BTreeMap<String, (String, Vec<String>)> {
        let doc = include_str!("../../../docs/metrics.md");
        let mut out = std::collections::BTreeMap::new();
        for line in doc.lines().filter(|l| l.starts_with("| `companion_")) {
            let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let name = cells[0].trim_start_matches("| ").trim_matches('`');
            let labels = if cells[2] == "—" {
                Vec::new()
            } else {
                cells[2]
                    .split(',')
                    .map(|l| l.trim().trim_matches('`').to_string())
                    .collect()
            };
            out.insert(name.to_string(), (cells[1].to_string(), labels));
        }
        out
    }

    #[test]
    fn the_catalogue_and_docs_metrics_md_agree() {
        let docs = documented();
        for m in CATALOGUE {
            let (kind, labels) = docs
                .get(m.name)
                .unwrap_or_else(|| panic!("{} is not in docs/metrics.md", m.name));
            assert_eq!(kind, m.kind.as_str(), "{}: type", m.name);
            assert_eq!(labels, &m.labels.to_vec(), "{}: labels", m.name);
        }
        for name in docs.keys() {
            assert!(
                CATALOGUE.iter().any(|m| m.name == name),
                "{name} is documented but not in the catalogue"
            );
        }
        assert_eq!(docs.len(), CATALOGUE.len(), "no metric twice");
    }

    /// Every `.rs` file under `dir`.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// A metric recorded anywhere in the workspace's sources under a literal name is in the
    /// catalogue (so it has HELP, and docs/metrics.md describes it) — also one that a live
    /// server does not show until its event happens.
    #[test]
    fn every_metric_the_code_records_is_in_the_catalogue() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for krate in std::fs::read_dir(&crates).expect("crates").flatten() {
            sources(&krate.path().join("src"), &mut files);
        }
        assert!(files.len() > 20, "the sources are found");
        let mut found = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for macro_call in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_call) {
                    let rest = text[at + macro_call.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue; // a constant: checked below
                    };
                    let name = rest.split('"').next().unwrap_or_default();
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        continue; // not a metric name (e.g. this test's own strings)
                    }
                    found += 1;
                    assert!(
                        CATALOGUE.iter().any(|m| m.name == name),
                        "{} records {name}: add it to telemetry::CATALOGUE and docs/metrics.md",
                        file.display()
                    );
                }
            }
        }
        assert!(found > 20, "the metric calls are found");
        for name in [
            companion_signing::telemetry::FAILURES,
            companion_signing::telemetry::BSRE_USER_STATUS,
            "companion_signer_certificate_not_after_timestamp_seconds", // state_metrics' GAUGE
        ] {
            assert!(CATALOGUE.iter().any(|m| m.name == name), "{name}");
        }
    }

    #[test]
    fn names_follow_the_contract_and_prometheus_conventions() {
        // design.md names these four; they never change.
        for contract in [
            "companion_sync_permits_total",
            "companion_documents_signed_total",
            "companion_verifications_total",
            "companion_whatsapp_messages_total",
        ] {
            assert!(CATALOGUE.iter().any(|m| m.name == contract), "{contract}");
        }
        for m in CATALOGUE {
            assert!(m.name.starts_with("companion_"), "{}", m.name);
            assert!(!m.help.trim().is_empty(), "{}: HELP", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            if m.kind == Kind::Histogram {
                assert!(m.name.ends_with("_seconds"), "{}", m.name);
                assert!(m.buckets.len() >= 8, "{}: enough buckets", m.name);
                assert!(
                    m.buckets.windows(2).all(|w| w[0] < w[1]),
                    "{}: increasing buckets",
                    m.name
                );
            } else {
                assert!(m.buckets.is_empty(), "{}", m.name);
            }
            for l in m.labels {
                assert!(
                    !["le", "quantile"].contains(l),
                    "{}: reserved label",
                    m.name
                );
            }
        }
    }
}
