//! WhatsApp wiring: the provider chosen by `WHATSAPP_PROVIDER`, the notifier, and its loops —
//! the planner and dispatcher every `WHATSAPP_DISPATCH_SECONDS` (safe on every instance: events
//! are planned once and messages claimed with leases), and the schedules (reminders, digest,
//! renewals) every ten minutes on one instance at a time (a job lease).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use companion_db::Database;
use companion_notify::providers::{
    BirdConfig, BirdProvider, FonnteConfig, FonnteProvider, MetaConfig, MetaProvider, Provider,
    Secret, TwilioConfig, TwilioProvider, VonageAuth, VonageConfig, VonageProvider,
};
use companion_notify::{Notifier, NotifyConfig, SystemClock};
use tokio::sync::watch;

use crate::CliError;
use crate::config::Settings;

fn secret(s: &str) -> Secret {
    Secret::new(s.trim())
}

/// `a=b,c=d` pairs.
fn pairs(s: &str) -> HashMap<String, String> {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

fn base_or(settings: &Settings, default: String) -> String {
    let b = settings.whatsapp_base_url.trim();
    if b.is_empty() {
        default
    } else {
        b.trim_end_matches('/').to_string()
    }
}

/// The configured provider, or `None` when notifications are off (or the simulator has no
/// address outside the demo).
pub fn open_provider(settings: &Settings) -> Result<Option<Arc<dyn Provider>>, CliError> {
    let timeout = Duration::from_secs(settings.whatsapp_timeout_seconds.max(1));
    let invalid = |e: companion_notify::providers::ConfigError| CliError::User(e.to_string());
    let provider: Arc<dyn Provider> = match settings.whatsapp_provider.as_str() {
        "off" => return Ok(None),
        "simulator" if settings.whatsapp_base_url.trim().is_empty() => {
            tracing::warn!(
                "WHATSAPP_PROVIDER=simulator without WHATSAPP_BASE_URL: WhatsApp notifications are OFF (set a real provider, or WHATSAPP_PROVIDER=off to silence this)"
            );
            return Ok(None);
        }
        "meta" | "simulator" => {
            let config = MetaConfig {
                base_url: base_or(settings, MetaConfig::default().base_url),
                api_version: settings.whatsapp_meta_api_version.clone(),
                phone_number_id: settings.whatsapp_meta_phone_number_id.clone(),
                waba_id: settings.whatsapp_meta_waba_id.clone(),
                access_token: secret(&settings.whatsapp_meta_access_token),
                app_secret: secret(&settings.whatsapp_meta_app_secret),
                verify_token: secret(&settings.whatsapp_meta_verify_token),
                timeout,
                simulator: false,
            };
            if settings.whatsapp_provider == "simulator" {
                Arc::new(MetaProvider::simulator(config).map_err(invalid)?)
            } else {
                Arc::new(MetaProvider::new(config).map_err(invalid)?)
            }
        }
        "twilio" => Arc::new(
            TwilioProvider::new(TwilioConfig {
                base_url: base_or(settings, TwilioConfig::default().base_url),
                account_sid: settings.whatsapp_twilio_account_sid.clone(),
                auth_token: secret(&settings.whatsapp_twilio_auth_token),
                from: Some(settings.whatsapp_twilio_from.clone()).filter(|s| !s.is_empty()),
                messaging_service_sid: Some(settings.whatsapp_twilio_messaging_service_sid.clone())
                    .filter(|s| !s.is_empty()),
                status_callback_url: Some(format!(
                    "{}/webhooks/whatsapp",
                    settings.public_base_url.trim_end_matches('/')
                )),
                content_sids: pairs(&settings.whatsapp_twilio_content_sids),
                timeout,
            })
            .map_err(invalid)?,
        ),
        "fonnte" => Arc::new(
            FonnteProvider::new(FonnteConfig {
                base_url: base_or(settings, FonnteConfig::default().base_url),
                token: secret(&settings.whatsapp_fonnte_token),
                webhook_token: secret(&settings.whatsapp_webhook_token),
                webhook_secret: secret(&settings.whatsapp_fonnte_webhook_secret),
                webhook_secret_field: settings.whatsapp_fonnte_secret_field.clone(),
                timeout,
                ..FonnteConfig::default()
            })
            .map_err(invalid)?,
        ),
        "messagebird" => Arc::new(
            BirdProvider::new(BirdConfig {
                base_url: base_or(settings, BirdConfig::default().base_url),
                workspace_id: settings.whatsapp_bird_workspace_id.clone(),
                channel_id: settings.whatsapp_bird_channel_id.clone(),
                access_key: secret(&settings.whatsapp_bird_access_key),
                signing_key: secret(&settings.whatsapp_bird_signing_key),
                template_project_ids: pairs(&settings.whatsapp_bird_templates)
                    .into_iter()
                    .filter_map(|(name, v)| {
                        let mut parts = v.splitn(3, ':');
                        let (project, version) = (parts.next()?, parts.next()?);
                        Some((name, (project.to_string(), version.to_string())))
                    })
                    .collect(),
                template_variables: pairs(&settings.whatsapp_bird_templates)
                    .into_iter()
                    .filter_map(|(name, v)| {
                        let variables = v.splitn(3, ':').nth(2)?;
                        let variables: Vec<String> = variables
                            .split('+')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                        Some((name, variables))
                    })
                    .collect(),
                timeout,
            })
            .map_err(invalid)?,
        ),
        "vonage" => {
            let auth = if settings.whatsapp_vonage_application_id.trim().is_empty() {
                VonageAuth::Basic {
                    api_key: settings.whatsapp_vonage_api_key.clone(),
                    api_secret: secret(&settings.whatsapp_vonage_api_secret),
                }
            } else {
                let path = settings.whatsapp_vonage_private_key_file.trim();
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    CliError::User(format!(
                        "WHATSAPP_VONAGE_PRIVATE_KEY_FILE {path:?} cannot be read: {e}"
                    ))
                })?;
                VonageAuth::Jwt {
                    application_id: settings.whatsapp_vonage_application_id.clone(),
                    private_key_pem: Secret::new(pem),
                }
            };
            Arc::new(
                VonageProvider::new(VonageConfig {
                    base_url: base_or(settings, VonageConfig::default().base_url),
                    from: settings.whatsapp_vonage_from.clone(),
                    auth,
                    signature_secret: secret(&settings.whatsapp_vonage_signature_secret),
                    timeout,
                })
                .map_err(invalid)?,
            )
        }
        other => {
            return Err(CliError::User(format!(
                "WHATSAPP_PROVIDER {other:?} is not known"
            )));
        }
    };
    Ok(Some(provider))
}

