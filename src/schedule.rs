//! Schedules: a job made at every slot of a cron expression (in a time zone) or of a fixed
//! period, by whichever process gets there first, exactly once per slot however many processes
//! and machines fire them.
//!
//! A schedule is a file a person can read, `schedules/<name>.json`: its rule, the request and
//! options of the jobs it makes, and `lastSlot`, the latest slot it made a job for. Firing slot
//! S takes the schedule's lock, and only if S is after `lastSlot` creates the slot's job, then
//! records `lastSlot = S`. The job's id is derived from the schedule's name and the slot, and is
//! published with a rename that cannot replace an existing job folder, so even two processes
//! whose locks do not exclude each other (a network filesystem that lost one) make one job, and
//! a crash between the create and the record only means the next firer finds the job there.
//!
//! A schedule that was not fired for a while (no process running) makes one job, for its latest
//! slot, when a process fires it again: never a burst of the missed ones.

use std::io;
use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::clock::now_ms;
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::json;
use crate::layout::{self, SCHEDULES};
use crate::lock::{Create, FileLock};
use crate::store::{CreateOptions, Store};

/// When a schedule's slots fall.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
  /// A cron expression (5 fields, or 6 with seconds first) in a time zone (IANA name; UTC when
  /// none), daylight-saving changes included.
  Cron { expr: String, tz: Option<String> },
  /// Every `ms` milliseconds, at multiples of `ms` since the epoch, so every process agrees.
  Every { ms: u64 },
}

/// A saved schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
  pub name: String,
  pub rule: Rule,
  /// The request of the jobs it makes (JSON text).
  pub request: String,
  pub priority: i32,
  pub max_attempts: Option<u32>,
  /// The latest slot a job was made for (ms since the epoch).
  pub last_slot_ms: f64,
  /// The next slot after now, when there is one.
  pub next_ms: Option<f64>,
}

impl Rule {
  /// Checks the rule: a cron expression that parses, a time zone that exists, a period of at
  /// least one millisecond.
  pub fn check(&self) -> Result<()> {
    match self {
      Rule::Cron { expr, tz } => {
        parse_cron(expr)?;
        zone(tz.as_deref())?;
      }
      Rule::Every { ms: 0 } => return Err(invalid("rule.everyMs", "must be 1 or more")),
      Rule::Every { .. } => {}
    }
    Ok(())
  }

  /// The latest slot at or before `at_ms`.
  pub fn slot_at_or_before(&self, at_ms: f64) -> Result<Option<f64>> {
    match self {
      Rule::Every { ms } => Ok(Some(((at_ms as u64) / ms * ms) as f64)),
      Rule::Cron { expr, tz } => {
        let cron = parse_cron(expr)?;
        let at = zone(tz.as_deref())?.from_utc_datetime(&utc(at_ms).naive_utc());
        Ok(cron.find_previous_occurrence(&at, true).ok().map(millis))
      }
    }
  }

  /// The first slot after `at_ms`.
  pub fn slot_after(&self, at_ms: f64) -> Result<Option<f64>> {
    match self {
      Rule::Every { ms } => Ok(Some(((at_ms as u64) / ms * ms + ms) as f64)),
      Rule::Cron { expr, tz } => {
        let cron = parse_cron(expr)?;
        let at = zone(tz.as_deref())?.from_utc_datetime(&utc(at_ms).naive_utc());
        Ok(cron.find_next_occurrence(&at, false).ok().map(millis))
      }
    }
  }
}

fn parse_cron(expr: &str) -> Result<croner::Cron> {
  CronParser::builder()
    .seconds(Seconds::Optional)
    .build()
    .parse(expr)
    .map_err(|e| {
      invalid(
        "options.cron",
        &format!("is not a cron expression ({e}); e.g. '0 3 * * *' for 03:00 every day"),
      )
    })
}

fn zone(tz: Option<&str>) -> Result<Tz> {
  match tz {
    None => Ok(Tz::UTC),
    Some(name) => Tz::from_str(name).map_err(|_| {
      invalid(
        "options.tz",
        &format!("'{name}' is not a time zone; use an IANA name such as 'Europe/Paris'"),
      )
    }),
  }
}

/// `ms` as a UTC time, in whole seconds: cron slots fall on whole seconds.
fn utc(ms: f64) -> chrono::DateTime<Utc> {
  Utc
    .timestamp_opt((ms / 1000.0).floor() as i64, 0)
    .single()
    .unwrap_or_default()
}

