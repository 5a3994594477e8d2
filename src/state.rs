//! `state.json`: the job record, in 1.2.0's exact shape.
//!
//! `{"version":0,"state":1,"waiting":[],"request":<any JSON>}`. The request and the targets are
//! kept as raw JSON text: the store never needs to look inside them, and JavaScript parses them
//! once on its side. Fields we do not know are kept, so a newer writer's additions survive.

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
}

impl JobStatus {
  fn from_number(n: u64) -> Option<JobStatus> {
    match n {
      1 => Some(JobStatus::Pending),
      2 => Some(JobStatus::Fulfilled),
      _ => None,
    }
  }

  fn number(self) -> u64 {
    match self {
      JobStatus::Pending => 1,
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
  other: BTreeMap<String, Box<RawValue>>,
}

impl JobState {
  /// A new pending job. `request` must be valid JSON (checked here).
  pub fn new(request: &str) -> Result<JobState, serde_json::Error> {
    Ok(JobState {
      version: 0,
      status: JobStatus::Pending,
      waiting: Vec::new(),
      request: Some(RawValue::from_string(request.to_owned())?),
      fulfilled_at_ms: None,
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
    let fulfilled_at_ms = fields
      .remove("fulfilledAt")
      .and_then(|at| serde_json::from_str::<f64>(at.get()).ok());
    let version: u64 = serde_json::from_str(version.get())
      .map_err(|_| format!("\"version\" is {}, not a whole number", version.get()))?;
    let status = serde_json::from_str::<u64>(state.get())
      .ok()
      .and_then(JobStatus::from_number)
      .ok_or_else(|| format!("\"state\" is {}, not 1 or 2", state.get()))?;
    let waiting: Vec<Box<RawValue>> =
      serde_json::from_str(waiting.get()).map_err(|_| "\"waiting\" is not an array".to_string())?;
    Ok(JobState {
      version,
      status,
      waiting,
      request,
      fulfilled_at_ms,
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
    if let Some(at) = self.fulfilled_at_ms {
      write!(out, ",\"fulfilledAt\":{at}").unwrap();
    }
    for (name, value) in &self.other {
      write!(out, ",{}:{}", Value::String(name.clone()), value.get()).unwrap();
    }
    out.push('}');
    out
  }

  /// The waiting targets as one JSON array text.
  pub fn waiting_json(&self) -> String {
    let mut out = String::from("[");
    for (i, target) in self.waiting.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      out.push_str(target.get());
    }
    out.push(']');
    out
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
