//! Shared by the binary's integration tests.
#![allow(dead_code)] // each test file uses its part

use companion_simulators::WhatsappSim;

/// A free port on loopback for a server the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The settings that point the companion at the WhatsApp simulator `sim`, as the crash tests
/// want them: no quiet hours, no per-minute limit, a dispatcher every second, short leases and
/// a short reconciliation window (so a killed instance's messages settle within the test).
pub fn whatsapp_env(sim: &WhatsappSim) -> Vec<(&'static str, String)> {
    let c = sim.config();
    vec![
        ("WHATSAPP_PROVIDER", "simulator".into()),
        ("WHATSAPP_BASE_URL", sim.url()),
        ("WHATSAPP_META_PHONE_NUMBER_ID", c.phone_number_id.clone()),
        ("WHATSAPP_META_WABA_ID", c.waba_id.clone()),
        ("WHATSAPP_META_ACCESS_TOKEN", c.access_token.clone()),
        ("WHATSAPP_META_APP_SECRET", c.app_secret.clone()),
        ("WHATSAPP_QUIET_HOURS", "off".into()),
        ("WHATSAPP_RATE_PER_MINUTE", "0".into()),
        ("WHATSAPP_DISPATCH_SECONDS", "1".into()),
        ("WHATSAPP_TIMEOUT_SECONDS", "3".into()),
        ("WHATSAPP_LEASE_SECONDS", "4".into()),
        ("WHATSAPP_RECONCILE_SECONDS", "15".into()),
    ]
}