fn millis<Z: TimeZone>(at: chrono::DateTime<Z>) -> f64 {
  at.timestamp_millis() as f64
}

fn invalid(what: &str, why: &str) -> StoreError {
  StoreError::new(
    Code::InvalidArgValue,
    format!("The \"{what}\" argument {why}"),
  )
}

/// A schedule's name: one safe path segment, short, that leaves room for `.json` and `.lock`.
fn check_name(name: &str) -> Result<()> {
  let plain = name
    .bytes()
    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'));
  if name.is_empty() || name.len() > 100 || !plain || name.starts_with('.') {
    return Err(invalid(
      "name",
      "must be 1 to 100 letters, digits or _ - . : @ (not starting with '.')",
    ));
  }
  Ok(())
}

fn file_of(name: &str) -> String {
  format!("{SCHEDULES}/{name}.json")
}

fn lock_of(name: &str) -> String {
  format!("{SCHEDULES}/{name}.lock")
}

/// The id of the job schedule `name` makes for `slot_ms`: a UUID v7 of the slot's time whose
/// random part is drawn from the name, the same in every process.
fn slot_id(name: &str, slot_ms: f64, priority: i32) -> String {
  let a = layout::stable_hash(name, layout::FNV_OFFSET);
  let b = layout::stable_hash(name, layout::FNV_OFFSET.rotate_left(32));
  let mut random = [0u8; 10];
  random[..8].copy_from_slice(&a.to_be_bytes());
  random[8..].copy_from_slice(&b.to_be_bytes()[..2]);
  let uuid = uuid::Builder::from_unix_timestamp_millis(slot_ms as u64, &random).into_uuid();
  layout::id_for(priority, uuid)
}

impl Store {
  /// Saves schedule `name` (replacing one of that name, whose `lastSlot` is kept). A new one
  /// makes its first job at its first slot from now on.
  pub fn schedule(
    &self,
    name: &str,
    rule: Rule,
    request: &str,
    options: &CreateOptions,
  ) -> Result<()> {
    let f = self.writable()?;
    check_name(name)?;
    rule.check()?;
    json::check_depth(request).map_err(|why| invalid("request", &why.to_string()))?;
    RawValue::from_string(request.to_owned()).map_err(|e| invalid("request", &e.to_string()))?;
    if !layout::PRIORITIES.contains(&options.priority) {
      return Err(invalid(
        "options.priority",
        "must be a whole number from -9 to 9",
      ));
    }
    let _lock = self.lock_schedule(&f, name)?;
    let last = match self.read_schedule(&f, name) {
      Ok(existing) => existing.last_slot_ms,
      Err(e) if e.is_not_found() => now_ms(),
      Err(e) => return Err(e),
    };
    let (cron, tz, every) = match &rule {
      Rule::Cron { expr, tz } => (Some(expr.clone()), tz.clone(), None),
      Rule::Every { ms } => (None, None, Some(*ms)),
    };
    let record = json!({
      "name": name,
      "cron": cron,
      "tz": tz,
      "everyMs": every,
      "request": serde_json::from_str::<Value>(request).unwrap_or(Value::Null),
      "priority": options.priority,
      "maxAttempts": options.max_attempts,
      "lastSlot": last,
    });
    self.write_schedule_file(&f, name, &record)
  }

  /// Removes schedule `name`; `false` when there was none. Jobs it made stay.
  pub fn unschedule(&self, name: &str) -> Result<bool> {
    let f = self.writable()?;
    check_name(name)?;
    let _lock = self.lock_schedule(&f, name)?;
    let rel = file_of(name);
    match f.unlink(&rel) {
      Ok(()) => {
        crate::durable::sync_dir(&f, SCHEDULES, self.durability())?;
        Ok(true)
      }
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
      Err(e) => Err(StoreError::io(&e, Op::Delete, &f.full(&rel))),
    }
  }

  /// Every schedule, by name, each with its next slot.
  pub fn schedules(&self) -> Result<Vec<Schedule>> {
    let f = self.folder()?;
    let now = now_ms();
    let mut all = Vec::new();
    for name in self.schedule_names(&f)? {
      match self.read_schedule(&f, &name) {
        Ok(mut schedule) => {
          schedule.next_ms = schedule.rule.slot_after(now)?;
          all.push(schedule);
        }
        // Removed since the listing.
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
      }
    }
    Ok(all)
  }

