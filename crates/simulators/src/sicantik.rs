//! A SICANTIK simulator: the same paths, parameters (query string and `/key/value` path pairs,
//! a `.json` suffix, `format`, the `Accept` header), formats (XML by default), row shapes and
//! pitfalls as the real server (`shared/spec/sicantik-api.md`), newest first, deterministic by
//! seed. Permits arrive and get issued over time; faults can be injected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration as Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::codeigniter;
use crate::sicantik_data::{Generator, RowKind, SimPermit, TRACKING_STEPS, TYPES, kecamatan};
use crate::sicantik_wire::{Body, Format, Row, render};

#[derive(Debug, Clone)]
pub struct SicantikSimConfig {
    pub permits: usize,
    pub seed: u64,
    /// Added to every API response.
    pub latency: Duration,
    /// Share of API requests that get an injected fault (0.0–1.0).
    pub fault_rate: f64,
    /// How long a "slow" fault stalls (longer than the client's timeout to cause one).
    pub slow_fault: Duration,
    /// Junk rows, junk names, impossible dates and the like, as in real data.
    pub quirks: bool,
    /// Every tick, a few permits arrive and a few in-process ones are issued (for the demo).
    pub advance_every: Option<Duration>,
    /// The simulated "today"; fixed so a seed always gives the same data.
    pub today: NaiveDate,
    /// Which faults may be injected (all by default).
    pub faults: Vec<SimFault>,
    /// Answer XML whatever the client asks for (an old deployment or a proxy dropping headers).
    pub force_xml: bool,
    /// How the end of a list looks: the real server's 404, or an empty list.
    pub end_with_empty_list: bool,
}

impl Default for SicantikSimConfig {
    fn default() -> Self {
        Self {
            permits: 500,
            seed: 1,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            slow_fault: Duration::from_secs(35),
            quirks: true,
            advance_every: None,
            today: NaiveDate::from_ymd_opt(2025, 11, 1).unwrap_or_default(),
            faults: FAULTS.to_vec(),
            force_xml: false,
            end_with_empty_list: false,
        }
    }
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    ServerError,
    Unavailable,
    HtmlPage,
    EmptyBody,
    Truncated,
    Slow,
    PhpNoise,
    ExtraBadRow,
    /// CodeIgniter's PHP error block (a notice) before the payload, status 200.
    PhpErrorBefore,
    /// The same block after the payload, status 200.
    PhpErrorAfter,
    /// Only the PHP error block (Severity: Error), no payload, status 200.
    PhpErrorOnly,
    /// CodeIgniter's database error page with status 200 (as some proxies pass it on).
    DatabaseError200,
    /// CodeIgniter's database error page with status 500.
    DatabaseError500,
    /// CodeIgniter's general error page with status 200.
    GeneralError,
    /// CodeIgniter's 404 page (status 404): not the API's "Tidak ada data..".
    PageNotFound,
    /// A page whose rows mostly lost their `pendaftaran_id` (a broken join for one request).
    JunkRows,
}

pub const FAULTS: [SimFault; 16] = [
    SimFault::ServerError,
    SimFault::Unavailable,
    SimFault::HtmlPage,
    SimFault::EmptyBody,
    SimFault::Truncated,
    SimFault::Slow,
    SimFault::PhpNoise,
    SimFault::ExtraBadRow,
    SimFault::PhpErrorBefore,
    SimFault::PhpErrorAfter,
    SimFault::PhpErrorOnly,
    SimFault::DatabaseError200,
    SimFault::DatabaseError500,
    SimFault::GeneralError,
    SimFault::PageNotFound,
    SimFault::JunkRows,
];

/// CodeIgniter's error views, the way SICANTIK's server can answer with them.
pub const CODEIGNITER_FAULTS: [SimFault; 8] = [
    SimFault::PhpErrorBefore,
    SimFault::PhpErrorAfter,
    SimFault::PhpErrorOnly,
    SimFault::DatabaseError200,
    SimFault::DatabaseError500,
    SimFault::GeneralError,
    SimFault::PageNotFound,
    SimFault::Truncated,
];

