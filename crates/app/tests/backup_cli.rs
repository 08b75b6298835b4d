//! `backup` → wipe → `restore` through the binary, on SQLite and PostgreSQL: the same permits,
//! documents (every hash equal, `documents check` clean), signatures (the restored signed PDF
//! validates against the restored keys), audit chain (`audit verify` passes) and message history.
//! A restore into a system that is not empty is refused, and a damaged backup is refused.

use std::path::Path;
use std::process::Command;

use companion_db::testing::TestDb;
use companion_db::{MessageQuery, NewMessage};
use companion_documents::Actor;
use companion_domain::Role;
use companion_signing::Participant;
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_sicantik-companion");

fn run(vars: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn vars(url: &str, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", url.to_string()),
        ("STORAGE_URL", format!("file://{}/objects", dir.display())),
        ("KEYS_DIR", dir.join("keys").display().to_string()),
        ("INBOX_DIR", String::new()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// A blank database for the restore: a new SQLite path, or a new PostgreSQL database.
async fn blank(backend: &str, dir: &Path) -> (String, Option<String>) {
    if backend == "sqlite" {
        return (
            format!("sqlite://{}/restored/companion.db", dir.display()),
            None,
        );
    }
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| companion_db::testing::DEFAULT_TEST_POSTGRES_URL.into());
    let name = format!("companion_test_restore_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&admin).await.expect("admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut c)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .expect("create");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    (format!("{base}/{name}"), Some(name))
}

async fn drop_pg(name: Option<String>) {
    if let Some(name) = name {
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| companion_db::testing::DEFAULT_TEST_POSTGRES_URL.into());
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("admin");
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
}

companion_db::on_both_backends!(backup_wipe_restore_gives_the_same_system);

async fn backup_wipe_restore_gives_the_same_system(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let live = tempfile::tempdir().expect("dir");
    let env = vars(&t.url, live.path());
    let (code, _, err) = run(&env, &["keys", "init", "--signer-name", "Pejabat Uji"]);
    assert_eq!(code, 0, "{err}");

    // Three permits carried to signed and published, a message history, an audit trail.
    let (docs, service) = companion_signing::testing::local_services(
        &t.db,
        &live.path().join("objects"),
        &live.path().join("keys"),
    )
    .await
    .expect("services");
    let who = |role, name: &str| Participant {
        actor: Actor {
            user_id: None,
            name: name.into(),
            source: "test".into(),
        },
        role,
        display_name: name.into(),
    };
    let (staff, official) = (who(Role::Staff, "petugas"), who(Role::Official, "pejabat"));
    for i in 0..3 {
        let case = companion_signing::testing::ready_to_sign(
            &service,
            &docs,
            &staff,
            &official,
            &format!("07{i:012}"),
            &format!("503/{i:04}/DPMPTSP/2026"),
        )
        .await
        .expect("ready");
        service
            .sign_now(case.id, &official, None)
            .await
            .expect("signed");
    }
    let now = companion_db::now();
    let messages: Vec<NewMessage> = (0..4)
        .map(|i| NewMessage {
            dedup_key: format!("backup:{i}"),
            event: "permit_ready".into(),
            subject_id: Some(format!("07{i:012}")),
            audience: "applicant".into(),
            phone: format!("+6281200000{i:03}"),
            language: "id".into(),
            template: "izin_selesai_diproses".into(),
            parameters: "[]".into(),
            body: format!("pesan {i}"),
            state: "queued".into(),
            failure_detail: None,
            next_attempt_at: now,
        })
        .collect();
    t.db.enqueue_messages(&messages).await.expect("messages");
    let before = t.db.figures().await.expect("figures");
    assert!(
        before.documents >= 9 && before.audit_entries > 0,
        "{before:?}"
    );
    let objects_before = t.db.document_objects().await.expect("objects");

    // Backup.
    let backup = live.path().join("backup");
    let backup_arg = backup.display().to_string();
    let (code, out, err) = run(&env, &["backup", &backup_arg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(summary["objects"], objects_before.len());
    // A second backup into the same folder is refused.
    let (code, _, err) = run(&env, &["backup", &backup_arg]);
    assert_eq!(code, 1, "{err}");

    // Wipe: a new machine with an empty database, an empty store and no keys.
    let fresh = tempfile::tempdir().expect("fresh");
    let (url, pg_name) = blank(backend, fresh.path()).await;
    let restored_env = vars(&url, fresh.path());
    // A damaged object in the backup is refused.
    let victim = backup.join("objects").join(&objects_before[0].sha256);
    let good = std::fs::read(&victim).expect("object");
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::remove_file(&victim).expect("rm");
    std::fs::write(&victim, &bad).expect("damage");
    let (code, _, err) = run(&restored_env, &["restore", &backup_arg]);
    assert_eq!(code, 1, "a damaged backup must be refused");
    assert!(err.contains("damaged"), "{err}");
    // Start again from a blank database with the object mended.
    drop_pg(pg_name.clone()).await;
    let fresh = tempfile::tempdir().expect("fresh");
    let (url, pg_name) = blank(backend, fresh.path()).await;
    let restored_env = vars(&url, fresh.path());
    std::fs::remove_file(&victim).expect("rm");
    std::fs::write(&victim, &good).expect("mend");

    let (code, out, err) = run(&restored_env, &["restore", &backup_arg, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["figures_match"], true, "{report}");
    // A restored SQLite database is private: the file 0600, the folder 0700.
    #[cfg(unix)]
    if backend == "sqlite" {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        let folder = fresh.path().join("restored");
        assert_eq!(mode(&folder.join("companion.db")), 0o600);
        assert_eq!(mode(&folder), 0o700);
    }

    // The restored system, checked from outside.
    let restored = companion_db::Database::connect(&url)
        .await
        .expect("restored");
    assert_eq!(restored.figures().await.expect("figures"), before);
    assert_eq!(
        restored.document_objects().await.expect("objects"),
        objects_before
    );
    let msgs = restored
        .list_messages(&MessageQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("messages");
    assert_eq!(msgs.len(), 4);
    let (code, out, err) = run(&restored_env, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&restored_env, &["documents", "check", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    // A signed PDF from the restored store validates against the restored keys.
    let signed = restored
        .signing_cases_in("published", 10)
        .await
        .expect("cases");
    assert_eq!(signed.len(), 3);
    let doc = restored
        .get_document(signed[0].signed_document_id.expect("signed"))
        .await
        .expect("doc")
        .expect("doc");
    let file = fresh.path().join("objects").join(&doc.storage_key);
    let (code, out, err) = run(&restored_env, &["verify", &file.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ASLI"), "{out}");
    // Restoring again into the now-filled system is refused.
    let (code, _, err) = run(&restored_env, &["restore", &backup_arg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not empty"), "{err}");
    restored.close().await;
    drop_pg(pg_name).await;
    t.cleanup().await.expect("cleanup");
}

/// A crafted manifest whose key entry is not a plain file name (`..`, a folder, an absolute
/// path) is refused before anything is written: no file outside the keys folder, no database.
#[test]
fn restore_refuses_key_entries_that_are_not_plain_file_names() {
    for bad in [
        "../../outside.pem",
        "sub/ca.pem",
        "/tmp/companion-restore-abs.pem",
        "..",
    ] {
        let root = tempfile::tempdir().expect("dir");
        let backup = root.path().join("cadangan");
        std::fs::create_dir_all(backup.join("keys/sub")).expect("keys");
        std::fs::create_dir_all(backup.join("objects")).expect("objects");
        std::fs::write(backup.join("keys/sub/ca.pem"), "kunci").expect("key");
        std::fs::write(root.path().join("outside.pem"), "kunci").ok();
        std::fs::write(backup.join("database.sqlite"), "").expect("db");
        let manifest = serde_json::json!({
            "format": "sicantik-companion-backup/1",
            "created_at": "2026-12-01T00:00:00Z",
            "backend": "sqlite",
            "database": "database.sqlite",
            "figures": companion_db::backup::Figures::default(),
            "objects": [],
            "keys": [bad],
        });
        std::fs::write(backup.join("manifest.json"), manifest.to_string()).expect("manifest");
        let target = root.path().join("baru");
        let db_file = target.join("companion.db");
        let env = vec![
            ("DATABASE_URL", format!("sqlite://{}", db_file.display())),
            (
                "STORAGE_URL",
                format!("file://{}/objects", target.display()),
            ),
            ("KEYS_DIR", target.join("keys/aktif").display().to_string()),
            ("INBOX_DIR", String::new()),
            ("RUST_LOG", "warn".into()),
        ];
        let (code, out, err) = run(&env, &["restore", &backup.display().to_string()]);
        assert_eq!(code, 1, "{bad}: {out}{err}");
        assert!(err.contains("not a plain file name"), "{bad}: {err}");
        assert!(!db_file.exists(), "{bad}: nothing restored");
        assert!(!target.join("keys").exists(), "{bad}: no key written");
        assert!(
            !std::path::Path::new("/tmp/companion-restore-abs.pem").exists(),
            "{bad}"
        );
    }
}
