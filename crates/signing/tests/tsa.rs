//! The TSA client against the TSA simulator over HTTP, and against servers that misbehave.

use std::time::Duration;

use companion_pdf::keys::{issue_signer, new_ca};
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature};
use companion_signing::{TsaClient, TsaClientError};
use companion_simulators::TsaSim;

fn cms() -> Vec<u8> {
    let ca = new_ca("Uji CA", 1).expect("ca");
    let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let info = SignatureInfo {
        name: "Pejabat Uji".into(),
        reason: "Persetujuan izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let prepared = prepare_signature(&pdf, 1, &info).expect("prepare");
    signer.sign_digest(&prepared.digest).expect("cms")
}

#[tokio::test]
async fn timestamps_from_the_simulator_and_errors_from_bad_servers() {
    let sim = TsaSim::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("tsa");
    assert!(sim.root_pem().contains("BEGIN CERTIFICATE"));
    let client = TsaClient::new(&sim.url(), Duration::from_secs(5)).expect("client");
    let plain = cms();
    let stamped = client.timestamp(&plain).await.expect("timestamp");
    assert!(stamped.len() > plain.len() + 1000, "the token is embedded");
    assert_eq!(sim.requests(), 1);

    // Nothing listening.
    let gone = TsaClient::new("http://127.0.0.1:9/", Duration::from_secs(2)).expect("client");
    assert!(matches!(
        gone.timestamp(&plain).await,
        Err(TsaClientError::Unreachable(_))
    ));

    // A server that answers 500, and one that answers garbage.
    let app = axum::Router::new()
        .route(
            "/500",
            axum::routing::post(|| async {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .route("/junk", axum::routing::post(|| async { "not DER" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let five =
        TsaClient::new(&format!("http://{addr}/500"), Duration::from_secs(5)).expect("client");
    assert!(matches!(
        five.timestamp(&plain).await,
        Err(TsaClientError::Status(500))
    ));
    let junk =
        TsaClient::new(&format!("http://{addr}/junk"), Duration::from_secs(5)).expect("client");
    assert!(matches!(
        junk.timestamp(&plain).await,
        Err(TsaClientError::Token(_))
    ));
}
