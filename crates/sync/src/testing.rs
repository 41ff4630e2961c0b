//! In-memory fakes of [`IssueTracker`] and [`FindingsWriter`] for the pipeline's tests and the
//! daemon's: they keep issues and write-backs in memory, count calls, and inject faults
//! (fail N times; "ambiguous after create": the issue is created, then the call reports
//! [`TrackerError::Ambiguous`], as a time-out after Backlog accepted the request would).
//!
//! Must not: be used outside tests (nothing here persists).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use crate::tracker::{
    FoundIssue, Issue, IssueChange, IssueRef, IssueTracker, NewIssue, StatusChange, TrackerError,
};
use crate::writer::{
    BatchResult, FindingQuery, FindingsPage, FindingsWriter, Unprocessed, WorkflowUpdate,
    WriterError,
};

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tracker operation, for fault injection and call counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Search,
    Get,
    Comment,
    Update,
}

/// A fault the next calls of an operation return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Retryable,
    Permanent,
    /// Nothing happens, and the outcome is reported unknown.
    Ambiguous,
    /// `create` only: the issue IS created, then the call reports Ambiguous.
    AmbiguousAfterCreate,
}

/// An issue held by [`FakeTracker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeIssue {
    pub key: String,
    pub id: u64,
    pub summary: String,
    pub description: String,
    pub issue_type: String,
    pub priority: String,
    pub status: String,
    pub comments: Vec<String>,
}

#[derive(Debug, Default)]
struct TrackerState {
    issues: Vec<FakeIssue>,
    faults: HashMap<Op, Vec<Fault>>,
}

/// An in-memory issue tracker (project `SEC`, statuses `Open` and anything else named;
/// `Closed` and `Resolved` count as closed).
#[derive(Debug, Default)]
pub struct FakeTracker {
    state: Mutex<TrackerState>,
    calls: Mutex<HashMap<Op, usize>>,
}

impl FakeTracker {
    pub fn new() -> FakeTracker {
        FakeTracker::default()
    }

    /// The next `times` calls of `op` fail with `fault`.
    pub fn fail(&self, op: Op, fault: Fault, times: usize) {
        locked(&self.state)
            .faults
            .entry(op)
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    pub fn calls(&self, op: Op) -> usize {
        locked(&self.calls).get(&op).copied().unwrap_or(0)
    }

    pub fn issues(&self) -> Vec<FakeIssue> {
        locked(&self.state).issues.clone()
    }

    pub fn issue(&self, key: &str) -> Option<FakeIssue> {
        locked(&self.state)
            .issues
            .iter()
            .find(|i| i.key == key)
            .cloned()
    }

    /// Changes an issue's status as a person in the tracker would.
    pub fn set_status(&self, key: &str, status: &str) {
        if let Some(issue) = locked(&self.state).issues.iter_mut().find(|i| i.key == key) {
            issue.status = status.to_string();
        }
    }

    fn enter(&self, op: Op) -> Option<Fault> {
        *locked(&self.calls).entry(op).or_default() += 1;
        let mut state = locked(&self.state);
        let queue = state.faults.get_mut(&op)?;
        (!queue.is_empty()).then(|| queue.remove(0))
    }

    fn insert(&self, new: &NewIssue) -> IssueRef {
        let mut state = locked(&self.state);
        let id = state.issues.len() as u64 + 1;
        let issue = FakeIssue {
            key: format!("SEC-{id}"),
            id,
            summary: new.summary.clone(),
            description: new.description.clone(),
            issue_type: new.issue_type.clone(),
            priority: new.priority.clone(),
            status: "Open".into(),
            comments: Vec::new(),
        };
        let reference = reference(&issue);
        state.issues.push(issue);
        reference
    }

    fn with_issue<T>(
        &self,
        operation: &'static str,
        key: &str,
        f: impl FnOnce(&mut FakeIssue) -> T,
    ) -> Result<T, TrackerError> {
        let mut state = locked(&self.state);
        match state.issues.iter_mut().find(|i| i.key == key) {
            Some(issue) => Ok(f(issue)),
            None => Err(TrackerError::Permanent {
                operation,
                message: format!("no issue {key}"),
            }),
        }
    }
}

fn reference(issue: &FakeIssue) -> IssueRef {
    IssueRef {
        key: issue.key.clone(),
        id: issue.id,
        url: format!("https://example.backlog.test/view/{}", issue.key),
    }
}

fn fault_error(operation: &'static str, fault: Fault) -> TrackerError {
    let message = format!("injected {fault:?}");
    match fault {
        Fault::Retryable => TrackerError::Retryable { operation, message },
        Fault::Permanent => TrackerError::Permanent { operation, message },
        Fault::Ambiguous | Fault::AmbiguousAfterCreate => {
            TrackerError::Ambiguous { operation, message }
        }
    }
}

#[async_trait]
impl IssueTracker for FakeTracker {
    async fn create_issue(&self, issue: &NewIssue) -> Result<IssueRef, TrackerError> {
        match self.enter(Op::Create) {
            None => Ok(self.insert(issue)),
            Some(Fault::AmbiguousAfterCreate) => {
                self.insert(issue);
                Err(fault_error("create issue", Fault::AmbiguousAfterCreate))
            }
            Some(fault) => Err(fault_error("create issue", fault)),
        }
    }

