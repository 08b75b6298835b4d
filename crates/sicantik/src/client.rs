//! The HTTP client for SICANTIK: asks for JSON (still reads XML), a per-host rate limit shared by
//! every caller, a timeout per call, retries with exponential backoff and jitter on timeouts,
//! transport errors, 5xx, empty bodies and HTML pages, and a log record for every attempt.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use companion_db::ApiCallRecord;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::wire::{Payload, RawRow, WireError, parse_body};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://perizinan.karokab.go.id/backoffice/api` (a trailing slash is ignored).
    pub base_url: String,
    pub timeout: Duration,
    /// Requests per second to the host, across all concurrent callers.
    pub rate_limit_per_sec: u32,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First retry delay; doubled each time, with jitter, capped at `retry_max_delay`.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: "https://perizinan.karokab.go.id/backoffice/api".into(),
            timeout: Duration::from_secs(30),
            rate_limit_per_sec: 5,
            max_retries: 4,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(30),
        }
    }
}

/// Overrides of the client's retry budget and timeout for one call (`None`: the client's own).
#[derive(Debug, Clone, Default)]
pub struct CallPolicy {
    pub max_retries: Option<usize>,
    pub max_delay: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A successful exchange with the server: data, or one of the two answers the API gives for
/// "nothing" (both HTTP 404 with an error object, sometimes 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Rows (possibly none: an empty list, which also ends a list).
    Rows(Vec<RawRow>),
    /// "Tidak ada data..": no rows here, which is how a list signals its end.
    NoData,
    /// "No Izin tidak Terdaftar!": `cekperizinan` does not know the number.
    NotRegistered,
}

impl Answer {
    /// The server's own end-of-list signal: "Tidak ada data.." or an empty list.
    pub fn ends_list(&self) -> bool {
        match self {
            Answer::Rows(rows) => rows.is_empty(),
            Answer::NoData => true,
            Answer::NotRegistered => false,
        }
    }
}

/// Classifies an API error object by its text (the server's exact words vary in case and dots).
fn error_object(message: String) -> Result<Answer, ApiError> {
    let folded = message.to_lowercase();
    if folded.contains("tidak ada data") {
        Ok(Answer::NoData)
    } else if folded.contains("tidak terdaftar") {
        Ok(Answer::NotRegistered)
    } else {
        Err(ApiError::Refused(message))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("HTTP {status}: {snippet}")]
    Status { status: u16, snippet: String },
    #[error("HTTP {status} with {source}")]
    Wire {
        status: u16,
        #[source]
        source: WireError,
    },
    /// An error object other than the two known "nothing" answers (e.g. "Unknown method.").
    #[error("the server answered with the error {0:?}")]
    Refused(String),
}

impl ApiError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Timeout(_)
            | ApiError::Transport(_)
            | ApiError::Wire { .. }
            | ApiError::Refused(_) => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
        }
    }
}

#[derive(Clone)]
pub struct SicantikClient {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for SicantikClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SicantikClient")
            .field("config", &self.config)
            .finish()
    }
}

