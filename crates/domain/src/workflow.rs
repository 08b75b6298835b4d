//! The signing workflow of a permit's document, as one state machine every entry point (pages,
//! API, CLI, batch jobs) goes through:
//!
//! ```text
//! imported ──submit──▶ submitted ──approve──▶ approved ──stamp──▶ stamped ──sign──▶ signed ──publish──▶ published
//!     ▲                 ▲  │                     │                                    │                  │
//!     └── resubmit ─ rejected ◀──reject──┘    └──return──┘ (back to submitted)        └──revoke──▶ revoked ◀┘
//! ```
//!
//! Staff submit; officials approve, reject, sign and revoke; stamping and publishing are done by
//! the system right after approval and signing. Rejection and revocation need a reason. An
//! approved case whose stamp failed is never stranded: the official has it stamped again or
//! returns it to `submitted` (a reason, recorded, is required).

use serde::{Deserialize, Serialize};

use crate::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocState {
    Imported,
    Submitted,
    Approved,
    Rejected,
    Stamped,
    Signed,
    Published,
    Revoked,
}

impl DocState {
    pub const ALL: [DocState; 8] = [
        DocState::Imported,
        DocState::Submitted,
        DocState::Approved,
        DocState::Rejected,
        DocState::Stamped,
        DocState::Signed,
        DocState::Published,
        DocState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Imported => "imported",
            DocState::Submitted => "submitted",
            DocState::Approved => "approved",
            DocState::Rejected => "rejected",
            DocState::Stamped => "stamped",
            DocState::Signed => "signed",
            DocState::Published => "published",
            DocState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The label staff and the public see.
    pub fn label(self) -> &'static str {
        match self {
            DocState::Imported => "Diunggah",
            DocState::Submitted => "Menunggu persetujuan",
            DocState::Approved => "Disetujui",
            DocState::Rejected => "Ditolak",
            DocState::Stamped => "Siap ditandatangani",
            DocState::Signed => "Ditandatangani",
            DocState::Published => "Terbit",
            DocState::Revoked => "Dicabut",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Submit,
    Approve,
    Reject,
    Stamp,
    Sign,
    Publish,
    Revoke,
    /// An approved case that could not be stamped goes back to `submitted`.
    Return,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Submit,
        Action::Approve,
        Action::Reject,
        Action::Stamp,
        Action::Sign,
        Action::Publish,
        Action::Revoke,
        Action::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Stamp => "stamp",
            Action::Sign => "sign",
            Action::Publish => "publish",
            Action::Revoke => "revoke",
            Action::Return => "return",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn needs_reason(self) -> bool {
        matches!(self, Action::Reject | Action::Revoke | Action::Return)
    }
}

/// Who acts: a signed-in user with a role, or the system (the stamping and publishing steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Role),
    System,
}

impl Actor {
    /// Whether this actor may take `action` at all (whatever the state).
    pub fn may(self, action: Action) -> bool {
        match (self, action) {
            (Actor::System, Action::Stamp | Action::Publish) => true,
            (Actor::System, _) => false,
            (Actor::User(role), Action::Submit) => matches!(role, Role::Staff | Role::Admin),
            (
                Actor::User(role),
                Action::Approve | Action::Reject | Action::Sign | Action::Revoke | Action::Return,
            ) => role == Role::Official,
            (Actor::User(_), Action::Stamp | Action::Publish) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("this role may not {}", .0.as_str())]
    NotAllowed(Action),
    #[error("a document that is {} cannot be {}", .from.as_str(), .action.as_str())]
    Illegal { from: DocState, action: Action },
    #[error("a reason is required")]
    ReasonRequired,
    /// Four eyes by person: whoever submitted a document never approves or rejects it, whatever
    /// roles they hold later.
    #[error("the submitter of a document may not {} it", .0.as_str())]
    OwnSubmission(Action),
}

impl WorkflowError {
    /// The message staff see.
    pub fn pesan(&self) -> String {
        match self {
            WorkflowError::NotAllowed(_) => "Peran Anda tidak berwenang untuk langkah ini.".into(),
            WorkflowError::Illegal { from, .. } => format!(
                "Langkah ini tidak dapat dilakukan pada dokumen berstatus \"{}\".",
                from.label()
            ),
            WorkflowError::ReasonRequired => "Alasan wajib diisi.".into(),
            WorkflowError::OwnSubmission(_) => "Anda yang mengajukan dokumen ini, jadi Anda tidak boleh menyetujui atau menolaknya sendiri; keputusan harus diambil pejabat lain (prinsip empat mata).".into(),
        }
    }

    /// A stable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::NotAllowed(_) => "role_not_allowed",
            WorkflowError::Illegal { .. } => "illegal_step",
            WorkflowError::ReasonRequired => "reason_required",
            WorkflowError::OwnSubmission(_) => "own_submission",
        }
    }
}

/// Four eyes by person: may `person` (a username) take `action` on a document `submitted_by`
/// someone? Approval and rejection are refused to the submitter, whatever their role now (an
/// account made official after submitting still cannot decide its own submission). Every
/// entry point reaches this through the signing service's step.
pub fn check_four_eyes(
    action: Action,
    submitted_by: Option<&str>,
    person: &str,
) -> Result<(), WorkflowError> {
    let decides = matches!(action, Action::Approve | Action::Reject);
    let same = submitted_by.is_some_and(|s| s.trim().eq_ignore_ascii_case(person.trim()));
    if decides && same {
        return Err(WorkflowError::OwnSubmission(action));
    }
    Ok(())
}

