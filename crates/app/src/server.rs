//! `serve` and `demo`: the database, the scheduler and the web server, wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use companion_db::Database;
use companion_sicantik::SicantikClient;
use companion_simulators::{SicantikSim, SicantikSimConfig};
use tokio::sync::watch;

use crate::CliError;
use crate::config::Settings;
use crate::scheduler::{Job, Scheduler};

/// Connects and migrates (migrations always run on start).
pub async fn open_database(settings: &Settings) -> Result<Database, CliError> {
    let db = Database::connect(&settings.database_url)
        .await
        .map_err(|e| match e {
            companion_db::DbError::UnsupportedUrl(_) => CliError::User(e.to_string()),
            other => CliError::Internal(anyhow::anyhow!(
                "cannot open the database {}: {other}",
                companion_db::redact_url(&settings.database_url)
            )),
        })?;
    db.migrate().await?;
    Ok(db)
}

async fn bind(listen: &str) -> Result<tokio::net::TcpListener, CliError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| CliError::User(format!("LISTEN {listen:?} is not an address")))?;
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::User(format!(
            "cannot listen on {addr}: {e} (set LISTEN to another address)"
        ))
    })
}

/// Deletes expired sessions hourly (they are refused anyway; this keeps the table small).
fn sweep_sessions(
    db: Database,
    policy: companion_domain::retention::RetentionPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            apply_retention(&db, &policy).await;
            match db.delete_expired_sessions().await {
                Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The retention policy (`RETENTION_*`, `VERIFICATION_IP_RETENTION_DAYS`), applied hourly:
/// what it removed is logged, counted and written to the audit trail (which itself is kept whole).
pub async fn apply_retention(
    db: &Database,
    policy: &companion_domain::retention::RetentionPolicy,
) -> Option<companion_domain::retention::RetentionReport> {
    let report = match db
        .apply_retention(&policy.cutoffs(chrono::Utc::now()))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "could not apply the retention policy");
            return None;
        }
    };
    if report.is_empty() {
        return Some(report);
    }
    for (log, n) in [
        ("sicantik_calls", report.sicantik_calls_deleted),
        ("whatsapp_messages", report.whatsapp_messages_redacted),
        ("whatsapp_receipts", report.whatsapp_receipts_deleted),
        ("daftar_requests", report.daftar_requests_deleted),
        (
            "verification_addresses",
            report.verification_addresses_cleared,
        ),
    ] {
        metrics::counter!("companion_retention_removed_total", "log" => log).increment(n);
    }
    tracing::info!(?report, "retention policy applied");
    let record = companion_domain::AuditRecord {
        actor_id: None,
        actor: "system".into(),
        action: "retention.apply".into(),
        target_kind: None,
        target_id: None,
        source: "scheduler".into(),
        details: serde_json::json!({
            "sicantik_calls_deleted": report.sicantik_calls_deleted,
            "whatsapp_messages_redacted": report.whatsapp_messages_redacted,
            "whatsapp_receipts_deleted": report.whatsapp_receipts_deleted,
            "daftar_requests_deleted": report.daftar_requests_deleted,
            "verification_addresses_cleared": report.verification_addresses_cleared,
        }),
    };
    if let Err(e) = db.append_audit(&record).await {
        tracing::warn!(error = %e, "could not audit the retention run");
    }
    Some(report)
}

/// Ctrl-C, or SIGTERM (what systemd and container runtimes send), stops cleanly.
fn ctrl_c_to(tx: watch::Sender<bool>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping…");
        let _ = tx.send(true);
    });
}

/// What `serve` and `demo` share: the database, the bound listener, the scheduler and the
/// shutdown signal (Ctrl-C).
struct Running {
    db: Database,
    documents: companion_documents::Documents,
    signing: Option<companion_signing::SigningService>,
    listener: tokio::net::TcpListener,
    settings: Arc<Settings>,
    scheduler: Scheduler,
    notifier: Option<Arc<companion_notify::Notifier>>,
    rx: watch::Receiver<bool>,
}

/// Opens the object store named by `STORAGE_URL`.
pub fn open_storage(settings: &Settings) -> Result<companion_storage::Storage, CliError> {
    companion_storage::Storage::from_url(&settings.storage_url)
        .map_err(|e| CliError::User(format!("cannot open the object store (STORAGE_URL): {e}")))
}

/// The documents service on the configured store (`STORAGE_URL`, `MAX_PDF_MB`, `INBOX_DIR`).
pub async fn open_documents(
    settings: &Settings,
    db: &Database,
) -> Result<companion_documents::Documents, CliError> {
    let storage = open_storage(settings)?;
    companion_documents::Documents::new(db.clone(), storage, settings.documents_config())
        .await
        .map_err(|e| CliError::Internal(e.into()))
}

