//! The satisfaction survey on both backends: one invitation and one answer per permit, expired
//! and unknown links, the sums the IKM is computed from, comments and the response rate.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use companion_db::surveys::{SubmitOutcome, SurveyAnswer};
use companion_db::testing::TestDb;
use companion_domain::survey::{Grade, Scores};

companion_db::on_both_backends!(one_answer_per_permit_and_the_sums);

fn answer(scores: [u8; 9], comment: Option<&str>) -> SurveyAnswer {
    SurveyAnswer {
        scores: Some(Scores::new(scores).unwrap()),
        comment: comment.map(str::to_string),
        age_band: Some("30-39".into()),
        ..Default::default()
    }
}

async fn one_answer_per_permit_and_the_sums(backend: &str) {
    let t = TestDb::new(backend).await.unwrap();
    let db = &t.db;
    let now = Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).unwrap();
    let later = now + Duration::days(30);
    assert!(
        db.create_survey_invitation("P-1", "h1", Some("IZIN A"), now, later)
            .await
            .unwrap()
    );
    // A second invitation for the same permit is refused.
    assert!(
        !db.create_survey_invitation("P-1", "h1b", Some("IZIN A"), now, later)
            .await
            .unwrap()
    );
    assert!(
        db.create_survey_invitation("P-2", "h2", Some("IZIN B"), now, later)
            .await
            .unwrap()
    );
    assert!(
        db.create_survey_invitation(
            "P-3",
            "h3",
            Some("IZIN B"),
            now - Duration::days(40),
            now - Duration::days(10)
        )
        .await
        .unwrap()
    );

    let inv = db.survey_invitation("h1").await.unwrap().unwrap();
    assert_eq!((inv.pendaftaran_id.as_str(), inv.answered), ("P-1", false));
    assert!(db.survey_invitation("nope").await.unwrap().is_none());

    let a = answer([3, 3, 3, 4, 3, 3, 4, 3, 3], Some("Antrean terlalu lama"));
    assert_eq!(
        db.submit_survey("h1", &a, now).await.unwrap(),
        SubmitOutcome::Stored
    );
    assert_eq!(
        db.submit_survey("h1", &a, now).await.unwrap(),
        SubmitOutcome::AlreadyAnswered
    );
    assert_eq!(
        db.submit_survey("h3", &a, now).await.unwrap(),
        SubmitOutcome::Expired
    );
    assert_eq!(
        db.submit_survey("zzz", &a, now).await.unwrap(),
        SubmitOutcome::Unknown
    );
    let b = answer([4, 3, 3, 4, 3, 4, 4, 3, 3], None);
    assert_eq!(
        db.submit_survey("h2", &b, now).await.unwrap(),
        SubmitOutcome::Stored
    );
    assert!(db.survey_invitation("h1").await.unwrap().unwrap().answered);

    let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let (total, types) = db.survey_tallies(from, to).await.unwrap();
    assert_eq!(total.respondents, 2);
    assert_eq!(total.sums, [7, 6, 6, 8, 6, 7, 8, 6, 6]);
    assert_eq!(types.len(), 2);
    let idx = total.index().unwrap();
    // 60 of 72 points: 25 × 60 / 18 = 83,33.
    assert_eq!((idx.ikm_text(), idx.grade), ("83,33".to_string(), Grade::B));

    // Nothing in another month.
    let (dec, _) = db
        .survey_tallies(to, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap())
        .await
        .unwrap();
    assert_eq!(dec.respondents, 0);

    let comments = db.survey_comments(from, to, 50).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].comment, "Antrean terlalu lama");
    // Invitations made in November: P-1 and P-2 (P-3 was made in October).
    assert_eq!(db.survey_invitations_between(from, to).await.unwrap(), 2);

    // The demo's seeding path.
    db.seed_survey_response(from, Some("IZIN A"), &answer([1; 9], None))
        .await
        .unwrap();
    let (total, _) = db.survey_tallies(from, to).await.unwrap();
    assert_eq!(total.respondents, 3);
    t.cleanup().await.unwrap();
}