struct SimState {
    config: SicantikSimConfig,
    generator: Generator,
    /// Oldest first; the lists serve them newest first.
    permits: Vec<SimPermit>,
    today: NaiveDate,
    issued_newest_first: Vec<usize>,
    proses_newest_first: Vec<usize>,
    dirty: bool,
    requests: HashMap<String, u64>,
    total_requests: u64,
    cek_requests: HashMap<String, u64>,
    fault_rng: ChaCha8Rng,
    fault_rate: f64,
    /// (after this many API requests, this many permits arrive / get issued)
    scheduled_arrivals: Vec<(u64, usize)>,
    scheduled_issues: Vec<(u64, usize)>,
    /// (endpoint, offset) → how many more requests answer with CodeIgniter's database error page.
    broken_offsets: HashMap<(String, usize), u32>,
    /// The server caps `limit` at this many rows (a proxy or an old deployment).
    max_limit: Option<usize>,
    /// "SICANTIK is down": every API request gets this fault (`/_sim/down`).
    down: Option<SimFault>,
}

impl SimState {
    fn new(config: SicantikSimConfig) -> Self {
        let mut generator = Generator::new(ChaCha8Rng::seed_from_u64(config.seed), config.quirks);
        let today = config.today;
        let n = config.permits;
        let span_days = 6 * 365;
        let mut permits = Vec::with_capacity(n + n / 400 + 1);
        for i in 0..n {
            let age = (span_days as u64 * (n - i) as u64 / n.max(1) as u64) as i64;
            let received = today - Days::days(age);
            let mut p = generator.permit(received);
            let issued = if age > 60 {
                generator.rng.gen_bool(0.97)
            } else {
                generator.rng.gen_bool(0.3)
            };
            if issued {
                let days: i64 = TYPES[p.type_index].3.parse().unwrap_or(7);
                generator.issue(&mut p, (received + Days::days(days)).min(today));
            }
            permits.push(p);
            if config.quirks && i % 400 == 199 {
                permits.push(generator.bad_row(received));
            }
        }
        let fault_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x00fa_u64.rotate_left(32));
        let fault_rate = config.fault_rate;
        let mut state = Self {
            config,
            generator,
            permits,
            today,
            issued_newest_first: Vec::new(),
            proses_newest_first: Vec::new(),
            dirty: true,
            requests: HashMap::new(),
            total_requests: 0,
            cek_requests: HashMap::new(),
            fault_rng,
            fault_rate,
            scheduled_arrivals: Vec::new(),
            scheduled_issues: Vec::new(),
            broken_offsets: HashMap::new(),
            max_limit: None,
            down: None,
        };
        state.reindex();
        state
    }

    fn reindex(&mut self) {
        if !self.dirty {
            return;
        }
        self.issued_newest_first = (0..self.permits.len())
            .rev()
            .filter(|&i| self.permits[i].issued)
            .collect();
        self.proses_newest_first = (0..self.permits.len())
            .rev()
            .filter(|&i| !self.permits[i].issued)
            .collect();
        self.dirty = false;
    }

    fn arrive(&mut self, count: usize) -> Vec<String> {
        let today = self.today;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let p = self.generator.permit(today);
            ids.push(p.pendaftaran_id.clone());
            self.permits.push(p);
        }
        self.dirty = true;
        ids
    }

    /// Issues the `count` oldest in-process permits.
    fn issue(&mut self, count: usize) -> Vec<String> {
        let today = self.today;
        let mut ids = Vec::new();
        for i in 0..self.permits.len() {
            if ids.len() >= count {
                break;
            }
            if !self.permits[i].issued && self.permits[i].kind == RowKind::Permit {
                let mut p = self.permits[i].clone();
                self.generator.issue(&mut p, today);
                ids.push(p.pendaftaran_id.clone());
                self.permits[i] = p;
            }
        }
        self.dirty = true;
        ids
    }

    fn id_value(p: &SimPermit) -> Option<String> {
        match &p.kind {
            RowKind::Permit => Some(p.pendaftaran_id.clone()),
            RowKind::BadId(v) => v.clone(),
        }
    }

    fn list(&mut self, issued: bool, args: &HashMap<String, String>) -> (StatusCode, Body) {
        self.reindex();
        // PHP treats a missing limit as a broken query: 404 with an empty body.
        let Some(limit) = args
            .get("limit")
            .and_then(|v| v.trim().parse::<usize>().ok())
        else {
            return (StatusCode::NOT_FOUND, Body::Error(String::new()));
        };
        let limit = self.max_limit.map_or(limit, |cap| limit.min(cap));
        let offset = args
            .get("offset")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let idx = if issued {
            &self.issued_newest_first
        } else {
            &self.proses_newest_first
        };
        // The server's num_rows counts in-process permits for both lists (spec §3.1).
        let num_rows = self.proses_newest_first.len().to_string();
        let rows: Vec<Row> = idx
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| {
                let p = &self.permits[i];
                let mut row: Row = vec![
                    ("pendaftaran_id", Self::id_value(p)),
                    ("n_pemohon", p.n_pemohon.clone()),
                    ("n_perizinan", Some(p.type_name().to_string())),
                ];
                if issued {
                    row.push(("no_surat", Some(p.no_surat.clone().unwrap_or_default())));
                }
                row.push(("num_rows", Some(num_rows.clone())));
                row
            })
            .collect();
        if rows.is_empty() && self.config.end_with_empty_list {
            (StatusCode::OK, Body::Rows(rows))
        } else if rows.is_empty() {
            (
                StatusCode::NOT_FOUND,
                Body::Error("Tidak ada data..".into()),
            )
        } else {
            (StatusCode::OK, Body::Rows(rows))
        }
    }

    fn detail_row(p: &SimPermit) -> Row {
        let (kec, kel) = kecamatan(p.kecamatan);
        vec![
            ("pendaftaran_id", Some(p.pendaftaran_id.clone())),
            ("n_pemohon", p.n_pemohon.clone()),
            ("n_perizinan", Some(p.type_name().to_string())),
            ("no_surat", p.no_surat.clone()),
            (
                "d_terima_berkas",
                Some(p.d_terima_berkas.format("%Y-%m-%d").to_string()),
            ),
            ("d_berlaku_izin", p.d_berlaku_izin.clone()),
            ("a_pemohon", p.a_pemohon.clone()),
            ("telp_pemohon", p.telp_pemohon.clone()),
            (
                "tgl_surat",
                p.tgl_surat.map(|d| d.format("%Y-%m-%d").to_string()),
            ),
            ("n_perusahaan", p.company.clone()),
            ("npwp", Some("01.234.567.8-912.000".into())),
            ("a_perusahaan", p.a_pemohon.clone()),
            ("d_tgl_berdiri", Some("2020-01-01".into())),
            ("i_telp_perusahaan", Some(String::new())),
            ("n_kecamatan", Some(kec.into())),
            ("n_kabupaten", Some("KARO".into())),
            ("n_propinsi", Some("SUMATERA UTARA".into())),
            ("n_kelurahan", Some(kel.into())),
        ]
    }

    /// `cekperizinan` compares the argument verbatim with the stored Base64; `cekperizinanizin`
    /// decodes it and compares the number. Both inner-join company data.
    fn cek(&mut self, args: &HashMap<String, String>, decode: bool) -> (StatusCode, Body) {
        let arg = args.get("no_izin").cloned().unwrap_or_default();
        *self.cek_requests.entry(arg.clone()).or_default() += 1;
        let wanted_number = if decode {
            STANDARD
                .decode(arg.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        } else {
            None
        };
        let found = self.permits.iter().find(|p| {
            p.kind == RowKind::Permit
                && p.registered()
                && match &wanted_number {
                    Some(n) => p.no_surat.as_deref() == Some(n.as_str()),
                    None => p.base64_stored && p.no_izin().as_deref() == Some(arg.as_str()),
                }
        });
        match found {
            Some(p) => (StatusCode::OK, Body::Rows(vec![Self::detail_row(p)])),
            None => (
                StatusCode::NOT_FOUND,
                Body::Error("No Izin tidak Terdaftar!".into()),
            ),
        }
    }

    fn types(&self) -> Body {
        let mut types: Vec<_> = TYPES.iter().collect();
        types.sort_by_key(|t| t.1);
        Body::Rows(
            types
                .into_iter()
                .map(|(id, name, group, days)| {
                    vec![
                        ("id", Some(id.to_string())),
                        ("jenis_perizinan", Some(name.to_string())),
                        ("kelompok_izin", Some(group.to_string())),
                        ("v_hari", Some(days.to_string())),
                    ]
                })
                .collect(),
        )
    }

    fn answer(&mut self, endpoint: &str, args: &HashMap<String, String>) -> (StatusCode, Body) {
        match endpoint {
            "listpermohonanterbit" => self.list(true, args),
            "listpermohonanproses" => self.list(false, args),
            "jenisperizinanlist" => (StatusCode::OK, self.types()),
            "jumlahPerizinan" => (
                StatusCode::OK,
                Body::Rows(vec![vec![(
                    "jumlahPerizinan",
                    Some(TYPES.len().to_string()),
                )]]),
            ),
            "permohonan2" => self.tracking(args),
            "permohonan" => self.tracking_summary(args),
            "cekperizinan" => self.cek(args, false),
            "cekperizinanizin" => self.cek(args, true),
            // Side-effecting on the real server (sends legacy reminders): must never be called.
            "duedatenotification" => (
                StatusCode::OK,
                Body::Rows(vec![vec![("sent", Some("10".into()))]]),
            ),
            _ => (StatusCode::NOT_FOUND, Body::Error("Unknown method.".into())),
        }
    }

    /// The permit a tracking request names. The real server puts the id unquoted into SQL
    /// (a numeric comparison): a value that is not a number breaks the query, which CodeIgniter
    /// answers with its database error page (status 200 through the API's output buffer).
    fn tracked(&self, args: &HashMap<String, String>) -> Result<Option<&SimPermit>, ()> {
        let id = args.get("pendaftaran").map(|v| v.trim()).unwrap_or("");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        Ok(self
            .permits
            .iter()
            .find(|p| p.kind == RowKind::Permit && p.pendaftaran_id == id))
    }

    /// `permohonan2?pendaftaran=<id>`: the step chain, one row per step, the current one with
    /// `current` = 1 (spec §3.6); no dates, as the spec's row shape has none.
    fn tracking(&self, args: &HashMap<String, String>) -> (StatusCode, Body) {
        let p = match self.tracked(args) {
            Err(()) => return (StatusCode::OK, Body::Raw(codeigniter::database_error())),
            Ok(None) => {
                return (
                    StatusCode::NOT_FOUND,
                    Body::Error("Tidak ada data..".into()),
                );
            }
            Ok(Some(p)) => p,
        };
        let current = p.tracking_step(self.today);
        let rows = TRACKING_STEPS
            .iter()
            .enumerate()
            .map(|(i, (step_id, name))| {
                let mut row: Row = vec![
                    ("pendaftaran_id", Some(p.pendaftaran_id.clone())),
                    ("n_pemohon", p.n_pemohon.clone()),
                    ("a_pemohon", p.a_pemohon.clone()),
                    ("telp_pemohon", p.telp_pemohon.clone()),
                    ("n_sts_permohonan", Some(name.to_string())),
                    ("n_perizinan", Some(p.type_name().to_string())),
                    ("trstspermohonan_id", Some(step_id.to_string())),
                ];
                if i == current {
                    row.push(("current", Some("1".into())));
                }
                row
            })
            .collect();
        (StatusCode::OK, Body::Rows(rows))
    }

    /// `permohonan?pendaftaran=<id>`: one summary row with the current step as `tracking`.
    fn tracking_summary(&self, args: &HashMap<String, String>) -> (StatusCode, Body) {
        match self.tracked(args) {
            Err(()) => (StatusCode::OK, Body::Raw(codeigniter::database_error())),
            Ok(None) => (
                StatusCode::NOT_FOUND,
                Body::Error("Tidak ada data..".into()),
            ),
            Ok(Some(p)) => {
                let step = TRACKING_STEPS[p.tracking_step(self.today)].1;
                (
                    StatusCode::OK,
                    Body::Rows(vec![vec![
                        (
                            "id",
                            Some(p.pendaftaran_id.trim_start_matches('0').to_string()),
                        ),
                        ("no_pendaftaran", Some(p.pendaftaran_id.clone())),
                        ("nama", p.n_pemohon.clone()),
                        ("telp", p.telp_pemohon.clone()),
                        ("alamat", p.a_pemohon.clone()),
                        ("permohonan", Some(p.type_name().to_string())),
                        ("tracking", Some(step.to_string())),
                    ]]),
                )
            }
        }
    }

    fn pick_fault(&mut self) -> Option<SimFault> {
        if self.fault_rate > 0.0 && self.fault_rng.gen_bool(self.fault_rate.clamp(0.0, 1.0)) {
            let kinds = &self.config.faults;
            (!kinds.is_empty()).then(|| kinds[self.fault_rng.gen_range(0..kinds.len())])
        } else {
            None
        }
    }
}

