//! Security alerts on WhatsApp (issue 18, docs/security.md): the signals of the dashboard's
//! "Peringatan keamanan" sent to every enabled administrator and official with a number.
//!
//! - **Login flood**: an existing, enabled account whose username failed to sign in at least
//!   `ATTACK_FAILURES` times in the last `ATTACK_WINDOW_HOURS`, and was still tried on the office
//!   day — one message per recipient per username per office day. Made-up usernames are left to
//!   the dashboard: they cannot be taken over, and a flood of them would otherwise spend the
//!   office's daily message limit.
//! - **Privileged grant**: an audit entry that gave an account the official or administrator
//!   role within the last `GRANT_ALERT_HOURS` — one message per recipient per audit entry; the
//!   account that received the role is not told of its own grant.
//!
//! Run by [`Notifier::run_schedules`]; every key is deduplicated in the outbox, so running it
//! again queues nothing new. At send time the dispatcher checks that the number still belongs
//! to an enabled administrator or official ([`still_privileged`]); quiet hours do not hold
//! these messages (see docs/security.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use companion_db::{Database, NewMessage};
use companion_domain::Role;
use companion_domain::security::{ATTACK_WINDOW_HOURS, GRANT_ALERT_HOURS};

use crate::phone;
use crate::service::{Audience, Notifier, Result};
use crate::templates::Values;
use crate::templates::security_alert::Signal;

/// Staff have no language of their own: messages to them are in Bahasa Indonesia.
const LANGUAGE: &str = "id";

/// One administrator or official with a usable number.
#[derive(Debug, Clone)]
struct Recipient {
    username: String,
    name: String,
    phone: String,
    audience: Audience,
}

/// Every enabled administrator and official with a valid number, one per number.
async fn recipients(db: &Database) -> Result<Vec<Recipient>> {
    let mut by_phone = BTreeMap::new();
    for (role, audience) in [
        (Role::Admin, Audience::Staff),
        (Role::Official, Audience::Official),
    ] {
        for (username, name, raw) in db.users_with_phone(role.as_str()).await? {
            let Ok(phone) = phone::normalize(&raw) else {
                continue;
            };
            by_phone.entry(phone.clone()).or_insert(Recipient {
                username,
                name,
                phone,
                audience,
            });
        }
    }
    Ok(by_phone.into_values().collect())
}

/// Whether `phone` (E.164) still belongs to an enabled administrator or official: a security
/// alert queued for someone who lost the role, or was disabled, since is not sent.
pub async fn still_privileged(db: &Database, phone: &str) -> Result<bool> {
    Ok(recipients(db).await?.iter().any(|r| r.phone == phone))
}

/// What a role lets its holder do, in the grant alert.
fn powers(role: Role, language: &str) -> &'static str {
    match (role, language == "en") {
        (Role::Admin, false) => "mengatur semua akun, peran dan kata sandinya",
        (Role::Admin, true) => "manage every account, its role and its password",
        (_, false) => "menyetujui dan menandatangani dokumen izin",
        (_, true) => "approve and sign permit documents",
    }
}

impl Notifier {
    /// Queues the security alerts due now; returns how many new messages were queued.
    pub async fn security_alerts(&self) -> Result<u64> {
        let now = self.now();
        let recipients = recipients(self.db()).await?;
        if recipients.is_empty() {
            return Ok(0);
        }
        let as_of = self.alert_time(now);
        let dashboard = format!("{}/", self.config().public_base_url.trim_end_matches('/'));
        let mut out = Vec::new();

        let day = self.office_date(now);
        let floods = self
            .db()
            .account_login_failures_since(
                now - Duration::hours(ATTACK_WINDOW_HOURS),
                self.office_day_start(now),
            )
            .await?;
        for (f, today) in floods {
            if !f.alert_due(today) {
                continue;
            }
            let mut values = Values::new();
            values.insert("pengguna".into(), f.username.clone());
            values.insert("jumlah".into(), f.failures.to_string());
            values.insert("alamat".into(), f.addresses.to_string());
            values.insert("waktu".into(), as_of.clone());
            values.insert("tautan".into(), dashboard.clone());
            // Usernames are [a-z0-9._-]: the key cannot be confused with another.
            let dedup = format!("security:flood:{}:{day}", f.username);
            for r in &recipients {
                out.extend(self.alert(Signal::LoginFlood, &f.username, &dedup, r, &values, now));
            }
        }

        let grants = self
            .db()
            .privileged_grants_since(now - Duration::hours(GRANT_ALERT_HOURS))
            .await?;
        for (entry, role) in grants {
            let grantee_id = entry.target_id.as_deref().and_then(|id| id.parse().ok());
            let grantee = match grantee_id {
                Some(id) => self.db().get_user(id).await?,
                None => None,
            };
            let details: serde_json::Value =
                serde_json::from_str(&entry.details).unwrap_or_default();
            let (grantee_username, grantee_label) = match &grantee {
                Some(u) => (
                    Some(u.username.clone()),
                    format!("{} ({})", u.display_name, u.username),
                ),
                // A deleted account: the name the entry recorded, else its id.
                None => match details.get("username").and_then(|u| u.as_str()) {
                    Some(u) => (Some(u.to_string()), u.to_string()),
                    None => (
                        None,
                        format!("#{}", entry.target_id.as_deref().unwrap_or("?")),
                    ),
                },
            };
            let giver = if entry.actor_id.is_none() && entry.source == "cli" {
                "perintah baris (CLI) di server".to_string()
            } else {
                entry.actor.clone()
            };
            let mut values = Values::new();
            values.insert("pemberi".into(), giver);
            values.insert("penerima".into(), grantee_label);
            values.insert("peran".into(), role.label().into());
            values.insert("kewenangan".into(), powers(role, LANGUAGE).into());
            values.insert("waktu".into(), self.alert_time(entry.at));
            values.insert("tautan".into(), dashboard.clone());
            let dedup = format!("security:grant:{}", entry.id);
            let subject = format!("audit:{}", entry.id);
            for r in &recipients {
                // Told to every other administrator and official, not to the account itself.
                if grantee_username.as_deref() == Some(r.username.as_str()) {
                    continue;
                }
                out.extend(self.alert(Signal::PrivilegedGrant, &subject, &dedup, r, &values, now));
            }
        }
        Ok(self.db().enqueue_messages(&out).await?)
    }

    fn alert_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.config().office_tz)
            .format("%d-%m-%Y %H:%M %Z")
            .to_string()
    }

    fn alert(
        &self,
        signal: Signal,
        subject: &str,
        dedup: &str,
        to: &Recipient,
        values: &Values,
        now: DateTime<Utc>,
    ) -> Option<NewMessage> {
        let mut values = values.clone();
        values.insert("nama".into(), to.name.clone());
        let (body, parameters) = match signal.render(LANGUAGE, &values) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(event = signal.key(), error = %e, "security alert not rendered");
                return None;
            }
        };
        Some(NewMessage {
            dedup_key: format!("{dedup}:{}", to.phone),
            event: signal.key().into(),
            subject_id: Some(subject.to_string()),
            audience: to.audience.as_str().into(),
            phone: to.phone.clone(),
            language: LANGUAGE.into(),
            template: signal.provider_template().into(),
            parameters: serde_json::to_string(&parameters).unwrap_or_default(),
            body,
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_are_named_per_role_and_language() {
        assert!(powers(Role::Official, "id").contains("menandatangani"));
        assert!(powers(Role::Admin, "en").contains("account"));
    }
}