  /// Makes the jobs of every schedule whose latest slot has come and has no job yet (one per
  /// schedule: its latest slot), and says when the next slot of any schedule falls, so the
  /// caller knows when to call again. A damaged schedule file does not stop the others; its
  /// error is answered once every other schedule was fired.
  pub fn fire_schedules(&self) -> Result<Option<f64>> {
    let f = self.writable()?;
    let now = now_ms();
    let mut next: Option<f64> = None;
    let mut failure = None;
    for name in self.schedule_names(&f)? {
      let fired = self
        .fire_schedule(&f, &name, now)
        .and_then(|()| self.read_schedule(&f, &name))
        .and_then(|schedule| schedule.rule.slot_after(now));
      match fired {
        Ok(slot) => next = [next, slot].into_iter().flatten().reduce(f64::min),
        Err(e) if e.is_not_found() => {}
        Err(e) => {
          failure.get_or_insert(e);
        }
      }
    }
    match failure {
      Some(e) => Err(e),
      None => Ok(next),
    }
  }

  /// Fires schedule `name`'s latest slot at `now`, if it has not been.
  fn fire_schedule(&self, f: &Folder, name: &str, now: f64) -> Result<()> {
    // Cheap look first: most calls find nothing due and take no lock.
    let schedule = self.read_schedule(f, name)?;
    let due = schedule.rule.slot_at_or_before(now)?;
    if !due.is_some_and(|slot| slot > schedule.last_slot_ms) {
      return Ok(());
    }
    let _lock = self.lock_schedule(f, name)?;
    let mut record = self.read_schedule_file(f, name)?;
    let schedule = self.parse_schedule(f, name, &record)?;
    let Some(slot) = due.filter(|slot| *slot > schedule.last_slot_ms) else {
      return Ok(());
    };
    let options = CreateOptions {
      priority: schedule.priority,
      max_attempts: schedule.max_attempts,
      schedule: Some((name.to_owned(), slot)),
      ..CreateOptions::default()
    };
    let id = slot_id(name, slot, schedule.priority);
    self.create_once(&id, &schedule.request, &options)?;
    record["lastSlot"] = json!(slot);
    self.write_schedule_file(f, name, &record)
  }

