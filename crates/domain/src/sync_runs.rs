//! What a sync run may claim about itself. A run is `succeeded` only when it read everything it
//! set out to read: every list to SICANTIK's own end signal with no failed page (a full run), or
//! the whole in-process list and the issued list's newest pages (an incremental poll). Anything
//! less is `partial` and says where; a run that read nothing is `failed`.

use serde::{Deserialize, Serialize};

use crate::permits::PermitStatus;

/// The outcome of a sync run, as stored in `sync_runs.outcome`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    #[default]
    Running,
    Succeeded,
    Partial,
    Failed,
    /// The process stopped (kill -9, crash) before the run finished.
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Partial => "partial",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RunOutcome::Running,
            RunOutcome::Succeeded,
            RunOutcome::Partial,
            RunOutcome::Failed,
            RunOutcome::Interrupted,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Bahasa Indonesia label for the staff pages.
    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Running => "Berjalan",
            RunOutcome::Succeeded => "Berhasil",
            RunOutcome::Partial => "Sebagian",
            RunOutcome::Failed => "Gagal",
            RunOutcome::Interrupted => "Terputus",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run learned about one SICANTIK list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCoverage {
    pub endpoint: String,
    /// The list's own end signal ("Tidak ada data.." or an empty list) was reached.
    pub reached_end: bool,
    /// Pages read with data.
    pub pages: u64,
    /// Offsets that still failed after every retry (the next run asks them first).
    pub failed_offsets: Vec<u64>,
    /// Why the list was left before its end, when it was (not for an incremental quiet stop).
    pub stopped: Option<String>,
    /// Distinct permits seen in this list that are stored with the list's status.
    pub seen: u64,
    /// Permits the database holds with this list's status (full runs that reached the end).
    pub stored: Option<i64>,
    /// `stored - seen`: permits the database has that SICANTIK's list no longer showed.
    pub missing: Option<i64>,
}

impl ListCoverage {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            ..Default::default()
        }
    }

    /// Records the comparison with the database after a complete read of the list.
    pub fn compare(&mut self, stored: i64) {
        self.stored = Some(stored);
        self.missing = Some(stored - self.seen as i64);
    }

    /// Whether the shortfall is more than the margin (permits do not vanish from SICANTIK; a few
    /// leave the in-process list when rejected).
    pub fn shortfall(&self) -> Option<i64> {
        let (stored, missing) = (self.stored?, self.missing?);
        (missing > completeness_margin(stored)).then_some(missing)
    }
}

/// Tolerated gap between the database and a complete read of a list: 3 permits or 0.5 %.
pub fn completeness_margin(stored: i64) -> i64 {
    (stored / 200).max(3)
}

/// Everything a list sync run reports beyond its counts (stored as JSON with the run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetails {
    pub lists: Vec<ListCoverage>,
    /// Permits that left the in-process list and were found nowhere else in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_unsettled: Vec<String>,
    /// Plain-language warnings for staff (English; the pages translate the known kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RunDetails {
    pub fn failed_offsets(&self) -> usize {
        self.lists.iter().map(|l| l.failed_offsets.len()).sum()
    }

    /// Lists whose database count exceeds what SICANTIK showed by more than the margin.
    pub fn shortfalls(&self) -> Vec<(&str, i64)> {
        self.lists
            .iter()
            .filter_map(|l| l.shortfall().map(|m| (l.endpoint.as_str(), m)))
            .collect()
    }
}

/// How much of a list a run must read before it may call itself complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListGoal {
    /// To the list's end signal.
    Whole,
    /// The newest pages, until nothing new appears (the incremental poll of the issued list).
    Newest,
}

/// The outcome a finished run may claim: `succeeded` only when every list met its goal with no
/// failed page; `partial` when something was read but not everything; `failed` otherwise.
pub fn run_outcome(lists: &[(ListGoal, &ListCoverage)], fetched_anything: bool) -> RunOutcome {
    let complete = lists.iter().all(|(goal, l)| {
        l.failed_offsets.is_empty()
            && l.stopped.is_none()
            && (*goal == ListGoal::Newest || l.reached_end)
    });
    if complete {
        RunOutcome::Succeeded
    } else if fetched_anything {
        RunOutcome::Partial
    } else {
        RunOutcome::Failed
    }
}

/// The list a status belongs to.
pub fn list_status(endpoint: &str) -> Option<PermitStatus> {
    match endpoint {
        "listpermohonanproses" => Some(PermitStatus::InProcess),
        "listpermohonanterbit" => Some(PermitStatus::Issued),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(reached_end: bool, failed: &[u64], stopped: bool) -> ListCoverage {
        ListCoverage {
            endpoint: "listpermohonanterbit".into(),
            reached_end,
            failed_offsets: failed.to_vec(),
            stopped: stopped.then(|| "too many failed pages".into()),
            ..Default::default()
        }
    }

    #[test]
    fn succeeded_only_when_every_list_met_its_goal() {
        let done = list(true, &[], false);
        let no_end = list(false, &[], false);
        let failed_page = list(true, &[300], false);
        let stopped = list(false, &[], true);
        use ListGoal::*;
        assert_eq!(
            run_outcome(&[(Whole, &done), (Whole, &done)], true),
            RunOutcome::Succeeded
        );
        assert_eq!(
            run_outcome(&[(Whole, &done), (Whole, &no_end)], true),
            RunOutcome::Partial
        );
        assert_eq!(
            run_outcome(&[(Whole, &done), (Newest, &no_end)], true),
            RunOutcome::Succeeded
        );
        assert_eq!(
            run_outcome(&[(Whole, &done), (Newest, &failed_page)], true),
            RunOutcome::Partial
        );
        assert_eq!(run_outcome(&[(Whole, &stopped)], false), RunOutcome::Failed);
    }

    #[test]
    fn shortfall_beyond_the_margin_is_reported() {
        let mut l = ListCoverage {
            seen: 1_330,
            ..ListCoverage::new("listpermohonanterbit")
        };
        l.compare(2_347);
        assert_eq!(l.shortfall(), Some(1_017));
        let mut fine = ListCoverage {
            seen: 2_340,
            ..ListCoverage::new("listpermohonanterbit")
        };
        fine.compare(2_347);
        assert_eq!(fine.shortfall(), None, "within 0.5 %");
        assert_eq!(completeness_margin(10), 3);
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [
            RunOutcome::Running,
            RunOutcome::Succeeded,
            RunOutcome::Partial,
            RunOutcome::Failed,
            RunOutcome::Interrupted,
        ] {
            assert_eq!(RunOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(RunOutcome::parse("done"), None);
    }
}
