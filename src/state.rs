//! `state.json`: the job record, in 1.2.0's exact shape.
//!
//! `{"version":0,"state":1,"waiting":[],"request":<any JSON>}`. The request and the targets are
//! kept as raw JSON text: the store never needs to look inside them, and JavaScript parses them
//! once on its side. Fields we do not know are kept, so a newer writer's additions survive.
//!
//! What 1.2.0 had no field for is kept in extra keys it ignores: `fulfilledAt`, `failedAt`
//! (a failed job is `"state":1` with `failedAt`: 1.2.0 sees it as unresolved, but it is in no
//! `pending/` marker, so no 1.2.0 worker takes it), `failures`, `runAt` and `maxAttempts`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::json::{self, Json};

/// Where a job is in its life, stored as 1.2.0's numbers in `"state"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
  /// `1`: the job needs work (1.2.0 calls it RESOLVING).
  Pending,
  /// `2`: the job has a value.
  Fulfilled,
  /// `1` with `failedAt`: given up on, set aside until `retry`.
  Failed,
  /// `1` with `cancelledAt`: never to be worked (1.2.0 finds it in none of its folders).
  Cancelled,
}

impl JobStatus {
  fn from_number(n: u64) -> Option<JobStatus> {
    match n {
      1 => Some(JobStatus::Pending),
      2 => Some(JobStatus::Fulfilled),
      _ => None,
    }
  }

  /// How messages name it.
  pub fn name(self) -> &'static str {
    match self {
      JobStatus::Pending => "pending",
      JobStatus::Fulfilled => "fulfilled",
      JobStatus::Failed => "failed",
      JobStatus::Cancelled => "cancelled",
    }
  }

  fn number(self) -> u64 {
    match self {
      JobStatus::Pending | JobStatus::Failed | JobStatus::Cancelled => 1,
      JobStatus::Fulfilled => 2,
    }
  }
}

#[derive(Debug)]
pub struct JobState {
  pub version: u64,
  pub status: JobStatus,
  pub waiting: Vec<Box<RawValue>>,
  /// `None` when the record has no `request` key: 1.2.0 wrote none for `create(undefined)`.
  pub request: Option<Box<RawValue>>,
  /// When the job was fulfilled (ms since the Unix epoch), as `"fulfilledAt"`; 1.2.0 wrote none
  /// and ignores it.
  pub fulfilled_at_ms: Option<f64>,
  /// When the job was set aside as failed.
  pub failed_at_ms: Option<f64>,
  /// The recorded failures, oldest first: `{"at":ms,"error":{…}}` each, the last [`MAX_FAILURES`].
  pub failures: Vec<Box<RawValue>>,
  /// Not to be worked before this time (a delayed job, or a retry's backoff).
  pub run_at_ms: Option<f64>,
  /// Claims this job may have before a failure is final; the store's default when `None`.
  pub max_attempts: Option<u32>,
  /// When the job was cancelled, as `"cancelledAt"`.
  pub cancelled_at_ms: Option<f64>,
  /// Why, as the canceller said, as `"cancelReason"`.
  pub cancel_reason: Option<String>,
  /// The job's priority, as `"priority"` (absent: 0); its id says it too.
  pub priority: Option<i32>,
  /// The unique key the job holds while it is to be done, as `"key"`.
  pub key: Option<String>,
  /// The schedule that made the job and the slot it was made for (ms since the epoch), as
  /// `"schedule"` and `"slot"`.
  pub schedule: Option<(String, f64)>,
  other: BTreeMap<String, Box<RawValue>>,
}

/// How many failures a record keeps.
pub const MAX_FAILURES: usize = 20;

impl JobState {
  /// A new pending job. `request` must be valid JSON (checked here).
  pub fn new(request: &str) -> Result<JobState, serde_json::Error> {
    Ok(JobState {
      version: 0,
      status: JobStatus::Pending,
      waiting: Vec::new(),
      request: Some(RawValue::from_string(request.to_owned())?),
      fulfilled_at_ms: None,
      failed_at_ms: None,
      failures: Vec::new(),
      run_at_ms: None,
      max_attempts: None,
      cancelled_at_ms: None,
      cancel_reason: None,
      priority: None,
      key: None,
      schedule: None,
      other: BTreeMap::new(),
    })
  }