    async fn find_by_marker(&self, marker: &str) -> Result<Vec<FoundIssue>, TrackerError> {
        if let Some(fault) = self.enter(Op::Search) {
            return Err(fault_error("search issues", fault));
        }
        // Keyword search: a substring match, so it may return more than the exact marker.
        Ok(locked(&self.state)
            .issues
            .iter()
            .filter(|i| i.description.contains(marker))
            .map(|i| FoundIssue {
                issue: reference(i),
                description: i.description.clone(),
            })
            .collect())
    }

    async fn get_issue(&self, key: &str) -> Result<Issue, TrackerError> {
        if let Some(fault) = self.enter(Op::Get) {
            return Err(fault_error("get issue", fault));
        }
        self.with_issue("get issue", key, |i| Issue {
            issue: reference(i),
            summary: i.summary.clone(),
            description: i.description.clone(),
            status: i.status.clone(),
            closed: matches!(i.status.as_str(), "Closed" | "Resolved"),
            priority: i.priority.clone(),
        })
    }

    async fn add_comment(&self, key: &str, text: &str) -> Result<(), TrackerError> {
        if let Some(fault) = self.enter(Op::Comment) {
            return Err(fault_error("add comment", fault));
        }
        self.with_issue("add comment", key, |i| i.comments.push(text.to_string()))
    }

    async fn update_issue(&self, key: &str, change: &IssueChange) -> Result<(), TrackerError> {
        if let Some(fault) = self.enter(Op::Update) {
            return Err(fault_error("update issue", fault));
        }
        self.with_issue("update issue", key, |i| {
            match &change.status {
                Some(StatusChange::Open) => i.status = "Open".into(),
                Some(StatusChange::Named(name)) => i.status = name.clone(),
                None => {}
            }
            if let Some(p) = &change.priority {
                i.priority = p.clone();
            }
            if let Some(c) = &change.comment {
                i.comments.push(c.clone());
            }
        })
    }
}

#[derive(Debug, Default)]
struct WriterState {
    findings: Vec<Value>,
    page_size: usize,
    batches: Vec<Vec<WorkflowUpdate>>,
    /// finding key → (workflow, note) last written.
    written: HashMap<String, (String, String)>,
    /// finding key → (code, retryable, times left).
    unprocessed: HashMap<String, (String, bool, usize)>,
    call_faults: Vec<bool>,
    queries: Vec<FindingQuery>,
}

/// An in-memory Security Hub: records write-backs, serves GetFindings from a list.
#[derive(Debug, Default)]
pub struct FakeWriter {
    state: Mutex<WriterState>,
    get_calls: AtomicUsize,
}

impl FakeWriter {
    pub fn new() -> FakeWriter {
        FakeWriter::default()
    }

