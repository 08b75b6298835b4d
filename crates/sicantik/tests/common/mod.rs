//! Shared set-up for the connector's integration tests: a simulator on loopback, a throw-away
//! database on either backend, a client with fast retries.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use companion_db::testing::TestDb;
use companion_db::{Database, PermitQuery, PermitSort};
use companion_domain::permits::PermitView;
use companion_sicantik::{
    ClientConfig, SicantikClient, SyncMode, SyncOptions, SyncReport, run_list_sync,
};
use companion_simulators::{SicantikSim, SicantikSimConfig, SimPermit};

pub struct Env {
    pub test_db: TestDb,
    pub sim: SicantikSim,
    pub client: SicantikClient,
}

impl Env {
    pub fn db(&self) -> &Database {
        &self.test_db.db
    }

    pub async fn finish(self) {
        self.test_db.cleanup().await.expect("drop test database");
    }
}

pub fn fast_client(base_url: String) -> SicantikClient {
    SicantikClient::new(ClientConfig {
        base_url,
        timeout: Duration::from_millis(1500),
        rate_limit_per_sec: 100_000,
        max_retries: 8,
        retry_base_delay: Duration::from_millis(2),
        retry_max_delay: Duration::from_millis(40),
    })
    .expect("client")
}

pub async fn setup(backend: &str, config: SicantikSimConfig) -> Env {
    let sim = SicantikSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator");
    let test_db = TestDb::new(backend).await.expect("test database");
    let client = fast_client(sim.base_url());
    Env {
        test_db,
        sim,
        client,
    }
}

pub fn sim_config(permits: usize) -> SicantikSimConfig {
    SicantikSimConfig {
        permits,
        ..Default::default()
    }
}

pub async fn sync(env: &Env, mode: SyncMode, page_size: u32) -> SyncReport {
    let opts = SyncOptions {
        mode,
        page_size,
        overlap: page_size / 10,
        ..Default::default()
    };
    run_list_sync(&env.client, env.db(), &opts, &|_| {})
        .await
        .expect("sync")
}

/// Every stored permit by id.
pub async fn stored(db: &Database) -> HashMap<String, PermitView> {
    let mut out = HashMap::new();
    let mut page = 1;
    loop {
        let q = PermitQuery {
            sort: PermitSort::Id,
            page,
            per_page: 500,
            ..Default::default()
        };
        let (items, total) = db.list_permits(&q).await.expect("list");
        let n = items.len();
        for p in items {
            out.insert(p.pendaftaran_id.clone(), p);
        }
        if n == 0 || out.len() as i64 >= total {
            break;
        }
        page += 1;
    }
    out
}

fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The applicant name a correct sync stores for a simulated permit.
pub fn expected_name(p: &SimPermit) -> Option<String> {
    p.n_pemohon
        .as_deref()
        .map(fold)
        .filter(|n| !n.is_empty() && n != "0")
}

/// Asserts the database holds exactly the simulator's permits, field by field.
pub fn assert_matches_ground_truth(sim: &SicantikSim, stored: &HashMap<String, PermitView>) {
    let truth = sim.permits();
    assert_eq!(stored.len(), truth.len(), "permit count");
    for p in &truth {
        let s = stored
            .get(&p.pendaftaran_id)
            .unwrap_or_else(|| panic!("permit {} missing", p.pendaftaran_id));
        let want_status = if p.issued { "issued" } else { "in_process" };
        assert_eq!(
            s.status.as_str(),
            want_status,
            "status of {}",
            p.pendaftaran_id
        );
        assert_eq!(
            s.applicant_name,
            expected_name(p),
            "name of {}",
            p.pendaftaran_id
        );
        assert_eq!(
            s.permit_type_name.as_deref(),
            Some(fold(p.type_name()).as_str())
        );
        if p.issued {
            assert_eq!(
                s.permit_number,
                p.no_surat.clone().filter(|n| !n.is_empty()),
                "number of {}",
                p.pendaftaran_id
            );
        }
    }
}

/// The simulator's issued permits that carry a permit number: the ones the expiry sync looks up.
pub fn issued_with_number(sim: &SicantikSim) -> Vec<SimPermit> {
    sim.permits()
        .into_iter()
        .filter(|p| p.issued && p.no_surat.is_some())
        .collect()
}
