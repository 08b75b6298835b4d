//! Survey invitations (issue 24, docs/skm.md): after a permit is published, one WhatsApp
//! invitation to its applicant — only when the applicant's number has opted in and is not
//! blacklisted — with a link to `/survei/<token>`. The dispatcher checks consent (STOP) again at
//! send time and holds applicant messages in quiet hours.

use chrono::{DateTime, Duration, Utc};
use companion_db::{Database, NewMessage, Result};
use companion_domain::survey;

use crate::phone;
use crate::templates::survey_invitation as tpl;

/// Invites the applicants of up to `limit` published permits not yet invited; returns how many
/// invitations were queued. A permit whose applicant has not opted in is left for a later run
/// (it is invited once consent is given).
pub async fn invite(
    db: &Database,
    public_base_url: &str,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<u64> {
    let mut queued = 0;
    for c in db.survey_candidates(limit).await? {
        let Some((raw, _source)) = db.permit_phone(&c.pendaftaran_id).await? else {
            continue;
        };
        let Ok(number) = phone::normalize(&raw) else {
            continue;
        };
        let Some(contact) = db.contact(&number).await? else {
            continue;
        };
        if !contact.may_receive() {
            continue;
        }
        let (token, hash) = survey::new_token();
        let expires = now + Duration::days(survey::LINK_DAYS);
        if !db
            .create_survey_invitation(
                &c.pendaftaran_id,
                &hash,
                c.permit_type_name.as_deref(),
                now,
                expires,
            )
            .await?
        {
            continue; // another instance invited it first
        }
        let link = format!("{}/survei/{token}", public_base_url.trim_end_matches('/'));
        let language = if contact.language == "en" { "en" } else { "id" };
        let name = c
            .applicant_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("Bapak/Ibu");
        let permit_type = c.permit_type_name.as_deref().unwrap_or("izin");
        let (body, params) = tpl::render(language, name, permit_type, &link);
        let message = NewMessage {
            dedup_key: format!("survey:{}:{number}", c.pendaftaran_id),
            event: tpl::EVENT.into(),
            subject_id: Some(c.pendaftaran_id.clone()),
            audience: "applicant".into(),
            phone: number,
            language: language.into(),
            template: tpl::PROVIDER_TEMPLATE.into(),
            parameters: serde_json::to_string(&params).unwrap_or_default(),
            body,
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        };
        queued += db.enqueue_messages(&[message]).await?;
    }
    if queued > 0 {
        metrics::counter!("companion_survey_invitations_total").increment(queued);
    }
    Ok(queued)
}
