//! Logging (text or JSON lines, to stderr) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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

/// The process-wide metrics handle; contract metrics exist from the start (at zero).
pub fn metrics() -> Option<PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().install_recorder().ok()?;
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
                metrics::counter!("companion_whatsapp_messages_total", "status" => status)
                    .absolute(0);
            }
            Some(handle)
        })
        .clone()
}
