//! The audit trail's hash chain. Each entry's hash covers its own fields and the previous
//! entry's hash, so editing any entry breaks its own hash and deleting one breaks the next
//! entry's link; the stored head (last id and hash) catches a deleted tail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash the first entry links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The user's id; `None` for the system or the command line.
    pub actor_id: Option<i64>,
    /// Username at the time (kept even if the account is later deleted).
    pub actor: String,
    /// A stable dotted name, e.g. `user.create`, `sync.start`, `auth.login_failed`.
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// The client address, or `cli`.
    pub source: String,
    /// Extra facts as a JSON object (never secrets).
    pub details: serde_json::Value,
}

/// A sealed entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub source: String,
    /// JSON text as stored (hashed byte for byte).
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry's hash: SHA-256 over a length-prefixed encoding of every field but `hash`, so
    /// no two different entries encode alike.
    pub fn computed_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |v: Option<&str>| match v {
            None => h.update(b"-"),
            Some(s) => {
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        };
        let id = self.id.to_string();
        let at = self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let actor_id = self.actor_id.map(|v| v.to_string());
        for v in [
            Some(self.prev_hash.as_str()),
            Some(id.as_str()),
            Some(at.as_str()),
            actor_id.as_deref(),
            Some(self.actor.as_str()),
            Some(self.action.as_str()),
            self.target_kind.as_deref(),
            self.target_id.as_deref(),
            Some(self.source.as_str()),
            Some(self.details.as_str()),
        ] {
            field(v);
        }
        hex::encode(h.finalize())
    }
}

/// Why the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit entry #{id} was altered: its content no longer matches its hash")]
    Altered { id: i64 },
    #[error("audit entry before #{id} is missing: #{id} links to a hash no entry has")]
    Missing { id: i64 },
    #[error("audit entries after #{last_present} are missing (the head records #{head_id})")]
    TailMissing { last_present: i64, head_id: i64 },
    #[error("the audit head does not match the last entry #{id}")]
    HeadMismatch { id: i64 },
}

/// Checks a chain incrementally: feed entries in id order, then call [`ChainVerifier::finish`]
/// with the stored head. Memory stays constant however long the log is.
#[derive(Debug)]
pub struct ChainVerifier {
    prev_hash: String,
    last_id: i64,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev_hash: GENESIS_HASH.into(),
            last_id: 0,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.computed_hash() != e.hash {
            return Err(ChainBreak::Altered { id: e.id });
        }
        if e.prev_hash != self.prev_hash {
            // A link to anything but the previous entry: the previous entry was edited (its
            // stored hash changed) or entries in between were deleted.
            return Err(ChainBreak::Missing { id: e.id });
        }
        self.prev_hash = e.hash.clone();
        self.last_id = e.id;
        self.checked += 1;
        Ok(())
    }

    /// `head` is the stored (last id, last hash); `None` when nothing was ever logged.
    pub fn finish(self, head: Option<(i64, String)>) -> Result<u64, ChainBreak> {
        match head {
            None if self.checked == 0 => Ok(0),
            None => Err(ChainBreak::HeadMismatch { id: self.last_id }),
            Some((head_id, _)) if head_id > self.last_id => Err(ChainBreak::TailMissing {
                last_present: self.last_id,
                head_id,
            }),
            Some((head_id, head_hash))
                if head_id != self.last_id || head_hash != self.prev_hash =>
            {
                Err(ChainBreak::HeadMismatch { id: self.last_id })
            }
            Some(_) => Ok(self.checked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        let at = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        (1..=n)
            .map(|id| {
                let mut e = AuditEntry {
                    id,
                    at,
                    actor_id: Some(1),
                    actor: "admin".into(),
                    action: "user.create".into(),
                    target_kind: Some("user".into()),
                    target_id: Some(id.to_string()),
                    source: "127.0.0.1".into(),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.computed_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<(i64, String)>) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head)
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, String)> {
        c.last().map(|e| (e.id, e.hash.clone()))
    }

    #[test]
    fn untouched_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, head(&c)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn edit_is_named() {
        let mut c = chain(5);
        let h = head(&c);
        c[2].actor = "mallory".into();
        assert_eq!(verify(&c, h), Err(ChainBreak::Altered { id: 3 }));
    }

    #[test]
    fn edit_with_rehash_breaks_the_next_link() {
        let mut c = chain(5);
        let h = head(&c);
        c[2].details = "{\"x\":1}".into();
        c[2].hash = c[2].computed_hash();
        assert_eq!(verify(&c, h), Err(ChainBreak::Missing { id: 4 }));
    }

    #[test]
    fn deletions_are_found() {
        let c = chain(5);
        let h = head(&c);
        let mut middle = c.clone();
        middle.remove(1);
        assert_eq!(
            verify(&middle, h.clone()),
            Err(ChainBreak::Missing { id: 3 })
        );
        let mut tail = c.clone();
        tail.pop();
        assert_eq!(
            verify(&tail, h.clone()),
            Err(ChainBreak::TailMissing {
                last_present: 4,
                head_id: 5
            })
        );
        assert_eq!(
            verify(&[], h),
            Err(ChainBreak::TailMissing {
                last_present: 0,
                head_id: 5
            })
        );
    }

    #[test]
    fn fields_do_not_run_together() {
        let c = chain(1);
        let mut a = c[0].clone();
        a.actor = "ab".into();
        a.action = "c".into();
        let mut b = a.clone();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(a.computed_hash(), b.computed_hash());
        let mut d = a.clone();
        d.target_kind = Some(String::new());
        a.target_kind = None;
        assert_ne!(a.computed_hash(), d.computed_hash());
    }
}