  /// Schedule `name`'s file, as JSON; `ENOJOB` when there is none.
  fn read_schedule_file(&self, f: &Folder, name: &str) -> Result<Value> {
    let rel = file_of(name);
    let bytes = f.read(&rel).map_err(|e| {
      if e.kind() == io::ErrorKind::NotFound {
        StoreError::new(Code::NoJob, format!("no schedule named '{name}'"))
      } else {
        StoreError::io(&e, Op::Read, &f.full(&rel))
      }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::corrupt(&f.full(&rel), e))
  }

  /// Replaces schedule `name`'s file (atomically, and durably when the store is).
  fn write_schedule_file(&self, f: &Folder, name: &str, record: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(record).expect("JSON values serialise") + "\n";
    self.replace(f, &file_of(name), text.as_bytes())?;
    crate::durable::sync_dir(f, SCHEDULES, self.durability())
  }

  fn lock_schedule(&self, f: &Folder, name: &str) -> Result<FileLock> {
    FileLock::lock_bounded(f, &lock_of(name), self.options.lock_wait, Create::Yes)
  }

  fn schedule_names(&self, f: &Folder) -> Result<Vec<String>> {
    let mut names: Vec<String> = match f.entries(SCHEDULES) {
      Ok(entries) => entries
        .into_iter()
        .filter_map(|e| e.name.strip_suffix(".json").map(str::to_owned))
        .filter(|name| check_name(name).is_ok())
        .collect(),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
      Err(e) => return Err(StoreError::io(&e, Op::List, &f.full(SCHEDULES))),
    };
    names.sort();
    Ok(names)
  }

  fn read_schedule(&self, f: &Folder, name: &str) -> Result<Schedule> {
    let record = self.read_schedule_file(f, name)?;
    self.parse_schedule(f, name, &record)
  }

  fn parse_schedule(&self, f: &Folder, name: &str, record: &Value) -> Result<Schedule> {
    let damaged = |why: &str| StoreError::corrupt(&f.full(&file_of(name)), why);
    let rule = match (&record["cron"], &record["everyMs"]) {
      (Value::String(expr), _) => Rule::Cron {
        expr: expr.clone(),
        tz: record["tz"].as_str().map(str::to_owned),
      },
      (_, every) if every.as_u64().is_some() => Rule::Every {
        ms: every.as_u64().unwrap_or(1).max(1),
      },
      _ => return Err(damaged("it has neither \"cron\" nor \"everyMs\"")),
    };
    Ok(Schedule {
      name: name.to_owned(),
      rule,
      request: record["request"].to_string(),
      priority: record["priority"].as_i64().unwrap_or(0) as i32,
      max_attempts: record["maxAttempts"]
        .as_u64()
        .map(|n| n.clamp(1, u32::MAX.into()) as u32),
      last_slot_ms: record["lastSlot"]
        .as_f64()
        .ok_or_else(|| damaged("it has no \"lastSlot\""))?,
      next_ms: None,
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::Options;

  fn at(text: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(text)
      .unwrap()
      .timestamp_millis() as f64
  }

  #[test]
  fn cron_slots_follow_the_time_zone_across_daylight_saving_changes() {
    let rule = Rule::Cron {
      expr: "0 * * * *".into(),
      tz: Some("America/New_York".into()),
    };
    // 2026-11-01 01:00 happens twice in New York (clocks go back at 02:00 EDT).
    let mut slot = at("2026-11-01T04:30:00Z");
    let mut seen = Vec::new();
    for _ in 0..4 {
      slot = rule.slot_after(slot).unwrap().unwrap();
      seen.push(slot);
    }
    // The wall-clock hour that happens twice fires once (01:00 EDT, not again at 01:00 EST):
    // never two jobs for one local time.
    assert_eq!(
      seen,
      [
        at("2026-11-01T05:00:00Z"),
        at("2026-11-01T07:00:00Z"),
        at("2026-11-01T08:00:00Z"),
        at("2026-11-01T09:00:00Z")
      ]
    );
    let daily = Rule::Cron {
      expr: "30 2 * * *".into(),
      tz: Some("America/New_York".into()),
    };
    // 02:30 does not exist on 2026-03-08 in New York; the slots around it stay a day apart or so.
    let before = daily
      .slot_at_or_before(at("2026-03-07T12:00:00Z"))
      .unwrap()
      .unwrap();
    let next = daily.slot_after(before).unwrap().unwrap();
    let after = daily.slot_after(next).unwrap().unwrap();
    assert!(next > before && after > next);
    assert!((after - before) <= 2.0 * 86_400_000.0 + 3_600_000.0);
    assert_eq!(
      daily.slot_at_or_before(at("2026-06-10T07:00:00Z")).unwrap(),
      Some(at("2026-06-10T06:30:00Z")),
      "02:30 EDT"
    );
  }

  #[test]
  fn a_slot_makes_one_job_however_often_it_is_fired() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path(), Options::default()).unwrap();
    let b = Store::open(dir.path(), Options::default()).unwrap();
    a.schedule(
      "tick",
      Rule::Every { ms: 50 },
      r#"{"t":1}"#,
      &CreateOptions::default(),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    for store in [&a, &b, &a] {
      store.fire_schedules().unwrap();
    }
    let jobs = a.list(crate::inspect::Listing::All).unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = a.pull_job().unwrap().unwrap();
    assert_eq!(job.schedule.as_ref().map(|(n, _)| n.as_str()), Some("tick"));
    assert_eq!(job.request.as_deref(), Some(r#"{"t":1}"#));
  }

  #[test]
  fn a_long_pause_makes_one_job_for_the_latest_missed_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store
      .schedule(
        "often",
        Rule::Every { ms: 10 },
        "1",
        &CreateOptions::default(),
      )
      .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    store.fire_schedules().unwrap();
    assert_eq!(store.list(crate::inspect::Listing::All).unwrap().len(), 1);
  }

  #[test]
  fn bad_rules_and_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let make = |name: &str, rule: Rule| store.schedule(name, rule, "1", &CreateOptions::default());
    let cron = |expr: &str, tz: Option<&str>| Rule::Cron {
      expr: expr.into(),
      tz: tz.map(str::to_owned),
    };
    assert!(make("x", cron("not cron", None)).is_err());
    assert!(make("x", cron("0 3 * * *", Some("Mars/Olympus"))).is_err());
    assert!(make("../x", Rule::Every { ms: 1000 }).is_err());
    assert!(make("x", Rule::Every { ms: 0 }).is_err());
    make("nightly", cron("0 3 * * *", Some("Europe/Paris"))).unwrap();
    let all = store.schedules().unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].next_ms.unwrap() > now_ms());
    assert!(store.unschedule("nightly").unwrap());
    assert!(!store.unschedule("nightly").unwrap());
  }
}
