//! The satisfaction survey (migration 0015, docs/skm.md): one invitation per permit, answers
//! stored without anything that points back to the applicant, and the sums the IKM needs.

use chrono::{DateTime, NaiveDate, Utc};
use companion_domain::survey::{ELEMENTS, Scores, Tally};

use crate::{Database, Result, on_backend};

/// An invitation as its link's page needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SurveyInvitation {
    pub id: i64,
    pub pendaftaran_id: String,
    pub permit_type_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub answered: bool,
}

/// One answer: the nine scores and the optional parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyAnswer {
    pub scores: Option<Scores>,
    pub comment: Option<String>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub education: Option<String>,
    pub occupation: Option<String>,
}

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    Stored,
    AlreadyAnswered,
    Expired,
    Unknown,
}

/// A comment for the office to act on: the day and the permit type only.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SurveyComment {
    pub answered_on: NaiveDate,
    pub permit_type_name: Option<String>,
    pub comment: String,
}

/// A published permit whose applicant has not been invited yet.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SurveyCandidate {
    pub pendaftaran_id: String,
    pub permit_type_name: Option<String>,
    pub applicant_name: Option<String>,
}

const SUMS: &str = "COUNT(*), COALESCE(SUM(u1), 0), COALESCE(SUM(u2), 0), COALESCE(SUM(u3), 0), \
     COALESCE(SUM(u4), 0), COALESCE(SUM(u5), 0), COALESCE(SUM(u6), 0), COALESCE(SUM(u7), 0), \
     COALESCE(SUM(u8), 0), COALESCE(SUM(u9), 0)";

