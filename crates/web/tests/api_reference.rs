//! `docs/api-reference.md` is the OpenAPI document rendered for people; it must describe the
//! API as the code has it. `UPDATE_API_REFERENCE=1` rewrites it.

#[test]
fn the_api_reference_is_generated_from_the_openapi_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api-reference.md");
    let generated = companion_web::api::openapi::reference_markdown();
    assert!(
        generated.contains("### `GET /api/v1/permits`"),
        "{generated}"
    );
    assert!(generated.contains("### `POST /api/v1/signing/cases/{id}/steps`"));
    if std::env::var("UPDATE_API_REFERENCE").is_ok() {
        std::fs::write(&path, &generated).expect("write the reference");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/api-reference.md is out of date: run UPDATE_API_REFERENCE=1 cargo test -p companion-web --test api_reference"
    );
}
