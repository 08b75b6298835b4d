//! The SQLite database is private to the service's account: a new data folder is 0700, the
//! database file and its `-wal`/`-shm` companions 0600, and an existing file readable by others
//! is narrowed on open.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use companion_db::Database;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_created_private() {
    let root = tempfile::tempdir().expect("dir");
    let data = root.path().join("data");
    let file = data.join("db").join("companion.db");
    let db = Database::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    assert_eq!(mode(&data), 0o700, "data folder");
    assert_eq!(mode(&data.join("db")), 0o700, "its sub-folder");
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_world_readable_database_is_narrowed() {
    let root = tempfile::tempdir().expect("dir");
    let file = root.path().join("companion.db");
    std::fs::write(&file, b"").expect("file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let db = Database::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    assert_eq!(mode(&file), 0o600);
    db.close().await;
}
