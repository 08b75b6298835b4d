//! Import benchmark: N permit letters of about 200 KB each (default 1,000) through the one import
//! path (PDF check, SHA-256, object write, row, audit entry) into the local folder and into a
//! real S3-compatible server (s3s-fs on loopback), next to bare object writes of the same bytes.
//! Run: `cargo bench -p companion-documents --bench import` (needs `s3s-fs` on PATH or
//! `S3S_FS_BIN`; `BENCH_FILES`, `BENCH_CONCURRENCY` override the defaults).

use std::time::Instant;

use bytes::Bytes;
use companion_db::testing::{TestDb, execute_raw};
use companion_documents::{Actor, Documents, DocumentsConfig, ImportSource};
use companion_domain::documents::DocumentKind;
use companion_pdf::letter::{PermitLetter, render};
use companion_storage::Storage;
use companion_storage::testing::{LocalStore, S3Server};
use futures::StreamExt;

const SCAN_BYTES: usize = 195_000;

struct Row {
    label: &'static str,
    seconds: f64,
    files: usize,
    bytes: u64,
}

impl Row {
    fn files_per_s(&self) -> f64 {
        self.files as f64 / self.seconds
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }
}

async fn permits(db: &TestDb, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("9{:015}", i)).collect();
    for chunk in ids.chunks(200) {
        let values: Vec<String> = chunk
            .iter()
            .map(|id| {
                format!(
                    "('{id}', 'issued', 'Pemohon {id}', '503/{id}/BENCH/2025', '2025-03-01', \
                     '2025-03-01T00:00:00Z', '2025-03-01T00:00:00Z')"
                )
            })
            .collect();
        execute_raw(
            &db.db,
            &format!(
                "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_number, issue_date, \
                 first_seen_at, updated_at) VALUES {}",
                values.join(", ")
            ),
        )
        .await
        .expect("permits");
    }
    ids
}

fn letters(ids: &[String]) -> Vec<Bytes> {
    ids.iter()
        .map(|id| {
            let mut l = PermitLetter::example();
            l.registration_id = id.clone();
            l.permit_number = format!("503/{id}/BENCH/2025");
            Bytes::from(render(&l, SCAN_BYTES))
        })
        .collect()
}

async fn bare_puts(
    label: &'static str,
    storage: &Storage,
    files: &[Bytes],
    concurrency: usize,
) -> Row {
    let started = Instant::now();
    let total: u64 = futures::stream::iter(files.iter().enumerate())
        .map(|(i, b)| {
            let storage = storage.clone();
            let b = b.clone();
            async move {
                storage
                    .put_bytes(&format!("bare/{i}.pdf"), b.clone())
                    .await
                    .expect("put");
                b.len() as u64
            }
        })
        .buffer_unordered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await;
    Row {
        label,
        seconds: started.elapsed().as_secs_f64(),
        files: files.len(),
        bytes: total,
    }
}

async fn imports(
    label: &'static str,
    backend: &str,
    storage: Storage,
    files: &[Bytes],
    concurrency: usize,
) -> Row {
    let db = TestDb::new(backend).await.expect("database");
    let ids = permits(&db, files.len()).await;
    let docs = Documents::new(db.db.clone(), storage, DocumentsConfig::default())
        .await
        .expect("documents");
    let actor = Actor::system("bench");
    let started = Instant::now();
    let total: u64 = futures::stream::iter(ids.iter().zip(files))
        .map(|(id, b)| {
            let docs = docs.clone();
            let actor = actor.clone();
            let b = b.clone();
            async move {
                let imported = docs
                    .import(
                        id,
                        b,
                        Some("surat.pdf"),
                        DocumentKind::Original,
                        ImportSource::Cli,
                        &actor,
                    )
                    .await
                    .expect("import");
                imported.document.size_bytes as u64
            }
        })
        .buffer_unordered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await;
    let row = Row {
        label,
        seconds: started.elapsed().as_secs_f64(),
        files: files.len(),
        bytes: total,
    };
    assert_eq!(
        db.db.document_count().await.expect("count"),
        files.len() as i64
    );
    db.cleanup().await.expect("cleanup");
    row
}

fn main() {
    let n: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ids: Vec<String> = (0..n).map(|i| format!("9{:015}", i)).collect();
        let files = letters(&ids);
        let avg = files.iter().map(|f| f.len()).sum::<usize>() / files.len().max(1);
        println!("{n} letters of {avg} bytes on average, {concurrency} at a time");

        let s3 = S3Server::start("bench").expect("s3s-fs (run scripts/test.sh to install it)");
        s3.export_env();
        let mut rows = Vec::new();
        let local = LocalStore::new().expect("local");
        rows.push(
            bare_puts(
                "local folder: bare object writes",
                &local.storage,
                &files,
                concurrency,
            )
            .await,
        );
        let local_import = LocalStore::new().expect("local");
        rows.push(
            imports(
                "local folder: import, SQLite",
                "sqlite",
                local_import.storage.clone(),
                &files,
                concurrency,
            )
            .await,
        );
        let local_pg = LocalStore::new().expect("local");
        rows.push(
            imports(
                "local folder: import, PostgreSQL",
                "postgres",
                local_pg.storage.clone(),
                &files,
                concurrency,
            )
            .await,
        );
        let s3_bare = Storage::from_url("s3://bench/bare").expect("s3");
        rows.push(
            bare_puts(
                "S3 (s3s-fs): bare object writes",
                &s3_bare,
                &files,
                concurrency,
            )
            .await,
        );
        let s3_import = Storage::from_url("s3://bench/import").expect("s3");
        rows.push(
            imports(
                "S3 (s3s-fs): import, PostgreSQL",
                "postgres",
                s3_import,
                &files,
                concurrency,
            )
            .await,
        );

        let base = rows[0].files_per_s();
        println!("\n| run | files/s | MB/s | vs bare local writes |");
        println!("|---|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {:.0} | {:.1} | {:.2}× |",
                r.label,
                r.files_per_s(),
                r.mb_per_s(),
                r.files_per_s() / base
            );
        }
    });
}