/// The signing workflow: the seal key from `KEYS_DIR`, the signer named by `SIGNER` (the local
/// key and chain from `KEYS_DIR`, or BSrE at `BSRE_BASE_URL`) and the TSA at `TSA_URL`. Without
/// keys the server runs without signing and says so in the log.
pub fn open_signing(
    settings: &Settings,
    db: &Database,
    documents: &companion_documents::Documents,
) -> Result<Option<companion_signing::SigningService>, CliError> {
    let dir = std::path::Path::new(&settings.keys_dir);
    let read = |f: &str| std::fs::read_to_string(dir.join(f));
    let Ok(seal) = read(crate::keys_cmd::SEAL_KEY) else {
        tracing::warn!(dir = %dir.display(), "no seal key: run `sicantik-companion keys init`; signing is off");
        return Ok(None);
    };
    let seal = companion_domain::seal::seal_key_from_hex(&seal)
        .ok_or_else(|| CliError::User(format!("{}/seal.key is not a seal key", dir.display())))?;
    let signer: companion_signing::Signer = match settings.signer.as_str() {
        "bsre" => {
            if settings.bsre_base_url.trim().is_empty() || settings.bsre_username.is_empty() {
                return Err(CliError::User(
                    "SIGNER=bsre needs BSRE_BASE_URL, BSRE_USERNAME and BSRE_PASSWORD".into(),
                ));
            }
            let api = companion_signing::BsreApi::parse(&settings.bsre_api_version)
                .ok_or_else(|| CliError::User("BSRE_API_VERSION must be v1 or v2".into()))?;
            companion_signing::BsreClient::new(companion_signing::BsreConfig {
                base_url: settings.bsre_base_url.trim().to_string(),
                api,
                username: settings.bsre_username.clone(),
                password: settings.bsre_password.clone(),
                timeout: Duration::from_secs(settings.bsre_timeout_seconds.max(5)),
            })
            .map_err(|e| CliError::Internal(e.into()))?
            .into()
        }
        _ => {
            let (Ok(key), Ok(chain)) = (
                read(crate::keys_cmd::SIGNER_KEY),
                read(crate::keys_cmd::SIGNER_CHAIN),
            ) else {
                tracing::warn!(dir = %dir.display(), "no signing keys: run `sicantik-companion keys init`; signing is off");
                return Ok(None);
            };
            let identity =
                companion_pdf::keys::SigningIdentity::from_pem(&key, &chain).map_err(|e| {
                    CliError::User(format!(
                        "the signing keys in {} cannot be read: {e}",
                        dir.display()
                    ))
                })?;
            warn_certificate_end(identity.not_after());
            identity.into()
        }
    };
    let tsa = if settings.tsa_url.trim().is_empty() {
        if settings.signer == "local" {
            tracing::warn!("TSA_URL is empty: signatures carry no timestamp (PAdES B-B)");
        }
        None
    } else {
        Some(
            companion_signing::TsaClient::new(settings.tsa_url.trim(), Duration::from_secs(30))
                .map_err(|e| CliError::Internal(e.into()))?,
        )
    };
    Ok(Some(
        companion_signing::SigningService::new(
            db.clone(),
            documents.clone(),
            signer,
            seal,
            companion_signing::SigningConfig {
                public_base_url: settings.public_base_url.trim_end_matches('/').to_string(),
                placement: companion_pdf::stamp::Placement::default(),
                location: settings.signature_location.clone(),
                tsa: tsa.clone(),
                visible_role: settings
                    .signature_visible
                    .then(|| settings.signature_role.clone()),
                utc_offset: {
                    use chrono::Offset;
                    chrono::Utc::now()
                        .with_timezone(&settings.office_tz().unwrap_or(chrono_tz::Asia::Jakarta))
                        .offset()
                        .fix()
                },
            },
        )
        .with_timings(companion_signing::JobTimings {
            lease: Duration::from_secs(settings.signing_lease_seconds),
            stall_after: Duration::from_secs(settings.signing_stall_seconds),
        })
        .with_archive_margin_days(settings.archive_renewal_margin_days)
        .with_footer(settings.footer_text())
        .with_long_term(companion_signing::ltv::LongTerm {
            // Checked by `Settings::validate`.
            level: companion_signing::ltv::SignatureLevel::parse_configured(
                &settings.signature_level,
            )
            .unwrap_or(companion_signing::ltv::SignatureLevel::BLTA),
            fetcher: settings
                .revocation_fetcher()
                .map_err(|e| CliError::Internal(e.into()))?,
            tsa,
            anchors: crate::verify_cmd::trust_anchors(settings)?,
        }),
    ))
}