  /// Parses a record, naming the first thing wrong with it.
  pub fn parse(bytes: &[u8]) -> Result<JobState, String> {
    let mut fields: BTreeMap<String, Box<RawValue>> =
      serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut take = |name: &str| fields.remove(name).ok_or(format!("no \"{name}\" field"));
    let version = take("version")?;
    let state = take("state")?;
    let waiting = take("waiting")?;
    let request = fields.remove("request");
    let mut number = |name: &str| {
      fields
        .remove(name)
        .and_then(|at| serde_json::from_str::<f64>(at.get()).ok())
    };
    let fulfilled_at_ms = number("fulfilledAt");
    let failed_at_ms = number("failedAt");
    let run_at_ms = number("runAt");
    let max_attempts = number("maxAttempts").map(|n| n.clamp(1.0, u32::MAX as f64) as u32);
    let cancelled_at_ms = number("cancelledAt");
    let mut text = |name: &str| {
      fields
        .remove(name)
        .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
    };
    let cancel_reason = text("cancelReason");
    let key = text("key");
    let schedule_name = text("schedule");
    let slot = fields
      .remove("slot")
      .and_then(|r| serde_json::from_str::<f64>(r.get()).ok());
    let priority = fields
      .remove("priority")
      .and_then(|r| serde_json::from_str::<i32>(r.get()).ok());
    let failures = fields
      .remove("failures")
      .and_then(|f| serde_json::from_str::<Vec<Box<RawValue>>>(f.get()).ok())
      .unwrap_or_default();
    let version: u64 = serde_json::from_str(version.get())
      .map_err(|_| format!("\"version\" is {}, not a whole number", version.get()))?;
    let mut status = serde_json::from_str::<u64>(state.get())
      .ok()
      .and_then(JobStatus::from_number)
      .ok_or_else(|| format!("\"state\" is {}, not 1 or 2", state.get()))?;
    if status == JobStatus::Pending && cancelled_at_ms.is_some() {
      status = JobStatus::Cancelled;
    } else if status == JobStatus::Pending && failed_at_ms.is_some() {
      status = JobStatus::Failed;
    }
    let waiting: Vec<Box<RawValue>> =
      serde_json::from_str(waiting.get()).map_err(|_| "\"waiting\" is not an array".to_string())?;
    Ok(JobState {
      version,
      status,
      waiting,
      request,
      fulfilled_at_ms,
      failed_at_ms,
      failures,
      run_at_ms,
      max_attempts,
      cancelled_at_ms,
      cancel_reason,
      priority,
      key,
      schedule: schedule_name.zip(slot),
      other: fields,
    })
  }

  pub fn to_json(&self) -> String {
    let request = self.request.as_deref().map(RawValue::get);
    let mut out = String::with_capacity(64 + request.map_or(0, str::len));
    write!(
      out,
      "{{\"version\":{},\"state\":{},\"waiting\":[",
      self.version,
      self.status.number()
    )
    .unwrap();
    for (i, target) in self.waiting.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      out.push_str(target.get());
    }
    out.push(']');
    if let Some(request) = request {
      out.push_str(",\"request\":");
      out.push_str(request);
    }
    let numbers = [
      ("fulfilledAt", self.fulfilled_at_ms),
      (
        "failedAt",
        self
          .failed_at_ms
          .filter(|_| self.status == JobStatus::Failed),
      ),
      ("runAt", self.run_at_ms),
      ("maxAttempts", self.max_attempts.map(f64::from)),
      (
        "cancelledAt",
        self
          .cancelled_at_ms
          .filter(|_| self.status == JobStatus::Cancelled),
      ),
    ];
    for (name, value) in numbers {
      if let Some(value) = value {
        write!(out, ",\"{name}\":{value}").unwrap();
      }
    }
    if let (JobStatus::Cancelled, Some(reason)) = (self.status, &self.cancel_reason) {
      write!(out, ",\"cancelReason\":{}", Value::String(reason.clone())).unwrap();
    }
    if let Some(priority) = self.priority.filter(|p| *p != 0) {
      write!(out, ",\"priority\":{priority}").unwrap();
    }
    if let Some(key) = &self.key {
      write!(out, ",\"key\":{}", Value::String(key.clone())).unwrap();
    }
    if let Some((name, slot)) = &self.schedule {
      write!(
        out,
        ",\"schedule\":{},\"slot\":{slot}",
        Value::String(name.clone())
      )
      .unwrap();
    }
    if !self.failures.is_empty() {
      out.push_str(",\"failures\":");
      push_array(&mut out, &self.failures);
    }
    for (name, value) in &self.other {
      write!(out, ",{}:{}", Value::String(name.clone()), value.get()).unwrap();
    }
    out.push('}');
    out
  }

  /// The waiting targets as one JSON array text.
  pub fn waiting_json(&self) -> String {
    let mut out = String::new();
    push_array(&mut out, &self.waiting);
    out
  }

  /// The recorded failures as one JSON array text.
  pub fn failures_json(&self) -> String {
    let mut out = String::new();
    push_array(&mut out, &self.failures);
    out
  }

  /// Records a failure (`error` is JSON text) at `at_ms`, keeping the last [`MAX_FAILURES`].
  pub fn record_failure(&mut self, at_ms: f64, error: &str) {
    let entry = format!("{{\"at\":{at_ms},\"error\":{error}}}");
    if let Ok(raw) = RawValue::from_string(entry) {
      self.failures.push(raw);
    }
    let extra = self.failures.len().saturating_sub(MAX_FAILURES);
    self.failures.drain(..extra);
  }

  /// Removes, for each of `targets`, the first waiting entry equal to it (deep, strict
  /// equality, as 1.2.0 compares). Returns how many were removed.
  pub fn unqueue(&mut self, targets: &[Json]) -> usize {
    let mut parsed: Vec<Option<Json>> = self
      .waiting
      .iter()
      .map(|raw| json::parse(raw.get()).ok())
      .collect();
    let mut removed = 0;
    for target in targets {
      if let Some(i) = parsed.iter().position(|w| w.as_ref() == Some(target)) {
        parsed.remove(i);
        self.waiting.remove(i);
        removed += 1;
      }
    }
    removed
  }
}