type Shared = Arc<Mutex<SimState>>;

fn lock(state: &Shared) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Splits `/backoffice/api/<endpoint>/<k>/<v>…[.json]` into the endpoint, its path pairs and a
/// format suffix.
fn parse_path(path: &str) -> (String, HashMap<String, String>, Option<Format>) {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_prefix("backoffice/api/").unwrap_or(rest);
    let mut segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut format = None;
    if let Some(last) = segments.last_mut() {
        for (suffix, f) in [(".json", Format::Json), (".xml", Format::Xml)] {
            if let Some(stripped) = last.strip_suffix(suffix) {
                *last = stripped.to_string();
                format = Some(f);
            }
        }
    }
    let endpoint = if segments.is_empty() {
        String::new()
    } else {
        segments.remove(0)
    };
    let pairs = segments
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    (endpoint, pairs, format)
}

fn choose_format(
    suffix: Option<Format>,
    args: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Format {
    if let Some(f) = suffix {
        return f;
    }
    match args.get("format").map(String::as_str) {
        Some("json") => return Format::Json,
        Some("xml") => return Format::Xml,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.contains("json") {
        Format::Json
    } else {
        Format::Xml
    }
}

async fn api(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (endpoint, pairs, suffix) = parse_path(uri.path());
    let mut args = query;
    args.extend(pairs);
    let format = if lock(&state).config.force_xml {
        Format::Xml
    } else {
        choose_format(suffix, &args, &headers)
    };
    let (latency, slow, fault, status, body) = {
        let mut s = lock(&state);
        s.total_requests += 1;
        *s.requests.entry(endpoint.clone()).or_default() += 1;
        let total = s.total_requests;
        let due: usize = s
            .scheduled_arrivals
            .iter()
            .filter(|(at, _)| *at <= total)
            .map(|(_, n)| n)
            .sum();
        s.scheduled_arrivals.retain(|(at, _)| *at > total);
        if due > 0 {
            s.arrive(due);
        }
        let due: usize = s
            .scheduled_issues
            .iter()
            .filter(|(at, _)| *at <= total)
            .map(|(_, n)| n)
            .sum();
        s.scheduled_issues.retain(|(at, _)| *at > total);
        if due > 0 {
            s.issue(due);
        }
        let broken = args
            .get("offset")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .and_then(|o| s.broken_offsets.get_mut(&(endpoint.clone(), o)))
            .filter(|left| **left > 0)
            .map(|left| *left -= 1)
            .is_some();
        let fault = if let Some(down) = s.down {
            Some(down)
        } else if broken {
            Some(SimFault::DatabaseError200)
        } else {
            s.pick_fault()
        };
        let (status, mut body) = s.answer(&endpoint, &args);
        match (fault, &mut body) {
            (Some(SimFault::ExtraBadRow), Body::Rows(rows)) => {
                rows.insert(
                    rows.len() / 2,
                    vec![
                        ("pendaftaran_id", None),
                        ("n_pemohon", Some("RUSAK".into())),
                    ],
                );
            }
            (Some(SimFault::JunkRows), Body::Rows(rows)) if rows.len() > 1 => {
                // All but the first row lose their id (and the list looks shorter than it is).
                for row in rows.iter_mut().skip(1) {
                    row.retain(|(k, _)| *k != "pendaftaran_id");
                }
            }
            _ => {}
        }
        (s.config.latency, s.config.slow_fault, fault, status, body)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (text, content_type) = render(format, &body);
    let html = "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>A Database Error Occurred</h1></body></html>";
    match fault {
        Some(SimFault::ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            html.to_string(),
        )
            .into_response(),
        Some(SimFault::Unavailable) => {
            (StatusCode::SERVICE_UNAVAILABLE, String::new()).into_response()
        }
        Some(SimFault::HtmlPage) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            html.to_string(),
        )
            .into_response(),
        Some(SimFault::EmptyBody) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type)],
            String::new(),
        )
            .into_response(),
        Some(SimFault::Truncated) => {
            let cut: String = text.chars().take(text.chars().count() / 2).collect();
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], cut).into_response()
        }
        Some(SimFault::Slow) => {
            tokio::time::sleep(slow).await;
            (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Some(SimFault::PhpErrorBefore) => {
            let body = format!("{}{text}", codeigniter::php_notice());
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(SimFault::PhpErrorAfter) => {
            let body = format!("{text}{}", codeigniter::php_deprecated());
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(SimFault::PhpErrorOnly) => html_page(
            StatusCode::OK,
            codeigniter::php_error(
                "Error",
                "Allowed memory size of 134217728 bytes exhausted",
                "database/drivers/mysql/mysql_result.php",
                167,
            ),
        ),
        Some(SimFault::DatabaseError200) => {
            html_page(StatusCode::OK, codeigniter::database_error())
        }
        Some(SimFault::DatabaseError500) => html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            codeigniter::database_error(),
        ),
        Some(SimFault::GeneralError) => html_page(StatusCode::OK, codeigniter::general_error()),
        Some(SimFault::PageNotFound) => {
            html_page(StatusCode::NOT_FOUND, codeigniter::page_not_found())
        }
        Some(SimFault::PhpNoise) => {
            let noisy = format!(
                "<br />\n<b>Deprecated</b>:  Function __autoload() is deprecated in <b>/var/www/backoffice/index.php</b> on line <b>42</b><br />\n{text}"
            );
            (status, [(header::CONTENT_TYPE, content_type)], noisy).into_response()
        }
        _ => (
            status,
            [
                (header::CONTENT_TYPE, content_type),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            ],
            text,
        )
            .into_response(),
    }
}

/// One of CodeIgniter's HTML error views with `status`.
fn html_page(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

#[derive(serde::Deserialize)]
struct CountArg {
    count: Option<usize>,
}

#[derive(serde::Deserialize)]
struct RateArg {
    rate: f64,
}

async fn control_arrive(State(state): State<Shared>, Query(a): Query<CountArg>) -> String {
    serde_json::json!({ "arrived": lock(&state).arrive(a.count.unwrap_or(1)) }).to_string()
}

async fn control_issue(State(state): State<Shared>, Query(a): Query<CountArg>) -> String {
    serde_json::json!({ "issued": lock(&state).issue(a.count.unwrap_or(1)) }).to_string()
}

async fn control_faults(State(state): State<Shared>, Query(a): Query<RateArg>) -> String {
    lock(&state).fault_rate = a.rate.clamp(0.0, 1.0);
    "ok".into()
}

#[derive(serde::Deserialize)]
struct DownArg {
    /// `database` (CodeIgniter's database error page, status 200), `unavailable` (503),
    /// `slow` (no answer within the client's timeout) or `off`.
    mode: String,
}

/// Takes the whole API down (or back up): for trying what clients do when SICANTIK is down.
async fn control_down(State(state): State<Shared>, Query(a): Query<DownArg>) -> Response {
    let fault = match a.mode.as_str() {
        "database" | "on" => Some(SimFault::DatabaseError200),
        "unavailable" => Some(SimFault::Unavailable),
        "slow" => Some(SimFault::Slow),
        "off" => None,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "mode: database|unavailable|slow|off",
            )
                .into_response();
        }
    };
    lock(&state).down = fault;
    "ok".into_response()
}