pub fn notify_config(settings: &Settings) -> NotifyConfig {
    NotifyConfig {
        public_base_url: settings.public_base_url.trim_end_matches('/').to_string(),
        office_contact: settings.whatsapp_office_contact.clone(),
        renewal_url: settings.whatsapp_renewal_url.clone(),
        office_number: companion_notify::phone::normalize(&settings.whatsapp_office_number).ok(),
        office_tz: settings.office_tz().unwrap_or(chrono_tz::Asia::Jakarta),
        quiet_hours: companion_notify::service::parse_quiet_hours(&settings.whatsapp_quiet_hours)
            .unwrap_or(None),
        per_minute: settings.whatsapp_rate_per_minute.max(0),
        per_day: settings.whatsapp_rate_per_day.max(0),
        max_attempts: settings.whatsapp_max_attempts.max(1),
        retry_base: chrono::Duration::seconds(settings.whatsapp_retry_base_seconds.max(1)),
        reconcile_after: chrono::Duration::seconds(settings.whatsapp_reconcile_seconds.max(1)),
        lease: chrono::Duration::seconds(
            settings
                .whatsapp_lease_seconds
                .max(settings.whatsapp_timeout_seconds as i64 + 1),
        ),
        digest_at: chrono::NaiveTime::parse_from_str(&settings.whatsapp_digest_at, "%H:%M")
            .unwrap_or(chrono::NaiveTime::MIN),
        permit_ready_on: companion_notify::service::PermitReadyTrigger::parse(
            &settings.whatsapp_permit_ready_on,
        )
        .unwrap_or_default(),
        pending_reminders: settings.whatsapp_pending_reminders.max(0),
        signature_notice_every: chrono::Duration::minutes(
            settings.whatsapp_signature_notice_minutes.max(1),
        ),
        ..NotifyConfig::default()
    }
}

