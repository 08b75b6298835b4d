//! The satisfaction survey's wiring (issue 24, docs/skm.md): the invitation job (one WhatsApp
//! invitation per published permit, through the outbox), the simulator's approved template, and
//! the demo's month of answers.

use std::time::Duration;

use companion_db::Database;
use companion_db::surveys::SurveyAnswer;
use companion_domain::survey::{self, AGE_BANDS, EDUCATION, OCCUPATIONS, SEXES, Scores};
use tokio::sync::watch;

/// A small deterministic generator for the demo's answers (same answers on every machine).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A number in `range` (end exclusive).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Issued permits asked about their collection per run of the job (each at most once a day).
const COLLECTION_CHECKS: i64 = 10;

/// How often the invitation job looks for newly published permits.
const EVERY: Duration = Duration::from_secs(60);

/// Queues survey invitations every minute, one instance at a time (a database lease).
pub fn spawn_invitations(
    db: Database,
    public_base_url: String,
    tracker: Option<std::sync::Arc<companion_sicantik::Tracker>>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let holder = format!("survey-{}", std::process::id());
        loop {
            match db
                .try_acquire_lease("survey-invitations", &holder, chrono::Duration::seconds(50))
                .await
            {
                Ok(true) => {
                    // Collection is known from SICANTIK's step chain: a few permits a minute.
                    if let Some(t) = &tracker {
                        match t.refresh_collections(COLLECTION_CHECKS).await {
                            Ok(n) if n > 0 => tracing::info!(collected = n, "permits collected"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "collection check failed"),
                        }
                    }
                    match companion_notify::survey::invite(
                        &db,
                        &public_base_url,
                        companion_db::now(),
                        200,
                    )
                    .await
                    {
                        Ok(n) if n > 0 => {
                            tracing::info!(invitations = n, "survey invitations queued")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "survey invitations failed"),
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "survey invitation lease unavailable"),
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The invitation's approved template in both languages, for the WhatsApp simulator.
pub fn simulator_templates() -> Vec<companion_simulators::SimTemplate> {
    use companion_notify::templates::survey_invitation as tpl;
    ["id", "en"]
        .into_iter()
        .map(|lang| {
            companion_simulators::SimTemplate::approved(
                tpl::PROVIDER_TEMPLATE,
                lang,
                &tpl::numbered(lang),
            )
        })
        .collect()
}

const DEMO_COMMENTS: [&str; 8] = [
    "Petugas ramah, tetapi antrean di loket cukup lama.",
    "Mohon informasi persyaratan dibuat lebih jelas di situs web.",
    "Proses cepat, terima kasih.",
    "Ruang tunggu panas, mohon ditambah kipas angin.",
    "Pengaduan saya lewat telepon belum dijawab.",
    "Sangat membantu bisa unduh izin dari WhatsApp.",
    "Waktu penyelesaian lebih lama dari yang dijanjikan.",
    "Parkir sempit.",
];

/// The demo's answers: every day of the last full month and of this month so far, two to five
/// answers a day with realistic spreads (waiting time and complaint handling score lowest), a
/// comment now and then, and invitations to match a ~70 % response rate. Also two links for the
/// browser test — one open, one expired — written to `DATA_DIR/demo-survey.json`.
pub async fn seed_demo(
    db: &Database,
    data_dir: &str,
    today: chrono::NaiveDate,
) -> anyhow::Result<()> {
    use chrono::Datelike;
    let (_, existing) = db
        .survey_tallies(
            chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default(),
            chrono::NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or_default(),
        )
        .await?;
    let seeded = !existing.is_empty();
    let first = today
        .with_day(1)
        .and_then(|d| d.pred_opt())
        .and_then(|d| d.with_day(1))
        .unwrap_or(today);
    let types = db.survey_types_for_demo().await.unwrap_or_default();
    let mut rng = Lcg(2017);
    // Mean score per element (U1–U9), as a month at a typical office might look.
    let means = [3.3, 3.1, 2.7, 3.8, 3.2, 3.3, 3.5, 2.9, 2.8];
    let mut day = first;
    let mut n = 0usize;
    while !seeded && day <= today {
        for _ in 0..2 + rng.below(4) {
            let mut s = [0u8; 9];
            for (v, m) in s.iter_mut().zip(means) {
                let x: f64 = m + (rng.unit() * 2.0 - 1.0);
                *v = x.round().clamp(1.0, 4.0) as u8;
            }
            let answer = SurveyAnswer {
                scores: Scores::new(s).ok(),
                comment: (rng.below(6) == 0)
                    .then(|| DEMO_COMMENTS[rng.below(DEMO_COMMENTS.len())].to_string()),
                age_band: Some(AGE_BANDS[rng.below(AGE_BANDS.len())].to_string()),
                sex: Some(SEXES[rng.below(SEXES.len())].0.to_string()),
                education: Some(EDUCATION[rng.below(EDUCATION.len())].0.to_string()),
                occupation: Some(OCCUPATIONS[rng.below(OCCUPATIONS.len())].0.to_string()),
            };
            let permit_type = types.get(rng.below(types.len())).map(String::as_str);
            db.seed_survey_response(day, permit_type, &answer).await?;
            n += 1;
            // About seven in ten invited applicants answer.
            let invites = if rng.below(10) < 4 { 2 } else { 1 };
            for k in 0..invites {
                let at = day
                    .and_hms_opt(9, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or_else(chrono::Utc::now);
                let (_, hash) = survey::new_token();
                db.create_survey_invitation(
                    &format!("demo-survei-{n}-{k}"),
                    &hash,
                    permit_type,
                    at,
                    at + chrono::Duration::days(survey::LINK_DAYS),
                )
                .await?;
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    // Two links for the browser test.
    let now = companion_db::now();
    let (open, open_hash) = survey::new_token();
    let (expired, expired_hash) = survey::new_token();
    let t = types.first().map(String::as_str);
    db.create_survey_invitation(
        &format!("demo-survei-terbuka-{}", now.timestamp()),
        &open_hash,
        t,
        now,
        now + chrono::Duration::days(survey::LINK_DAYS),
    )
    .await?;
    db.create_survey_invitation(
        &format!("demo-survei-lewat-{}", now.timestamp()),
        &expired_hash,
        t,
        now - chrono::Duration::days(40),
        now - chrono::Duration::days(10),
    )
    .await?;
    let path = std::path::Path::new(data_dir).join("demo-survey.json");
    std::fs::write(
        &path,
        serde_json::json!({ "open": open, "expired": expired }).to_string(),
    )?;
    tracing::info!(answers = n, "demo survey answers seeded");
    Ok(())
}