type SumRow = (
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

fn tally_of(r: &SumRow) -> Tally {
    let (_, n, s1, s2, s3, s4, s5, s6, s7, s8, s9) = *r;
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    let sums: [u64; ELEMENTS] = [
        u(s1),
        u(s2),
        u(s3),
        u(s4),
        u(s5),
        u(s6),
        u(s7),
        u(s8),
        u(s9),
    ];
    Tally {
        respondents: u(n),
        sums,
    }
}

impl Database {
    /// Records the invitation of a permit's applicant (token stored as its SHA-256 hex). False
    /// when the permit already has one: one invitation, and one answer, per permit.
    pub async fn create_survey_invitation(
        &self,
        pendaftaran_id: &str,
        token_hash: &str,
        permit_type_name: Option<&str>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO survey_invitations (pendaftaran_id, token_hash, permit_type_name, created_at, expires_at, answered) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pendaftaran_id) DO NOTHING",
            )
            .bind(pendaftaran_id)
            .bind(token_hash)
            .bind(permit_type_name)
            .bind(crate::truncate_micros(now))
            .bind(crate::truncate_micros(expires_at))
            .bind(false)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The invitation a link's token hash names.
    pub async fn survey_invitation(&self, token_hash: &str) -> Result<Option<SurveyInvitation>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT id, pendaftaran_id, permit_type_name, created_at, expires_at, answered \
                 FROM survey_invitations WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Stores an answer for the invitation, once: the invitation is marked answered in the same
    /// transaction, so two submissions at once store one answer.
    pub async fn submit_survey(
        &self,
        token_hash: &str,
        answer: &SurveyAnswer,
        now: DateTime<Utc>,
    ) -> Result<SubmitOutcome> {
        let Some(scores) = answer.scores else {
            return Ok(SubmitOutcome::Unknown);
        };
        let s = scores.get().map(i32::from);
        let day = now.date_naive();
        on_backend!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed: Option<(Option<String>,)> = sqlx::query_as(
                "UPDATE survey_invitations SET answered = $1 \
                 WHERE token_hash = $2 AND answered = $3 AND expires_at > $4 RETURNING permit_type_name",
            )
            .bind(true)
            .bind(token_hash)
            .bind(false)
            .bind(crate::truncate_micros(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some((permit_type,)) = claimed else {
                tx.rollback().await?;
                return Ok(match self.survey_invitation(token_hash).await? {
                    None => SubmitOutcome::Unknown,
                    Some(i) if i.answered => SubmitOutcome::AlreadyAnswered,
                    Some(_) => SubmitOutcome::Expired,
                });
            };
            sqlx::query(
                "INSERT INTO survey_responses (answered_on, permit_type_name, u1, u2, u3, u4, u5, u6, u7, u8, u9, \
                 comment, age_band, sex, education, occupation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(day)
            .bind(permit_type)
            .bind(s[0])
            .bind(s[1])
            .bind(s[2])
            .bind(s[3])
            .bind(s[4])
            .bind(s[5])
            .bind(s[6])
            .bind(s[7])
            .bind(s[8])
            .bind(&answer.comment)
            .bind(&answer.age_band)
            .bind(&answer.sex)
            .bind(&answer.education)
            .bind(&answer.occupation)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(SubmitOutcome::Stored)
    }

    /// A stored answer without an invitation (the demo's seeded month).
    pub async fn seed_survey_response(
        &self,
        day: NaiveDate,
        permit_type_name: Option<&str>,
        answer: &SurveyAnswer,
    ) -> Result<()> {
        let Some(scores) = answer.scores else {
            return Ok(());
        };
        let s = scores.get().map(i32::from);
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO survey_responses (answered_on, permit_type_name, u1, u2, u3, u4, u5, u6, u7, u8, u9, \
                 comment, age_band, sex, education, occupation) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(day)
            .bind(permit_type_name)
            .bind(s[0])
            .bind(s[1])
            .bind(s[2])
            .bind(s[3])
            .bind(s[4])
            .bind(s[5])
            .bind(s[6])
            .bind(s[7])
            .bind(s[8])
            .bind(&answer.comment)
            .bind(&answer.age_band)
            .bind(&answer.sex)
            .bind(&answer.education)
            .bind(&answer.occupation)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The sums of the answers from `from` to before `to`, in total and per permit type
    /// (`None` first: the total).
    pub async fn survey_tallies(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Tally, Vec<(String, Tally)>)> {
        let (total, per_type): (Vec<SumRow>, Vec<SumRow>) = on_backend!(self, pool => {
            let total = sqlx::query_as(&format!(
                "SELECT NULL, {SUMS} FROM survey_responses WHERE answered_on >= $1 AND answered_on < $2"
            ))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            let per_type = sqlx::query_as(&format!(
                "SELECT permit_type_name, {SUMS} FROM survey_responses \
                 WHERE answered_on >= $1 AND answered_on < $2 GROUP BY permit_type_name ORDER BY COUNT(*) DESC, permit_type_name"
            ))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            (total, per_type)
        });
        let t = total.first().map(tally_of).unwrap_or_default();
        let types = per_type
            .iter()
            .map(|r| (r.0.clone().unwrap_or_else(|| "—".into()), tally_of(r)))
            .collect();
        Ok((t, types))
    }

    /// Invitations made from `from` to before `to` (the response rate's denominator).
    pub async fn survey_invitations_between(&self, from: NaiveDate, to: NaiveDate) -> Result<i64> {
        let start = from.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let end = to.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let (Some(start), Some(end)) = (start, end) else {
            return Ok(0);
        };
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM survey_invitations WHERE created_at >= $1 AND created_at < $2",
            )
            .bind(start)
            .bind(end)
            .fetch_one(pool)
            .await?
        }))
    }

    /// The comments from `from` to before `to`, newest first.
    pub async fn survey_comments(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        limit: i64,
    ) -> Result<Vec<SurveyComment>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT answered_on, permit_type_name, comment FROM survey_responses \
                 WHERE answered_on >= $1 AND answered_on < $2 AND comment IS NOT NULL AND comment <> '' \
                 ORDER BY answered_on DESC, id DESC LIMIT $3",
            )
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Published permits (signed and released) and collected ones (SICANTIK's step chain showed
    /// the permit handed over, `tracking_cache.collected_at`) whose applicant was not invited
    /// yet, oldest first.
    pub async fn survey_candidates(&self, limit: i64) -> Result<Vec<SurveyCandidate>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT p.pendaftaran_id, p.permit_type_name, p.applicant_name FROM permits p \
                 WHERE (EXISTS (SELECT 1 FROM signing_cases c WHERE c.pendaftaran_id = p.pendaftaran_id AND c.state = 'published') \
                 OR EXISTS (SELECT 1 FROM tracking_cache t WHERE t.pendaftaran_id = p.pendaftaran_id AND t.collected_at IS NOT NULL)) \
                 AND NOT EXISTS (SELECT 1 FROM survey_invitations i WHERE i.pendaftaran_id = p.pendaftaran_id) \
                 ORDER BY p.updated_at LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Up to ten permit type names with the most permits (the demo's seeded answers).
    pub async fn survey_types_for_demo(&self) -> Result<Vec<String>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT permit_type_name FROM permits WHERE permit_type_name IS NOT NULL \
                 GROUP BY permit_type_name ORDER BY COUNT(*) DESC, permit_type_name LIMIT 10",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}