async fn control_stats(State(state): State<Shared>) -> String {
    let mut s = lock(&state);
    s.reindex();
    serde_json::json!({
        "requests": s.requests,
        "total_requests": s.total_requests,
        "issued": s.issued_newest_first.len(),
        "in_process": s.proses_newest_first.len(),
    })
    .to_string()
}

/// The office's print of a permit letter. Not part of SICANTIK's API (which has no PDF endpoint,
/// see the spec): it stands for the letter staff print from SICANTIK and bring to the companion.
async fn control_print(
    State(state): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    let id = id.trim_end_matches(".pdf");
    match lock(&state).print_letter(id) {
        Some(pdf) => ([(axum::http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            "no issued permit with this id",
        )
            .into_response(),
    }
}

const BULAN: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

fn tanggal(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{} {} {}", d.day(), BULAN[d.month0() as usize], d.year())
}

impl SimState {
    fn print_letter(&self, id: &str) -> Option<Vec<u8>> {
        let p = self
            .permits
            .iter()
            .find(|p| p.pendaftaran_id == id && p.issued)?;
        let letter = companion_pdf::letter::PermitLetter {
            permit_number: p.no_surat.clone().unwrap_or_else(|| "-".into()),
            registration_id: p.pendaftaran_id.clone(),
            permit_type: p.type_name().to_string(),
            applicant_name: p.n_pemohon.clone().unwrap_or_else(|| "-".into()),
            company_name: p.company.clone(),
            address: p.a_pemohon.clone(),
            issue_date: p.tgl_surat.map(tanggal).unwrap_or_else(|| "-".into()),
            expiry_date: p.expected_expiry().map(tanggal),
        };
        Some(companion_pdf::letter::render(&letter, 0))
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/_sim/cetak/{id}", get(control_print))
        .route("/_sim/arrive", post(control_arrive))
        .route("/_sim/issue", post(control_issue))
        .route("/_sim/faults", post(control_faults))
        .route("/_sim/down", post(control_down))
        .route("/_sim/stats", get(control_stats))
        .fallback(any(api))
        .with_state(state)
}

/// Prints permit letters from a running simulator's data.
#[derive(Clone)]
pub struct LetterPrinter {
    state: Shared,
}

impl LetterPrinter {
    pub fn print(&self, pendaftaran_id: &str) -> Option<Vec<u8>> {
        lock(&self.state).print_letter(pendaftaran_id)
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SicantikSim {
    state: Shared,
    addr: SocketAddr,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for SicantikSim {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

impl SicantikSim {
    /// Generates the data set and serves it on `listen` (port 0 picks a free port).
    pub async fn start(config: SicantikSimConfig, listen: SocketAddr) -> anyhow::Result<Self> {
        let advance_every = config.advance_every;
        let state = Arc::new(Mutex::new(SimState::new(config)));
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "SICANTIK simulator stopped");
            }
        });
        let ticker = advance_every.map(|every| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let mut s = lock(&state);
                    s.arrive(2);
                    s.issue(2);
                }
            })
        });
        Ok(Self {
            state,
            addr,
            server,
            ticker,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure as `SICANTIK_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/backoffice/api", self.addr)
    }

    /// The printed letter of an issued permit (a 2-page PDF), `None` for other ids.
    pub fn print_letter(&self, pendaftaran_id: &str) -> Option<Vec<u8>> {
        lock(&self.state).print_letter(pendaftaran_id)
    }

    /// A handle that prints letters while the simulator runs (for a background task).
    pub fn printer(&self) -> LetterPrinter {
        LetterPrinter {
            state: self.state.clone(),
        }
    }

    /// New in-process permits arrive at the head of the lists. Returns their ids.
    pub fn arrive(&self, count: usize) -> Vec<String> {
        lock(&self.state).arrive(count)
    }

    /// The oldest in-process permits are issued. Returns their ids.
    pub fn issue(&self, count: usize) -> Vec<String> {
        lock(&self.state).issue(count)
    }

    /// The name of the step `permohonan2` marks current for a permit, and the whole chain.
    pub fn tracking_chain(&self, pendaftaran_id: &str) -> Option<(String, Vec<String>)> {
        let s = lock(&self.state);
        let p = s
            .permits
            .iter()
            .find(|p| p.kind == RowKind::Permit && p.pendaftaran_id == pendaftaran_id)?;
        let names = TRACKING_STEPS.iter().map(|(_, n)| n.to_string()).collect();
        Some((
            TRACKING_STEPS[p.tracking_step(s.today)].1.to_string(),
            names,
        ))
    }

    /// Every API request answers with `fault` (`None`: back to normal).
    pub fn set_down(&self, fault: Option<SimFault>) {
        lock(&self.state).down = fault;
    }

    pub fn set_fault_rate(&self, rate: f64) {
        lock(&self.state).fault_rate = rate.clamp(0.0, 1.0);
    }

    /// Which faults `set_fault_rate` injects from now on.
    pub fn set_fault_kinds(&self, kinds: &[SimFault]) {
        lock(&self.state).config.faults = kinds.to_vec();
    }

    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).config.latency = latency;
    }

    /// After `after` more API requests, `count` permits arrive (rows shift while a client pages).
    pub fn schedule_arrivals(&self, after: u64, count: usize) {
        let mut s = lock(&self.state);
        let at = s.total_requests + after;
        s.scheduled_arrivals.push((at, count));
    }

    /// After `after` more API requests, the `count` oldest in-process permits are issued (rows
    /// leave the in-process list while a client pages through it).
    pub fn schedule_issues(&self, after: u64, count: usize) {
        let mut s = lock(&self.state);
        let at = s.total_requests + after;
        s.scheduled_issues.push((at, count));
    }

    /// The next `times` requests for `endpoint` at exactly `offset` answer with CodeIgniter's
    /// database error page (status 200): a page that stays broken across retries.
    pub fn break_offset(&self, endpoint: &str, offset: usize, times: u32) {
        lock(&self.state)
            .broken_offsets
            .insert((endpoint.to_string(), offset), times);
    }

    /// Serves at most `cap` rows per page, whatever `limit` asks (None: no cap).
    pub fn set_max_limit(&self, cap: Option<usize>) {
        lock(&self.state).max_limit = cap;
    }

    /// Drops the `count` newest issued permits from the server's data (what a completeness check
    /// must notice; SICANTIK itself does not delete permits). Returns their ids.
    pub fn vanish_issued(&self, count: usize) -> Vec<String> {
        let mut s = lock(&self.state);
        s.reindex();
        let doomed: Vec<usize> = s
            .issued_newest_first
            .iter()
            .copied()
            .filter(|&i| s.permits[i].kind == RowKind::Permit)
            .take(count)
            .collect();
        let ids = doomed
            .iter()
            .map(|&i| s.permits[i].pendaftaran_id.clone())
            .collect();
        let mut doomed = doomed;
        doomed.sort_unstable_by(|a, b| b.cmp(a));
        for i in doomed {
            s.permits.remove(i);
        }
        s.dirty = true;
        ids
    }

    /// Gives a permit another number (to exercise Base64 values with `+`, `/` and `=`).
    pub fn set_permit_number(&self, pendaftaran_id: &str, number: &str) -> bool {
        let mut s = lock(&self.state);
        match s
            .permits
            .iter_mut()
            .find(|p| p.pendaftaran_id == pendaftaran_id && p.kind == RowKind::Permit)
        {
            Some(p) => {
                p.no_surat = Some(number.to_string());
                true
            }
            None => false,
        }
    }

    pub fn requests(&self, endpoint: &str) -> u64 {
        lock(&self.state)
            .requests
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.state).total_requests
    }

    /// How often a `no_izin` value was asked for (both detail endpoints).
    pub fn cek_requests(&self, no_izin: &str) -> u64 {
        lock(&self.state)
            .cek_requests
            .get(no_izin)
            .copied()
            .unwrap_or(0)
    }

    /// The real permits (junk rows excluded), oldest first: the ground truth for tests.
    pub fn permits(&self) -> Vec<SimPermit> {
        lock(&self.state)
            .permits
            .iter()
            .filter(|p| p.kind == RowKind::Permit)
            .cloned()
            .collect()
    }

    /// Number of junk rows (no usable id) in the lists.
    pub fn bad_rows(&self) -> usize {
        lock(&self.state)
            .permits
            .iter()
            .filter(|p| p.kind != RowKind::Permit)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_pairs_and_suffix() {
        let (e, pairs, f) =
            parse_path("/backoffice/api/listpermohonanterbit/limit/50/offset/0.json");
        assert_eq!(e, "listpermohonanterbit");
        assert_eq!(pairs.get("limit").map(String::as_str), Some("50"));
        assert_eq!(pairs.get("offset").map(String::as_str), Some("0"));
        assert_eq!(f, Some(Format::Json));
    }

    #[test]
    fn same_seed_same_data() {
        let a = SimState::new(SicantikSimConfig {
            permits: 300,
            ..Default::default()
        });
        let b = SimState::new(SicantikSimConfig {
            permits: 300,
            ..Default::default()
        });
        let ids = |s: &SimState| {
            s.permits
                .iter()
                .map(|p| p.pendaftaran_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        let c = SimState::new(SicantikSimConfig {
            permits: 300,
            seed: 2,
            ..Default::default()
        });
        assert_ne!(ids(&a), ids(&c));
    }

    #[test]
    fn ids_are_unique() {
        let s = SimState::new(SicantikSimConfig {
            permits: 20_000,
            ..Default::default()
        });
        let mut ids: Vec<_> = s
            .permits
            .iter()
            .filter(|p| p.kind == RowKind::Permit)
            .map(|p| &p.pendaftaran_id)
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