/// The state after `action`, or why it is refused.
pub fn transition(
    from: DocState,
    action: Action,
    actor: Actor,
    reason: Option<&str>,
) -> Result<DocState, WorkflowError> {
    if !actor.may(action) {
        return Err(WorkflowError::NotAllowed(action));
    }
    use Action::*;
    use DocState::*;
    let to = match (from, action) {
        (Imported | Rejected, Submit) => Submitted,
        (Submitted, Approve) => Approved,
        (Submitted, Reject) => Rejected,
        (Approved, Stamp) => Stamped,
        (Approved, Return) => Submitted,
        (Stamped, Sign) => Signed,
        (Signed, Publish) => Published,
        (Signed | Published, Revoke) => Revoked,
        _ => return Err(WorkflowError::Illegal { from, action }),
    };
    if action.needs_reason() && reason.map(str::trim).is_none_or(str::is_empty) {
        return Err(WorkflowError::ReasonRequired);
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every legal step, by whom.
    const LEGAL: &[(DocState, Action, Actor, DocState)] = &[
        (
            DocState::Imported,
            Action::Submit,
            Actor::User(Role::Staff),
            DocState::Submitted,
        ),
        (
            DocState::Imported,
            Action::Submit,
            Actor::User(Role::Admin),
            DocState::Submitted,
        ),
        (
            DocState::Rejected,
            Action::Submit,
            Actor::User(Role::Staff),
            DocState::Submitted,
        ),
        (
            DocState::Rejected,
            Action::Submit,
            Actor::User(Role::Admin),
            DocState::Submitted,
        ),
        (
            DocState::Submitted,
            Action::Approve,
            Actor::User(Role::Official),
            DocState::Approved,
        ),
        (
            DocState::Submitted,
            Action::Reject,
            Actor::User(Role::Official),
            DocState::Rejected,
        ),
        (
            DocState::Approved,
            Action::Stamp,
            Actor::System,
            DocState::Stamped,
        ),
        (
            DocState::Approved,
            Action::Return,
            Actor::User(Role::Official),
            DocState::Submitted,
        ),
        (
            DocState::Stamped,
            Action::Sign,
            Actor::User(Role::Official),
            DocState::Signed,
        ),
        (
            DocState::Signed,
            Action::Publish,
            Actor::System,
            DocState::Published,
        ),
        (
            DocState::Signed,
            Action::Revoke,
            Actor::User(Role::Official),
            DocState::Revoked,
        ),
        (
            DocState::Published,
            Action::Revoke,
            Actor::User(Role::Official),
            DocState::Revoked,
        ),
    ];

    #[test]
    fn exactly_the_legal_steps_succeed() {
        let actors = [
            Actor::System,
            Actor::User(Role::Admin),
            Actor::User(Role::Staff),
            Actor::User(Role::Official),
            Actor::User(Role::Auditor),
        ];
        let mut legal_seen = 0;
        for from in DocState::ALL {
            for action in Action::ALL {
                for actor in actors {
                    let got = transition(from, action, actor, Some("alasan"));
                    let want = LEGAL
                        .iter()
                        .find(|(f, a, who, _)| *f == from && *a == action && *who == actor)
                        .map(|(_, _, _, to)| *to);
                    match (got, want) {
                        (Ok(to), Some(want)) => {
                            assert_eq!(to, want);
                            legal_seen += 1;
                        }
                        (Err(_), None) => {}
                        (got, want) => {
                            panic!("{from:?} {action:?} by {actor:?}: {got:?}, want {want:?}")
                        }
                    }
                }
            }
        }
        assert_eq!(legal_seen, LEGAL.len());
    }

    #[test]
    fn reasons_and_messages() {
        let official = Actor::User(Role::Official);
        assert_eq!(
            transition(DocState::Submitted, Action::Reject, official, Some("  ")),
            Err(WorkflowError::ReasonRequired)
        );
        assert_eq!(
            transition(DocState::Published, Action::Revoke, official, None),
            Err(WorkflowError::ReasonRequired)
        );
        assert_eq!(
            transition(
                DocState::Imported,
                Action::Approve,
                Actor::User(Role::Staff),
                None
            ),
            Err(WorkflowError::NotAllowed(Action::Approve))
        );
        let illegal = transition(DocState::Revoked, Action::Sign, official, None).unwrap_err();
        assert!(illegal.pesan().contains("Dicabut"));
        for s in DocState::ALL {
            assert_eq!(DocState::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn the_submitter_never_decides() {
        for action in [Action::Approve, Action::Reject] {
            let e = check_four_eyes(action, Some("ani.staf"), "ani.staf").unwrap_err();
            assert_eq!(e, WorkflowError::OwnSubmission(action));
            assert_eq!(e.code(), "own_submission");
            assert!(e.pesan().contains("empat mata"));
            assert_eq!(
                check_four_eyes(action, Some("Ani.Staf "), "ani.staf"),
                Err(WorkflowError::OwnSubmission(action))
            );
            assert_eq!(
                check_four_eyes(action, Some("ani.staf"), "budi.pejabat"),
                Ok(())
            );
            assert_eq!(check_four_eyes(action, None, "budi.pejabat"), Ok(()));
        }
        // Other steps are not decisions on the submission.
        for action in [Action::Submit, Action::Sign, Action::Revoke] {
            assert_eq!(check_four_eyes(action, Some("ani"), "ani"), Ok(()));
        }
    }
}