/// The notifier, with applicant links made by `documents` (for letters announced on import).
pub async fn open_notifier(
    settings: &Settings,
    db: &Database,
    documents: Option<&companion_documents::Documents>,
) -> Result<Option<Arc<Notifier>>, CliError> {
    let Some(provider) = open_provider(settings)? else {
        return Ok(None);
    };
    let mut notifier = Notifier::new(
        db.clone(),
        provider,
        notify_config(settings),
        Arc::new(SystemClock),
    );
    if let Some(docs) = documents {
        notifier = notifier.with_links(Arc::new(companion_web::notices::DocumentLinks::new(
            docs.clone(),
            settings.public_base_url.trim_end_matches('/'),
        )));
    }
    notifier.reload_templates().await?;
    Ok(Some(Arc::new(notifier)))
}

impl From<companion_notify::service::NotifyError> for CliError {
    fn from(e: companion_notify::service::NotifyError) -> Self {
        CliError::Internal(e.into())
    }
}

/// The planner and dispatcher loop, and the schedules, until shutdown.
pub fn spawn(notifier: Arc<Notifier>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let n = notifier.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        // Which templates the provider approved (where it can tell), at start.
        match n.refresh_approved_templates().await {
            Ok(Some(count)) => tracing::info!(approved = count, "WhatsApp templates fetched"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "WhatsApp templates could not be fetched"),
        }
        loop {
            let mut busy = false;
            match n.plan().await {
                Ok(events) => busy |= events > 0,
                Err(e) => tracing::warn!(error = %e, "notification planning failed"),
            }
            match n.dispatch_once().await {
                Ok(r) => busy |= r.claimed > 0,
                Err(e) => tracing::warn!(error = %e, "WhatsApp dispatch failed"),
            }
            let pause = if busy { Duration::ZERO } else { every };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
    });
    tokio::spawn(async move {
        let holder = format!("schedules-{}", std::process::id());
        loop {
            let db = notifier.db();
            match db
                .try_acquire_lease("whatsapp-schedules", &holder, chrono::Duration::minutes(9))
                .await
            {
                Ok(true) => match notifier.run_schedules().await {
                    Ok(n) if n > 0 => tracing::info!(messages = n, "WhatsApp reminders queued"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WhatsApp schedules failed"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "WhatsApp schedule lease unavailable"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The simulator's approved templates: every event's default text in both languages, with
/// Meta's numbered placeholders — what the office registers at Meta — and the security alerts'.
pub fn simulator_templates() -> Vec<companion_simulators::SimTemplate> {
    use companion_notify::templates::security_alert::Signal;
    use companion_notify::templates::{Event, LANGUAGES, numbered};
    let security = Signal::ALL.into_iter().flat_map(|s| {
        LANGUAGES.into_iter().map(move |lang| {
            companion_simulators::SimTemplate::approved(
                s.provider_template(),
                lang,
                &s.numbered(lang),
            )
        })
    });
    Event::ALL
        .into_iter()
        .flat_map(|e| {
            LANGUAGES.into_iter().map(move |lang| {
                companion_simulators::SimTemplate::approved(
                    e.provider_template(),
                    lang,
                    &numbered(e, e.default_text(lang)),
                )
            })
        })
        .chain(security)
        .collect()
}

/// The demo's staff and official have WhatsApp numbers.
pub async fn demo_phones(db: &Database) -> Result<(), CliError> {
    for (username, phone) in [
        ("demo.staff", "+6281100000010"),
        ("demo.official", "+6281100000020"),
        ("demo.admin", "+6281100000030"),
    ] {
        if let Some(u) = db.get_user_by_name(username).await? {
            db.set_user_phone(u.id, Some(phone)).await?;
        }
    }
    Ok(())
}

/// A demo applicant's number with the consent signed at the counter.
pub async fn demo_applicant(db: &Database, pendaftaran_id: &str, i: usize) -> anyhow::Result<()> {
    let phone = format!("+628129000{:04}", i + 1);
    let now = companion_db::now();
    db.set_permit_contact(pendaftaran_id, &phone, "staff", Some("demo.staff"), now)
        .await?;
    db.record_consent(&phone, "opt_in", "loket", Some("demo.staff"), now)
        .await?;
    Ok(())
}

/// The demo's renewal: a published demo letter (the newest with known dates) is confirmed by
/// the demo staff as the renewal of an older issued permit (of the same type when there is one;
/// with a reason when the pair is not an obvious renewal), so its notice — validity and
/// download link — reaches the applicant's phone on the simulator.
pub async fn demo_renewal(db: &Database, notifier: Option<&Notifier>) -> anyhow::Result<()> {
    use companion_domain::renewals::{RenewalState, renewal_doubts};
    use companion_domain::workflow::DocState;
    let mut published = Vec::new();
    for case in db
        .signing_cases_in(DocState::Published.as_str(), 50)
        .await?
    {
        if let Some(p) = db.get_permit(&case.pendaftaran_id).await? {
            published.push(p);
        }
    }
    let renewals = db.list_renewals(None).await?;
    if renewals.iter().any(|r| {
        published.iter().any(|p| p.pendaftaran_id == r.renewal_id)
            && RenewalState::parse(&r.state) == Some(RenewalState::Confirmed)
    }) {
        // A later start: linked already.
        if let Some(n) = notifier {
            n.renewal_notices().await?;
        }
        return Ok(());
    }
    // Known dates first (the expiry sync may not have run yet), then the newest.
    let Some(new) = published.into_iter().max_by_key(|p| {
        (
            p.expiry_date.is_some() && p.issue_date.is_some(),
            p.issue_date,
        )
    }) else {
        return Ok(());
    };
    let query = companion_db::PermitQuery {
        status: Some(companion_domain::PermitStatus::Issued),
        has_pdf: Some(false),
        page: 1,
        per_page: 200,
        ..Default::default()
    };
    let (candidates, _) = db.list_permits(&query).await?;
    let older = |p: &companion_domain::permits::PermitView| {
        p.pendaftaran_id != new.pendaftaran_id
            && matches!((p.issue_date, new.issue_date), (Some(o), Some(n)) if o < n)
    };
    let Some(old) = candidates
        .iter()
        .find(|p| older(p) && p.permit_type_name == new.permit_type_name)
        .or_else(|| candidates.iter().find(|p| older(p)))
        .or_else(|| {
            candidates
                .iter()
                .find(|p| p.pendaftaran_id != new.pendaftaran_id)
        })
    else {
        return Ok(());
    };
    let reason = (!renewal_doubts(&new, old).is_empty())
        .then_some("Demo: contoh perpanjangan yang dikonfirmasi petugas");
    db.confirm_renewal(
        &new.pendaftaran_id,
        &old.pendaftaran_id,
        "demo.staff",
        reason,
        companion_db::now(),
    )
    .await?;
    if let Some(n) = notifier {
        n.renewal_notices().await?;
    }
    Ok(())
}