fn snippet(body: &str) -> String {
    let s: String = body.chars().take(160).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl SicantikClient {
    pub fn new(mut config: ClientConfig) -> Result<Self, ApiError> {
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("sicantik-companion/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let rate = NonZeroU32::new(config.rate_limit_per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
        // Burst of one: requests are spaced evenly, never bunched, to stay polite.
        let limiter = Arc::new(RateLimiter::direct(
            Quota::per_second(rate).allow_burst(NonZeroU32::MIN),
        ));
        Ok(Self {
            http,
            config,
            limiter,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// GETs `endpoint` with query parameters, retrying what may succeed later. Every attempt is
    /// appended to `log`.
    pub async fn get(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
        log: &mut Vec<ApiCallRecord>,
    ) -> Result<Answer, ApiError> {
        self.get_with(endpoint, params, log, &CallPolicy::default())
            .await
    }

    /// [`get`](Self::get) with its own retry budget and timeout, for a person waiting on a page
    /// (the public tracking look-up), through the same rate limit and error handling.
    pub async fn get_with(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
        log: &mut Vec<ApiCallRecord>,
        policy: &CallPolicy,
    ) -> Result<Answer, ApiError> {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.retry_base_delay)
            .with_max_delay(policy.max_delay.unwrap_or(self.config.retry_max_delay))
            .with_max_times(policy.max_retries.unwrap_or(self.config.max_retries))
            .with_jitter()
            .build();
        loop {
            let result = self.attempt(endpoint, params, log, policy.timeout).await;
            match result {
                Err(e) if e.is_retryable() => match backoff.next() {
                    Some(delay) => {
                        tracing::warn!(endpoint, error = %e, ?delay, "SICANTIK call failed, retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
        log: &mut Vec<ApiCallRecord>,
        timeout: Option<Duration>,
    ) -> Result<Answer, ApiError> {
        self.limiter.until_ready().await;
        let started = Instant::now();
        let called_at = companion_db::now();
        let url = format!("{}/{}", self.config.base_url, endpoint);
        let outcome = self.exchange(&url, params, timeout).await;
        let duration = started.elapsed();
        let (http_status, row_count, error) = match &outcome {
            Ok((status, Answer::Rows(rows))) => {
                (Some(*status as i64), Some(rows.len() as i64), None)
            }
            Ok((status, Answer::NoData)) => (
                Some(*status as i64),
                Some(0),
                Some("no data (Tidak ada data..)".to_string()),
            ),
            Ok((status, Answer::NotRegistered)) => (
                Some(*status as i64),
                Some(0),
                Some("not registered (No Izin tidak Terdaftar!)".to_string()),
            ),
            Err((status, e)) => (status.map(|s| s as i64), None, Some(e.to_string())),
        };
        let outcome_label = match &outcome {
            Ok((_, Answer::Rows(_))) => "ok",
            Ok((_, Answer::NoData | Answer::NotRegistered)) => "not_found",
            Err((_, ApiError::Timeout(_))) => "timeout",
            Err(_) => "error",
        };
        metrics::counter!("companion_sicantik_calls_total", "endpoint" => endpoint.to_string(), "outcome" => outcome_label).increment(1);
        metrics::histogram!("companion_sicantik_call_duration_seconds", "endpoint" => endpoint.to_string()).record(duration.as_secs_f64());
        log.push(ApiCallRecord {
            endpoint: endpoint.to_string(),
            params: params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
            http_status,
            duration_ms: duration.as_millis() as i64,
            row_count,
            error,
            called_at,
        });
        outcome.map(|(_, a)| a).map_err(|(_, e)| e)
    }

    async fn exchange(
        &self,
        url: &str,
        params: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<(u16, Answer), (Option<u16>, ApiError)> {
        let limit = timeout.unwrap_or(self.config.timeout);
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                (None, ApiError::Timeout(limit))
            } else {
                (
                    e.status().map(|s| s.as_u16()),
                    ApiError::Transport(e.to_string()),
                )
            }
        };
        let response = self
            .http
            .get(url)
            .query(params)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(limit)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(transport)?;
        let wire = |source| (Some(status), ApiError::Wire { status, source });
        // 404 is the API's "nothing here" only when it carries the API's error object;
        // CodeIgniter's own 404 page or an empty 404 is a failed request.
        if status == 404 {
            return match parse_body(&body) {
                Ok(Payload::Error(m)) => error_object(m)
                    .map(|a| (status, a))
                    .map_err(|e| (Some(status), e)),
                Ok(Payload::Rows(_)) => Err(wire(WireError::Malformed {
                    format: "body",
                    detail: "rows with status 404".into(),
                })),
                Err(e) => Err(wire(e)),
            };
        }
        if !(200..300).contains(&status) {
            return Err((
                Some(status),
                ApiError::Status {
                    status,
                    snippet: snippet(&body),
                },
            ));
        }
        match parse_body(&body) {
            Ok(Payload::Rows(rows)) => Ok((status, Answer::Rows(rows))),
            Ok(Payload::Error(m)) => error_object(m)
                .map(|a| (status, a))
                .map_err(|e| (Some(status), e)),
            Err(e) => Err(wire(e)),
        }
    }
}