fn warn_certificate_end(not_after: std::time::SystemTime) {
    if let Ok(left) = not_after.duration_since(std::time::SystemTime::now()) {
        if left < Duration::from_secs(30 * 86_400) {
            tracing::warn!(
                days = left.as_secs() / 86_400,
                "the signer certificate expires soon"
            );
        }
    } else {
        tracing::error!("the signer certificate has expired: signatures will not validate");
    }
}

/// Settles signing jobs whose worker died (at start and every half lease), so a crash or restart
/// shows as "paused, passphrase needed" instead of a silent hang.
fn watch_signing_jobs(
    signing: companion_signing::SigningService,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        // BSrE: each official's certificate status, once at start-up (again before each job).
        match signing.bsre_user_statuses().await {
            Ok(statuses) => {
                for (official, status) in statuses {
                    match status {
                        Ok(s) if s.eq_ignore_ascii_case("ISSUE") => {
                            tracing::info!(%official, "BSrE certificate usable")
                        }
                        Ok(s) => {
                            tracing::warn!(%official, status = %s, "BSrE certificate not usable")
                        }
                        Err(e) => {
                            tracing::warn!(%official, error = %e, "BSrE user status unavailable")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the officials for BSrE"),
        }
        // Cases a crash or restart left between approval and stamping are stamped now.
        match signing.resume_stamping().await {
            Ok((0, 0)) => {}
            Ok((stamped, failed)) => {
                tracing::warn!(stamped, failed, "interrupted approvals resumed (QR stamp)")
            }
            Err(e) => tracing::warn!(error = %e, "could not resume interrupted approvals"),
        }
        spawn_archive_renewal(signing.clone(), shutdown.clone());
        let every = signing.timings().lease / 2;
        loop {
            match signing.recover_batches().await {
                Ok(n) if n > 0 => tracing::warn!(batches = n, "interrupted signing jobs paused"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not check the signing jobs"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The archive-timestamp renewal (issue 20), hourly and at start, one instance at a time (a
/// database lease). Each run looks at the cases due; a crash in the middle is resumed by the
/// next run (`companion_signing::archive`).
fn spawn_archive_renewal(
    signing: companion_signing::SigningService,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let holder = format!("archive-{}", std::process::id());
        loop {
            match signing
                .db()
                .try_acquire_lease("archive-renewal", &holder, chrono::Duration::minutes(50))
                .await
            {
                Ok(true) => match signing.renew_archives(chrono::Utc::now(), 500).await {
                    Ok(r) if r.renewed + r.resumed + r.failed > 0 => tracing::info!(
                        renewed = r.renewed,
                        resumed = r.resumed,
                        failed = r.failed,
                        "archive timestamps renewed"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "archive renewal run failed"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "archive renewal lease unavailable"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

impl Running {
    /// The regular schedule, the session sweeper and the web server, until Ctrl-C; then stops
    /// the jobs and closes the database.
    async fn run(self) -> Result<(), CliError> {
        let Running {
            db,
            documents,
            signing,
            listener,
            settings,
            scheduler,
            notifier,
            rx,
        } = self;
        let jobs = scheduler.spawn_all(rx.clone());
        // `/lacak` and the collection check ask SICANTIK through the scheduler's client: one
        // rate limit for everything.
        let tracker = Arc::new(companion_sicantik::Tracker::new(
            scheduler.client.clone(),
            db.clone(),
            companion_sicantik::TrackingConfig::default(),
        ));
        if let Some(n) = &notifier {
            crate::whatsapp::spawn(
                n.clone(),
                Duration::from_secs(settings.whatsapp_dispatch_seconds.max(1)),
                rx.clone(),
            );
            crate::surveys::spawn_invitations(
                db.clone(),
                settings.public_base_url.clone(),
                Some(tracker.clone()),
                rx.clone(),
            );
        }
        sweep_sessions(db.clone(), settings.retention_policy(), rx.clone());
        if let Some(signing) = &signing {
            watch_signing_jobs(signing.clone(), rx.clone());
        }
        let mut state = companion_web::AppState::new(
            db.clone(),
            settings.office_tz().unwrap_or(chrono_tz::Asia::Jakarta),
        );
        state.metrics = crate::telemetry::metrics();
        state.config = settings.web_config();
        state.tracker = Some(tracker);
        state.jobs = Some(Arc::new(scheduler));
        state.documents = Some(documents);
        state.signing = signing;
        state.notifier = notifier;
        // The office CAs' CRLs and OCSP answers (`/pki/...`), when their keys are in KEYS_DIR.
        state.pki = companion_signing::pki::PkiService::open(
            std::path::Path::new(&settings.keys_dir),
            db.clone(),
        )
        .map_err(|e| CliError::User(format!("the CA files in {}: {e}", settings.keys_dir)))?
        .map(Arc::new);
        // Revocation data the files do not carry: asked online for trusted chains only.
        state.revocation_fetcher = Some(
            settings
                .revocation_fetcher()
                .map_err(|e| CliError::Internal(e.into()))?,
        );
        // The portal validates uploaded PDFs against the same anchors as `verify`.
        state.trust_anchors = Arc::new(crate::verify_cmd::trust_anchors(&settings)?);
        if !settings.geoip_database.trim().is_empty() {
            let geoip = companion_web::geoip::GeoIp::open(std::path::Path::new(
                settings.geoip_database.trim(),
            ))
            .map_err(|e| CliError::User(e.to_string()))?;
            state.geoip = Some(Arc::new(geoip));
        }
        let app = companion_web::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let mut shutdown = rx;
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.changed().await;
            })
            .await
            .map_err(|e| CliError::Internal(e.into()));
        for j in jobs {
            j.abort();
        }
        db.close().await;
        result
    }
}

async fn start(settings: Settings) -> Result<Running, CliError> {
    let db = open_database(&settings).await?;
    let documents = open_documents(&settings, &db).await?;
    let notifier = crate::whatsapp::open_notifier(&settings, &db, Some(&documents)).await?;
    let listener = bind(&settings.listen).await?;
    let client =
        SicantikClient::new(settings.client_config()).map_err(|e| CliError::Internal(e.into()))?;
    // Approval asks SICANTIK for a permit's unknown dates through the scheduler's client (one
    // rate limit).
    let signing =
        open_signing(&settings, &db, &documents)?.map(|s| s.with_sicantik(client.clone()));
    let settings = Arc::new(settings);
    let scheduler =
        Scheduler::new(db.clone(), client, settings.clone()).with_documents(documents.clone());
    let (tx, rx) = watch::channel(false);
    ctrl_c_to(tx);
    Ok(Running {
        db,
        documents,
        signing,
        listener,
        settings,
        scheduler,
        notifier,
        rx,
    })
}

pub async fn serve(settings: Settings) -> Result<(), CliError> {
    crate::telemetry::metrics();
    let running = start(settings).await?;
    tracing::info!(listen = %running.settings.listen, backend = running.db.backend_name(), "serving");
    running.run().await
}

pub async fn demo(mut settings: Settings, permits: usize) -> Result<(), CliError> {
    crate::telemetry::metrics();
    create_private_dir(std::path::Path::new(&settings.data_dir)).map_err(|e| {
        CliError::User(format!(
            "cannot create the data folder {}: {e}",
            settings.data_dir
        ))
    })?;
    let sim = SicantikSim::start(
        SicantikSimConfig {
            permits,
            latency: Duration::from_millis(20),
            advance_every: Some(Duration::from_secs(60)),
            // The simulated office works up to today, so the dashboard shows recent months.
            today: chrono::Utc::now()
                .with_timezone(&settings.office_tz().unwrap_or(chrono_tz::Asia::Jakarta))
                .date_naive(),
            ..Default::default()
        },
        "127.0.0.1:0"
            .parse()
            .map_err(|e: std::net::AddrParseError| CliError::Internal(e.into()))?,
    )
    .await
    .map_err(CliError::Internal)?;
    settings.sicantik_base_url = sim.base_url();
    // The simulator is local: poll it every minute and faster than the real server allows.
    settings.sicantik_rate_limit = settings.sicantik_rate_limit.max(50);
    settings.expiry_concurrency = settings.expiry_concurrency.max(8);
    settings.schedule_list_sync_minutes = 1;
    if settings.storage_url == Settings::default().storage_url {
        settings.storage_url = format!("file://{}/objects", settings.data_dir);
    }
    if settings.inbox_dir == Settings::default().inbox_dir {
        settings.inbox_dir = format!("{}/inbox", settings.data_dir);
    }
    if settings.keys_dir == Settings::default().keys_dir {
        settings.keys_dir = format!("{}/keys", settings.data_dir);
    }
    // Local signing material on the first start; the same keys on later starts.
    let keys = std::path::Path::new(&settings.keys_dir);
    if !keys.join(crate::keys_cmd::SIGNER_KEY).exists() {
        crate::keys_cmd::init(
            keys,
            "Kepala DPMPTSP Kabupaten Karo (demo)",
            &settings.public_base_url,
            true,
        )?;
    }
    let tsa = companion_simulators::TsaSim::start(
        "127.0.0.1:0"
            .parse()
            .map_err(|e: std::net::AddrParseError| CliError::Internal(e.into()))?,
    )
    .await
    .map_err(CliError::Internal)?;
    if settings.tsa_url.is_empty() {
        settings.tsa_url = tsa.url();
    }
    // BSrE simulated: the demo official's NIK and a passphrase made for this run. `SIGNER=bsre`
    // without a BSRE_BASE_URL signs the demo through it.
    let bsre_passphrase = companion_domain::accounts::generate_password();
    let bsre = companion_simulators::BsreSim::start(
        "127.0.0.1:0"
            .parse()
            .map_err(|e: std::net::AddrParseError| CliError::Internal(e.into()))?,
        companion_simulators::BsreSimConfig {
            username: "demo-esign-client".into(),
            password: companion_domain::accounts::generate_password(),
            users: vec![companion_simulators::BsreSimUser {
                nik: DEMO_NIK.into(),
                name: "Kepala DPMPTSP Kabupaten Karo (demo)".into(),
                passphrase: bsre_passphrase.clone(),
                status: "ISSUE".into(),
            }],
            latency: Duration::from_millis(300),
        },
    )
    .await
    .map_err(CliError::Internal)?;
    if settings.signer == "bsre" && settings.bsre_base_url.is_empty() {
        settings.bsre_base_url = bsre.url();
        settings.bsre_username = bsre.config().username.clone();
        settings.bsre_password = bsre.config().password.clone();
    }
    // WhatsApp simulated (Meta's wire format): the demo's messages, receipts back through our
    // webhook, and a phone-like page. A configured real provider is left as it is.
    let whatsapp = companion_simulators::WhatsappSim::start(
        "127.0.0.1:0"
            .parse()
            .map_err(|e: std::net::AddrParseError| CliError::Internal(e.into()))?,
        companion_simulators::WhatsappSimConfig {
            templates: [
                crate::whatsapp::simulator_templates(),
                crate::surveys::simulator_templates(),
            ]
            .concat(),
            receipt_delay_ms: 700,
            undeliverable_suffix: Some("0000".into()),
            ..Default::default()
        },
    )
    .await
    .map_err(CliError::Internal)?;
    if settings.whatsapp_provider == "simulator" && settings.whatsapp_base_url.is_empty() {
        let c = whatsapp.config();
        settings.whatsapp_base_url = whatsapp.url();
        settings.whatsapp_meta_phone_number_id = c.phone_number_id.clone();
        settings.whatsapp_meta_waba_id = c.waba_id.clone();
        settings.whatsapp_meta_access_token = c.access_token.clone();
        settings.whatsapp_meta_app_secret = c.app_secret.clone();
        settings.whatsapp_meta_verify_token = c.verify_token.clone();
        // The demo runs around the clock: no quiet hours, so its messages show at once.
        settings.whatsapp_quiet_hours = "off".into();
        whatsapp.set_webhook_url(Some(format!(
            "http://{}/webhooks/whatsapp",
            settings.listen
        )));
    }
    // The simulators make new roots on every start: trust each, so `verify` and the portal
    // accept the demo's signatures and timestamps (earlier runs' roots stay trusted too).
    let keys = std::path::Path::new(&settings.keys_dir);
    trust_demo_root(keys, "tsa-simulator", tsa.root_pem())?;
    trust_demo_root(
        keys,
        "bsre-simulator",
        &bsre.root_pem().map_err(CliError::Internal)?,
    )?;
    let running = start(settings).await?;
    let settings = running.settings.clone();
    let logins = demo_logins(&running.db, &settings.data_dir).await?;
    running
        .db
        .set_user_nik("demo.official", Some(DEMO_NIK))
        .await?;
    crate::whatsapp::demo_phones(&running.db).await?;
    let demo_passphrase = (settings.signer == "bsre")
        .then(|| companion_signing::Passphrase::new(bsre_passphrase.clone()));

    // Seed: permit types, a full sync, letters for part of the issued permits (printed by the
    // simulator, imported like any upload), the expiry workaround, then the regular schedule.
    let sim_letters = sim.printer();
    let lacak_examples = lacak_examples(&sim.permits());
    let signing_for_demo = running.signing.clone();
    let notifier_for_demo = running.notifier.clone();
    let survey_db = running.db.clone();
    let survey_dir = settings.data_dir.clone();
    let seeding = {
        let scheduler = running.scheduler.clone();
        let rx = running.rx.clone();
        tokio::spawn(async move {
            // The expiry look-ups before the letters are signed: the demo signs currently valid
            // permits (dates known), and keeps one expired example.
            for job in [Job::Types, Job::ListFull, Job::Expiry] {
                if *rx.borrow() {
                    return;
                }
                if let Err(e) = scheduler.run_with_lease(job).await {
                    tracing::error!(job = job.name(), error = %e, "demo seeding step failed");
                }
            }
            if let Some(docs) = &scheduler.documents {
                match import_demo_letters(docs, &sim_letters).await {
                    Ok(n) => tracing::info!(letters = n, "demo letters imported"),
                    Err(e) => tracing::error!(error = %e, "demo letters could not be imported"),
                }
                if let Some(signing) = &signing_for_demo {
                    match sign_demo_permits(docs, signing, demo_passphrase).await {
                        Ok(n) => tracing::info!(signed = n, "demo permits signed and published"),
                        Err(e) => tracing::error!(error = %e, "demo signing failed"),
                    }
                }
                if let Err(e) = docs.check_integrity().await {
                    tracing::error!(error = %e, "demo integrity check failed");
                }
            }
            // A renewal (after the expiry sync: the new permit's dates are known), so its
            // notice — validity and download link — reaches the phone.
            if let (Some(docs), Some(_)) = (&scheduler.documents, &signing_for_demo)
                && let Err(e) =
                    crate::whatsapp::demo_renewal(docs.db(), notifier_for_demo.as_deref()).await
            {
                tracing::error!(error = %e, "demo renewal failed");
            }
            // Two applications to track on /lacak (the browser test's), once the sync knows them.
            let path = std::path::Path::new(&survey_dir).join("demo-lacak.json");
            if let Err(e) = std::fs::write(&path, lacak_examples.to_string()) {
                tracing::error!(error = %e, "demo tracking examples could not be written");
            }
            // A month of survey answers, so /skm shows a full report (issue 24).
            let today = chrono::Utc::now().date_naive();
            if let Err(e) = crate::surveys::seed_demo(&survey_db, &survey_dir, today).await {
                tracing::error!(error = %e, "demo survey answers could not be seeded");
            }
            tracing::info!("demo data ready");
        })
    };

    let base = format!("http://{}", settings.listen);
    println!("SICANTIK Companion demo");
    println!("  data folder:         {}/", settings.data_dir);
    println!("  staff application:   {base}/  (sign in at {base}/masuk)");
    println!("  permits (web):       {base}/izin");
    println!("  API (OpenAPI):       {base}/api/v1/openapi.json");
    println!("  permits (API):       {base}/api/v1/permits");
    println!("  sync runs (API):     {base}/api/v1/sync/runs");
    println!("  dashboard (API):     {base}/api/v1/dashboard");
    println!("  metrics:             {base}/metrics");
    println!("  SICANTIK simulator:  {}", sim.base_url());
    println!("  TSA simulator:       {}", tsa.url());
    println!(
        "  BSrE simulator:      {}  (demo.official: NIK {DEMO_NIK}, passphrase {bsre_passphrase}; used when SIGNER=bsre)",
        bsre.url()
    );
    println!(
        "  WhatsApp simulator:  {}/  (a phone: the demo's messages; messages log at {base}/pesan)",
        whatsapp.url()
    );
    println!(
        "  signed permits:      {base}/tte  (signing keys in {}/)",
        settings.keys_dir
    );
    println!("  logins (also in {}/demo-logins.json):", settings.data_dir);
    for l in &logins {
        println!(
            "    {:<9} {:<10} password {}",
            l.role, l.username, l.password
        );
    }
    println!("Syncing from the simulator now; Ctrl-C stops.");
    let result = running.run().await;
    seeding.abort();
    drop(sim);
    drop(tsa);
    drop(bsre);
    drop(whatsapp);
    result
}

/// Two issued permits of the simulator whose applicants left a phone number: their registration
/// numbers and the last four digits, as an applicant would type them on `/lacak`.
fn lacak_examples(permits: &[companion_simulators::SimPermit]) -> serde_json::Value {
    let examples: Vec<serde_json::Value> = permits
        .iter()
        .filter(|p| p.issued && matches!(p.kind, companion_simulators::RowKind::Permit))
        .filter_map(|p| {
            let four = companion_domain::tracking::last_four(p.telp_pemohon.as_deref()?)?;
            Some(serde_json::json!({ "nomor": p.pendaftaran_id, "telepon": four }))
        })
        .take(2)
        .collect();
    serde_json::Value::Array(examples)
}

/// Writes a simulator's root into `KEYS_DIR/trusted/<name>-<hash>.pem`.
fn trust_demo_root(keys: &std::path::Path, name: &str, pem: &str) -> Result<(), CliError> {
    use sha2::Digest;
    let dir = keys.join("trusted");
    let hash = hex::encode(&sha2::Sha256::digest(pem.as_bytes())[..6]);
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join(format!("{name}-{hash}.pem")), pem))
        .map_err(|e| CliError::User(format!("cannot write into {}: {e}", dir.display())))
}

/// The demo official's NIK at the BSrE simulator.
const DEMO_NIK: &str = "1207010101800001";

/// Of the newest issued permits, two in three get their printed letter imported through the
/// one import path; the rest, and every older permit, stay "PDF belum diunggah". One more letter
/// goes into the inbox under its permit number, and one unnamed scan waits there for a person.
async fn import_demo_letters(
    docs: &companion_documents::Documents,
    printer: &companion_simulators::LetterPrinter,
) -> anyhow::Result<usize> {
    use companion_documents::{Actor, ImportSource};
    use companion_domain::documents::DocumentKind;
    const NEWEST: u32 = 240;
    let query = companion_db::PermitQuery {
        status: Some(companion_domain::PermitStatus::Issued),
        sort: companion_db::PermitSort::Issued,
        page: 1,
        per_page: NEWEST,
        ..Default::default()
    };
    let (permits, _) = docs.db().list_permits(&query).await?;
    let actor = Actor::system("demo");
    let mut imported = 0;
    for (i, p) in permits.iter().enumerate() {
        if i % 3 == 2 {
            continue;
        }
        let Some(pdf) = printer.print(&p.pendaftaran_id) else {
            continue;
        };
        let name = format!("{}.pdf", p.pendaftaran_id);
        match docs
            .import(
                &p.pendaftaran_id,
                pdf.into(),
                Some(&name),
                DocumentKind::Original,
                ImportSource::Demo,
                &actor,
            )
            .await
        {
            Ok(_) => imported += 1,
            Err(e) => tracing::warn!(permit = %p.pendaftaran_id, error = %e, "demo letter refused"),
        }
    }
    if let Some(dir) = docs.inbox_dir() {
        let by_number = permits
            .iter()
            .enumerate()
            .find(|(i, p)| i % 3 == 2 && p.permit_number.is_some())
            .map(|(_, p)| p);
        if let Some(p) = by_number
            && let (Some(pdf), Some(number)) = (printer.print(&p.pendaftaran_id), &p.permit_number)
        {
            std::fs::write(dir.join(format!("{}.pdf", number.replace('/', "-"))), pdf)?;
        }
        if let Some(pdf) = permits
            .iter()
            .rev()
            .find_map(|p| printer.print(&p.pendaftaran_id))
        {
            std::fs::write(dir.join("scan-tanpa-nama.pdf"), pdf)?;
        }
    }
    Ok(imported)
}

/// Carries a handful of the imported letters through the whole flow: submitted by the demo
/// staff account, approved (QR stamp with SICANTIK's dates), signed by the demo official (local
/// CA, simulated TSA), published. The signed ones are currently valid permits (their portal page
/// reads ASLI), one more waits for approval and one is ready to sign, so the queues show work;
/// one expired permit is signed as the KEDALUWARSA example and one signed permit is revoked
/// (the DICABUT example, its reason says so). Permits whose dates SICANTIK does not give are
/// left alone: a seal never states an empty date.
async fn sign_demo_permits(
    docs: &companion_documents::Documents,
    signing: &companion_signing::SigningService,
    passphrase: Option<companion_signing::Passphrase>,
) -> anyhow::Result<usize> {
    use companion_domain::Role;
    use companion_signing::Participant;
    let db = docs.db();
    let official_id = db.get_user_by_name("demo.official").await?.map(|u| u.id);
    let participant = |role: Role, username: &str, display: &str| Participant {
        actor: companion_documents::Actor {
            user_id: (role == Role::Official).then_some(official_id).flatten(),
            name: username.into(),
            source: "demo".into(),
        },
        role,
        display_name: display.into(),
    };
    let staff = participant(Role::Staff, "demo.staff", "Demo Petugas");
    let official = participant(
        Role::Official,
        "demo.official",
        "Kepala DPMPTSP Kabupaten Karo (demo)",
    );
    let query = companion_db::PermitQuery {
        status: Some(companion_domain::PermitStatus::Issued),
        has_pdf: Some(true),
        sort: companion_db::PermitSort::Issued,
        page: 1,
        per_page: 100,
        ..Default::default()
    };
    let (permits, _) = db.list_permits(&query).await?;
    let today = chrono::Utc::now().date_naive();
    let dated = |p: &&companion_domain::permits::PermitView| p.issue_date.is_some();
    // Five valid ones signed, one waiting for approval, one ready to sign, one to revoke.
    let mut plan: Vec<(&companion_domain::permits::PermitView, DemoRole)> = permits
        .iter()
        .filter(dated)
        .filter(|p| {
            p.expiry_date
                .is_some_and(|e| e > today + chrono::Duration::days(30))
        })
        .take(8)
        .enumerate()
        .map(|(i, p)| {
            let role = match i {
                5 => DemoRole::Waiting,
                6 => DemoRole::Ready,
                7 => DemoRole::Revoked,
                _ => DemoRole::Valid,
            };
            (p, role)
        })
        .collect();
    if let Some(p) = permits
        .iter()
        .filter(dated)
        .find(|p| p.expiry_date.is_some_and(|e| e < today))
    {
        plan.push((p, DemoRole::Expired));
    }
    let mut signed = 0;
    for (i, (p, role)) in plan.into_iter().enumerate() {
        let Some(original) = db
            .documents_for_permit(&p.pendaftaran_id)
            .await?
            .into_iter()
            .find(|d| d.kind == "original")
        else {
            continue;
        };
        if db
            .signing_cases_for_permit(&p.pendaftaran_id)
            .await?
            .iter()
            .any(|c| c.original_document_id == original.id)
        {
            continue; // a later start: already done
        }
        // The applicant signed the WhatsApp consent at the counter (the demo's numbers).
        crate::whatsapp::demo_applicant(db, &p.pendaftaran_id, i).await?;
        let case = signing.submit(original.id, &staff).await?;
        if role == DemoRole::Waiting {
            continue;
        }
        let stamped = signing.approve(case.id, &official).await?;
        if role == DemoRole::Ready {
            continue;
        }
        let published = signing
            .sign_now(stamped.id, &official, passphrase.clone())
            .await?;
        signed += 1;
        if role == DemoRole::Revoked {
            signing
                .revoke(
                    published.id,
                    &official,
                    "Contoh dalam demo: izin dicabut (data pemohon keliru)",
                )
                .await?;
        }
        tracing::info!(
            permit = %p.pendaftaran_id,
            verification_id = %published.verification_id,
            example = role.label(),
            "demo permit signed"
        );
    }
    Ok(signed)
}

/// What a demo permit shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DemoRole {
    /// Signed, currently valid: ASLI.
    Valid,
    Waiting,
    Ready,
    /// Signed, then revoked: DICABUT.
    Revoked,
    /// Signed, its validity ended: KEDALUWARSA.
    Expired,
}

impl DemoRole {
    fn label(self) -> &'static str {
        match self {
            DemoRole::Valid => "ASLI",
            DemoRole::Waiting => "menunggu persetujuan",
            DemoRole::Ready => "siap ditandatangani",
            DemoRole::Revoked => "DICABUT",
            DemoRole::Expired => "KEDALUWARSA",
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DemoLogin {
    username: String,
    password: String,
    role: String,
}

/// One account per role for the demo. Passwords are generated on the first start and kept in
/// `<data>/demo-logins.json` (owner-only), so later starts print the same logins.
async fn demo_logins(db: &Database, data_dir: &str) -> Result<Vec<DemoLogin>, CliError> {
    use companion_domain::Role;
    let path = std::path::Path::new(data_dir).join("demo-logins.json");
    let saved: Vec<DemoLogin> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut logins = Vec::new();
    for role in Role::ALL {
        let username = format!("demo.{}", role.as_str());
        let known = saved.iter().find(|l| l.username == username);
        match (db.get_user_by_name(&username).await?, known) {
            (Some(_), Some(l)) => logins.push(DemoLogin {
                username,
                password: l.password.clone(),
                role: role.as_str().into(),
            }),
            (Some(_), None) => {
                // The account exists but its password was not saved here: leave it alone.
                tracing::warn!(username, "demo account exists without a saved password");
            }
            (None, _) => {
                let password = companion_domain::accounts::generate_password();
                let display = format!("Demo {}", role.label());
                crate::accounts_cmd::add_user(db, &username, role, Some(&display), &password)
                    .await?;
                logins.push(DemoLogin {
                    username,
                    password,
                    role: role.as_str().into(),
                });
            }
        }
    }
    let json = serde_json::to_vec_pretty(&logins).map_err(|e| CliError::Internal(e.into()))?;
    write_private(&path, &json)
        .map_err(|e| CliError::User(format!("cannot write {}: {e}", path.display())))?;
    Ok(logins)
}

/// Writes `bytes` to `path`, readable by the owner only (keys, logins, backups).
/// Creates `path` (and missing parents) readable only by this account (0700 on Unix).
pub(crate) fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
