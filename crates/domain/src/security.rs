//! Signals staff in charge must see: a username under attack (many failed logins) and the
//! granting of a privileged role (official signs, admin grants roles) — both read from the
//! audit trail, so every instance sees the same. The dashboard shows them; the notifier sends
//! them on WhatsApp (`companion_notify::security`).

use serde_json::Value;

use crate::accounts::Role;

/// Failed logins for one username within [`ATTACK_WINDOW_HOURS`] from which it counts as under
/// attack (the throttle slows each address down; this tells a person).
pub const ATTACK_FAILURES: i64 = 10;
pub const ATTACK_WINDOW_HOURS: i64 = 24;
/// How long a privileged grant stays on the dashboard.
pub const GRANT_WINDOW_DAYS: i64 = 14;
/// How recent a privileged grant must be to go out on WhatsApp (the schedule runs every few
/// minutes): older ones stay on the dashboard only, so an upgrade or a newly made administrator
/// does not bring a backlog of old news.
pub const GRANT_ALERT_HOURS: i64 = 24;

/// Failed logins for one username in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailures {
    pub username: String,
    pub failures: i64,
    /// Distinct client addresses the failures came from.
    pub addresses: i64,
}

impl LoginFailures {
    pub fn under_attack(&self) -> bool {
        self.failures >= ATTACK_FAILURES
    }

    /// Whether the WhatsApp alert for the office day is due: under attack, and still tried on
    /// that day (`failures_today` of them) — a flood that stopped yesterday is not announced
    /// again today, one that goes on is, once a day.
    pub fn alert_due(&self, failures_today: i64) -> bool {
        self.under_attack() && failures_today > 0
    }
}

/// The privileged role an audit entry gave an account, if it gave one: `user.create` with
/// `{"role": …}` or `user.update` with `{"role": {"to": …}}`.
pub fn privileged_grant(action: &str, details: &Value) -> Option<Role> {
    let role = match action {
        "user.create" => details.get("role"),
        "user.update" => details.get("role").and_then(|r| r.get("to")),
        _ => None,
    }?;
    Role::parse(role.as_str()?).filter(|r| matches!(r, Role::Admin | Role::Official))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grants_of_official_or_admin_only() {
        assert_eq!(
            privileged_grant(
                "user.update",
                &json!({"role": {"from": "staff", "to": "official"}})
            ),
            Some(Role::Official)
        );
        assert_eq!(
            privileged_grant("user.create", &json!({"username": "x", "role": "admin"})),
            Some(Role::Admin)
        );
        assert_eq!(
            privileged_grant("user.create", &json!({"role": "staff"})),
            None
        );
        assert_eq!(
            privileged_grant("user.update", &json!({"disabled": true})),
            None
        );
        assert_eq!(
            privileged_grant("auth.login", &json!({"role": "admin"})),
            None
        );
    }

    #[test]
    fn ten_failures_are_an_attack() {
        let f = |n| LoginFailures {
            username: "pejabat".into(),
            failures: n,
            addresses: 3,
        };
        assert!(!f(9).under_attack());
        assert!(f(10).under_attack());
        assert!(f(10).alert_due(1));
        assert!(!f(10).alert_due(0), "stopped before the office day began");
        assert!(!f(9).alert_due(9));
    }
}