    /// A finding (ASFF JSON) GetFindings can return.
    pub fn add_finding(&self, finding: Value) {
        locked(&self.state).findings.push(finding);
    }

    /// GetFindings page size (default 100).
    pub fn set_page_size(&self, size: usize) {
        locked(&self.state).page_size = size;
    }

    /// The next `times` batches report this finding unprocessed with `code`.
    pub fn unprocess(&self, finding_key: &str, code: &str, retryable: bool, times: usize) {
        locked(&self.state).unprocessed.insert(
            finding_key.to_string(),
            (code.to_string(), retryable, times),
        );
    }

    /// The next `times` batch calls fail as a whole.
    pub fn fail_calls(&self, times: usize, retryable: bool) {
        locked(&self.state)
            .call_faults
            .extend(std::iter::repeat_n(retryable, times));
    }

    /// Every batch_update call, in order.
    pub fn batches(&self) -> Vec<Vec<WorkflowUpdate>> {
        locked(&self.state).batches.clone()
    }

    /// (workflow, note) last written for a finding key.
    pub fn written(&self, finding_key: &str) -> Option<(String, String)> {
        locked(&self.state).written.get(finding_key).cloned()
    }

    pub fn get_calls(&self) -> usize {
        self.get_calls.load(Ordering::Relaxed)
    }

    pub fn queries(&self) -> Vec<FindingQuery> {
        locked(&self.state).queries.clone()
    }
}

fn text_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn query_matches(q: &FindingQuery, f: &Value) -> bool {
    let product = match text_at(f, "/ProductName") {
        "" => f
            .get("ProductFields")
            .and_then(|p| p.get("aws/securityhub/ProductName"))
            .and_then(Value::as_str)
            .unwrap_or_default(),
        name => name,
    };
    let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    any(&q.finding_ids, text_at(f, "/Id"))
        && any(&q.product_names, product)
        && any(&q.workflow_statuses, text_at(f, "/Workflow/Status"))
        && any(&q.record_states, text_at(f, "/RecordState"))
}

#[async_trait]
impl FindingsWriter for FakeWriter {
    async fn batch_update(&self, updates: &[WorkflowUpdate]) -> Result<BatchResult, WriterError> {
        let mut state = locked(&self.state);
        state.batches.push(updates.to_vec());
        if !state.call_faults.is_empty() {
            let retryable = state.call_faults.remove(0);
            let (operation, message) = ("BatchUpdateFindings", "injected failure".to_string());
            return Err(if retryable {
                WriterError::Retryable { operation, message }
            } else {
                WriterError::Permanent { operation, message }
            });
        }
        let mut result = BatchResult::default();
        for u in updates {
            if let Some((code, retryable, left)) = state.unprocessed.get_mut(&u.finding_key) {
                if *left > 0 {
                    *left -= 1;
                    result.unprocessed.push(Unprocessed {
                        finding_key: u.finding_key.clone(),
                        code: code.clone(),
                        message: "injected".into(),
                        retryable: *retryable,
                    });
                    continue;
                }
            }
            state
                .written
                .insert(u.finding_key.clone(), (u.workflow.clone(), u.note.clone()));
            result.processed.push(u.finding_key.clone());
        }
        Ok(result)
    }

    async fn get_findings(&self, query: &FindingQuery) -> Result<FindingsPage, WriterError> {
        self.get_calls.fetch_add(1, Ordering::Relaxed);
        let mut state = locked(&self.state);
        state.queries.push(query.clone());
        let size = match state.page_size {
            0 => 100,
            n => n,
        };
        let start: usize = query
            .next_token
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let matching: Vec<Value> = state
            .findings
            .iter()
            .filter(|f| query_matches(query, f))
            .cloned()
            .collect();
        let end = (start + size).min(matching.len());
        Ok(FindingsPage {
            findings: matching.get(start..end).unwrap_or_default().to_vec(),
            next_token: (end < matching.len()).then(|| end.to_string()),
        })
    }
}