fn push_array(out: &mut String, items: &[Box<RawValue>]) {
  out.push('[');
  for (i, item) in items.iter().enumerate() {
    if i > 0 {
      out.push(',');
    }
    out.push_str(item.get());
  }
  out.push(']');
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn round_trips_1_2_0_records() {
    let text =
      br#"{"version":3,"state":2,"waiting":["a",{"b":[1,2]}],"request":{"calculate":"3+3"}}"#;
    let state = JobState::parse(text).unwrap();
    assert_eq!((state.version, state.status), (3, JobStatus::Fulfilled));
    assert_eq!(state.to_json().as_bytes(), text);
    assert_eq!(state.waiting_json(), r#"["a",{"b":[1,2]}]"#);
  }

  #[test]
  fn a_record_without_request_is_read_and_written_back_as_1_2_0_wrote_it() {
    let text = br#"{"version":0,"state":1,"waiting":[]}"#;
    let state = JobState::parse(text).unwrap();
    assert!(state.request.is_none());
    assert_eq!(state.to_json().as_bytes(), text);
  }

  #[test]
  fn a_failed_job_is_state_1_with_failed_at_and_keeps_its_failures() {
    let mut state = JobState::new("1").unwrap();
    state.record_failure(5.0, r#"{"message":"boom"}"#);
    state.status = JobStatus::Failed;
    state.failed_at_ms = Some(6.0);
    let text = state.to_json();
    assert!(text.starts_with(r#"{"version":0,"state":1,"#), "{text}");
    let again = JobState::parse(text.as_bytes()).unwrap();
    assert_eq!(again.status, JobStatus::Failed);
    assert_eq!(
      again.failures_json(),
      r#"[{"at":5,"error":{"message":"boom"}}]"#
    );
    for n in 0..30 {
      state.record_failure(n as f64, "null");
    }
    assert_eq!(state.failures.len(), MAX_FAILURES);
  }

  #[test]
  fn keeps_unknown_fields() {
    let text = br#"{"version":0,"state":1,"waiting":[],"request":null,"x-note":"hi"}"#;
    let state = JobState::parse(text).unwrap();
    assert_eq!(state.to_json().as_bytes(), text);
  }

  #[test]
  fn names_what_is_wrong() {
    let cases: [(&[u8], &str); 5] = [
      (b"{\"version\":0,\"sta", "not a JSON object"),
      (
        b"{\"version\":0,\"state\":1,\"request\":1}",
        "no \"waiting\" field",
      ),
      (
        b"{\"version\":-1,\"state\":1,\"waiting\":[],\"request\":1}",
        "\"version\"",
      ),
      (
        b"{\"version\":0,\"state\":7,\"waiting\":[],\"request\":1}",
        "not 1 or 2",
      ),
      (
        b"{\"version\":0,\"state\":1,\"waiting\":{},\"request\":1}",
        "not an array",
      ),
    ];
    for (text, why) in cases {
      let err = JobState::parse(text).unwrap_err();
      assert!(err.contains(why), "{err} should mention {why}");
    }
  }

  #[test]
  fn unqueue_removes_first_equal_entry_per_target() {
    let text = br#"{"version":0,"state":1,"waiting":["a",{"x":1,"y":2},"a","b"],"request":1}"#;
    let mut state = JobState::parse(text).unwrap();
    let targets: Vec<Json> = [r#""a""#, r#"{"y":2,"x":1}"#, r#""zzz""#]
      .iter()
      .map(|t| json::parse(t).unwrap())
      .collect();
    assert_eq!(state.unqueue(&targets), 2);
    assert_eq!(state.waiting_json(), r#"["a","b"]"#);
  }
}
