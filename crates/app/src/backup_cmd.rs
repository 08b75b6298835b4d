//! `backup DIR` and `restore DIR`: a consistent snapshot of the database (SQLite: `VACUUM
//! INTO`; PostgreSQL: `pg_dump` of an exported snapshot), every stored document (content-addressed
//! by SHA-256), the signing keys, and a manifest with the figures a restore must reproduce.
//! `restore` fills an empty system and then checks it: the same figures, every document's hash,
//! the audit chain. Large sites can use PostgreSQL's and the store's own tools instead (see the
//! operator's guide); the manifest format stays the same.

use std::path::{Path, PathBuf};

use companion_db::backup::{Figures, sqlite_file};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::CliError;
use crate::config::Settings;

const FORMAT: &str = "sicantik-companion-backup/1";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    created_at: chrono::DateTime<chrono::Utc>,
    backend: String,
    database: String,
    figures: Figures,
    objects: Vec<ObjectEntry>,
    keys: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ObjectEntry {
    key: String,
    sha256: String,
    size: u64,
}

fn user(msg: impl Into<String>) -> CliError {
    CliError::User(msg.into())
}

fn io(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::User(format!("{what} {}: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    crate::server::write_private(path, bytes).map_err(|e| io("cannot write", path, e))
}

fn tool(name: &str, args: &[&str]) -> Result<(), CliError> {
    let out = std::process::Command::new(name)
        .args(args)
        .output()
        .map_err(|e| {
            user(format!(
                "{name} is needed for PostgreSQL backups and restores (Debian: postgresql-client): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(user(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

pub async fn backup(settings: &Settings, dir: &Path, json: bool) -> Result<(), CliError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| io("cannot read", dir, e))?
            .next()
            .is_some()
    {
        return Err(user(format!(
            "{} is not empty: a backup goes into a new or empty folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir.join("objects")).map_err(|e| io("cannot create", dir, e))?;
    let db = crate::server::open_database(settings).await?;
    let storage = crate::server::open_storage(settings)?;
    // The database first, consistently; the object list comes from the same snapshot.
    let (database, figures, objects) = if let Some(mut snap) = db.pg_export_snapshot().await? {
        let file = dir.join("database.pgdump");
        let file_arg = file.display().to_string();
        let snapshot_arg = format!("--snapshot={}", snap.id);
        tool(
            "pg_dump",
            &[
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                &snapshot_arg,
                "--file",
                &file_arg,
                &settings.database_url,
            ],
        )?;
        let figures = snap.figures().await?;
        let objects = snap.document_objects().await?;
        snap.finish().await?;
        ("database.pgdump".to_string(), figures, objects)
    } else {
        let file = dir.join("database.sqlite");
        db.sqlite_snapshot(&file).await?;
        // The snapshot holds password hashes and personal data, like the database itself.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("cannot protect", &file, e))?;
        }
        let snapshot =
            companion_db::Database::connect(&format!("sqlite://{}", file.display())).await?;
        let figures = snapshot.figures().await?;
        let objects = snapshot.document_objects().await?;
        snapshot.close().await;
        ("database.sqlite".to_string(), figures, objects)
    };
    let mut entries = Vec::with_capacity(objects.len());
    for o in &objects {
        let bytes = storage.get_bytes(&o.storage_key).await.map_err(|e| {
            user(format!(
                "document {} ({}) cannot be read from the store: {e}",
                o.id, o.storage_key
            ))
        })?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        if sha != o.sha256 {
            return Err(user(format!(
                "document {} ({}) in the store does not match its recorded hash: run `documents check`",
                o.id, o.storage_key
            )));
        }
        let path = dir.join("objects").join(&sha);
        if !path.exists() {
            write_private(&path, &bytes)?;
        }
        entries.push(ObjectEntry {
            key: o.storage_key.clone(),
            sha256: sha,
            size: bytes.len() as u64,
        });
    }
    // The signing keys (private: the backup must be kept like the keys themselves).
    let mut keys = Vec::new();
    let keys_dir = Path::new(&settings.keys_dir);
    if keys_dir.is_dir() {
        std::fs::create_dir_all(dir.join("keys")).map_err(|e| io("cannot create", dir, e))?;
        for entry in walk(keys_dir)? {
            let rel = entry
                .strip_prefix(keys_dir)
                .map_err(|e| CliError::Internal(e.into()))?
                .to_path_buf();
            // `keys init` writes plain files; `restore` accepts nothing else.
            if !rel.to_str().is_some_and(is_plain_file_name) {
                tracing::warn!(file = %entry.display(), "not a plain file in the keys folder: left out of the backup");
                continue;
            }
            let target = dir.join("keys").join(&rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
            }
            let bytes = std::fs::read(&entry).map_err(|e| io("cannot read", &entry, e))?;
            write_private(&target, &bytes)?;
            keys.push(rel.display().to_string());
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: chrono::Utc::now(),
        backend: db.backend_name().into(),
        database,
        figures,
        objects: entries,
        keys,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::Internal(e.into()))?;
    write_private(&dir.join("manifest.json"), &text)?;
    db.close().await;
    let summary = serde_json::json!({
        "backup": dir.display().to_string(),
        "backend": manifest.backend,
        "figures": manifest.figures,
        "objects": manifest.objects.len(),
        "keys": manifest.keys.len(),
    });
    if json {
        println!("{summary}");
    } else {
        println!(
            "backup written to {} ({} database, {} documents, {} key files); it holds private keys: keep it safe",
            dir.display(),
            manifest.backend,
            manifest.objects.len(),
            manifest.keys.len()
        );
    }
    Ok(())
}

/// Every file under `dir` (depth-first).
/// A plain file name: one normal path component, no separator, no `..`, not absolute.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
        && matches!(
            Path::new(name).components().collect::<Vec<_>>().as_slice(),
            [std::path::Component::Normal(_)]
        )
}

/// A store key: relative segments, none empty, `.` or `..`.
fn is_store_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('/')
        && !key.contains(['\\', '\0'])
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Everything the manifest names is checked before anything is written: a crafted manifest
/// must not make `restore` read or write outside the backup folder and the targets (key files
/// are plain names in the keys folder, objects are named by their hash).
fn check_manifest(m: &Manifest) -> Result<(), CliError> {
    if let Some(bad) = m.keys.iter().find(|k| !is_plain_file_name(k)) {
        return Err(user(format!(
            "the backup manifest names the key file {bad:?}, which is not a plain file name: refused"
        )));
    }
    if !is_plain_file_name(&m.database) {
        return Err(user(format!(
            "the backup manifest names the database file {:?}, which is not a plain file name: refused",
            m.database
        )));
    }
    for o in &m.objects {
        if o.sha256.len() != 64 || !o.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(user(format!(
                "the backup manifest has an object hash {:?} that is not SHA-256: refused",
                o.sha256
            )));
        }
        if !is_store_key(&o.key) {
            return Err(user(format!(
                "the backup manifest has a store key {:?} outside the store: refused",
                o.key
            )));
        }
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io("cannot read", &d, e))? {
            let path = entry.map_err(|e| io("cannot read", &d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub async fn restore(settings: &Settings, dir: &Path, json: bool) -> Result<(), CliError> {
    let manifest_path = dir.join("manifest.json");
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).map_err(|e| io("cannot read", &manifest_path, e))?,
    )
    .map_err(|e| {
        user(format!(
            "{} is not a backup manifest: {e}",
            manifest_path.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(user(format!(
            "unknown backup format {:?} (this version reads {FORMAT})",
            manifest.format
        )));
    }
    check_manifest(&manifest)?;
    let backend = if settings.database_url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    if backend != manifest.backend {
        return Err(user(format!(
            "this backup is of a {} database; DATABASE_URL names a {backend} one",
            manifest.backend
        )));
    }
    // The database: only into an empty one.
    let source = dir.join(&manifest.database);
    if backend == "sqlite" {
        let target = sqlite_file(&settings.database_url)
            .ok_or_else(|| user("DATABASE_URL names no SQLite file"))?;
        if target.exists() {
            let db = companion_db::Database::connect(&settings.database_url).await?;
            let blank = db.is_blank().await?;
            db.close().await;
            if !blank {
                return Err(user(format!(
                    "{} is not empty: restore only into an empty system",
                    target.display()
                )));
            }
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", target.display()));
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| io("cannot remove", &p, e))?;
                }
            }
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::server::create_private_dir(parent)
                .map_err(|e| io("cannot create", parent, e))?;
        }
        std::fs::copy(&source, &target).map_err(|e| io("cannot copy", &source, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("cannot protect", &target, e))?;
        }
    } else {
        let db = companion_db::Database::connect(&settings.database_url).await?;
        let blank = db.is_blank().await?;
        db.close().await;
        if !blank {
            return Err(user(
                "the PostgreSQL database is not empty: restore only into an empty database",
            ));
        }
        let source_arg = source.display().to_string();
        let dbname = format!("--dbname={}", settings.database_url);
        tool(
            "pg_restore",
            &[
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                &dbname,
                &source_arg,
            ],
        )?;
    }
    // Migrations run forward when the backup is older than this version.
    let db = crate::server::open_database(settings).await?;
    let storage = crate::server::open_storage(settings)?;
    for o in &manifest.objects {
        let path = dir.join("objects").join(&o.sha256);
        let bytes = std::fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
        if hex::encode(sha2::Sha256::digest(&bytes)) != o.sha256 {
            return Err(user(format!(
                "{} in the backup is damaged (its hash does not match)",
                path.display()
            )));
        }
        let present = storage.exists(&o.key).await.unwrap_or(false)
            && storage.sha256_of(&o.key).await.ok().as_deref() == Some(o.sha256.as_str());
        if !present {
            storage
                .put_bytes(&o.key, bytes.into())
                .await
                .map_err(|e| user(format!("cannot write {} to the store: {e}", o.key)))?;
        }
    }
    // The signing keys, when this system has none yet.
    let keys_dir = Path::new(&settings.keys_dir);
    let keys_empty = !keys_dir.exists() || walk(keys_dir)?.is_empty();
    let mut keys_restored = 0;
    if keys_empty {
        for rel in &manifest.keys {
            let from = dir.join("keys").join(rel);
            let to = keys_dir.join(rel);
            if let Some(parent) = to.parent() {
                crate::server::create_private_dir(parent)
                    .map_err(|e| io("cannot create", parent, e))?;
            }
            let bytes = std::fs::read(&from).map_err(|e| io("cannot read", &from, e))?;
            write_private(&to, &bytes)?;
            keys_restored += 1;
        }
    }
    // The checks: the same figures, every document in the store with its hash, the audit chain.
    let figures = db.figures().await?;
    let docs = crate::server::open_documents(settings, &db).await?;
    let integrity = docs
        .check_integrity()
        .await
        .map_err(|e| CliError::Internal(e.into()))?;
    let chain = db.verify_audit().await?;
    db.close().await;
    let ok = figures == manifest.figures
        && integrity.missing == 0
        && integrity.mismatched == 0
        && chain.is_ok();
    let summary = serde_json::json!({
        "restored_from": dir.display().to_string(),
        "figures": figures,
        "figures_match": figures == manifest.figures,
        "documents_missing": integrity.missing,
        "documents_mismatched": integrity.mismatched,
        "audit_chain_intact": chain.is_ok(),
        "keys_restored": keys_restored,
        "ok": ok,
    });
    if json {
        println!("{summary}");
    } else {
        println!(
            "restored {} documents and {} permits from {}; figures {}, documents {}, audit chain {}",
            manifest.objects.len(),
            figures.permits,
            dir.display(),
            if figures == manifest.figures {
                "match"
            } else {
                "DIFFER"
            },
            if integrity.missing == 0 && integrity.mismatched == 0 {
                "intact"
            } else {
                "DAMAGED"
            },
            if chain.is_ok() { "intact" } else { "BROKEN" }
        );
    }
    if ok {
        Ok(())
    } else {
        Err(user(
            "the restored system does not match the backup (see above)",
        ))
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    fn manifest(keys: &[&str]) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            created_at: chrono::Utc::now(),
            backend: "sqlite".into(),
            database: "database.sqlite".into(),
            figures: Figures::default(),
            objects: vec![ObjectEntry {
                key: "permits/2026/0142/v1-original.pdf".into(),
                sha256: "ab".repeat(32),
                size: 1,
            }],
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn only_plain_key_file_names_pass() {
        assert!(check_manifest(&manifest(&["ca.pem", "ca-key.pem", "seal.pub"])).is_ok());
        for bad in [
            "../ca.pem",
            "..",
            ".",
            "",
            "sub/ca.pem",
            "/etc/cron.d/x",
            "..\\ca.pem",
            "c:\\x",
            "a\nb",
            "nul\0",
        ] {
            let e = check_manifest(&manifest(&[bad])).expect_err(bad);
            assert!(e.to_string().contains("plain file name"), "{bad:?}: {e}");
        }
        let mut m = manifest(&[]);
        m.database = "../../etc/passwd".into();
        assert!(check_manifest(&m).is_err());
        let mut m = manifest(&[]);
        m.objects[0].key = "../outside.pdf".into();
        assert!(check_manifest(&m).is_err());
        let mut m = manifest(&[]);
        m.objects[0].sha256 = "../../x".into();
        assert!(check_manifest(&m).is_err());
    }
}
