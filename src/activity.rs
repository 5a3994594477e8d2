//! Jobs created, fulfilled and failed per minute over the last hour, for the dashboard's chart.
//!
//! Each store counts its own in memory and writes them to `activity/<process>.json` at most once a
//! second, from one thread for the whole process (never fsynced: a crash loses a second of the
//! chart, not a job), and once more at close. Reading sums every
//! process's file, so no two processes ever write the same file, on one machine or many. Files
//! untouched for [`KEEP`] are removed by the sweep at open.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::folder::{Folder, Kind};
use crate::layout::ACTIVITY;
use crate::store::Store;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
  Created = 0,
  Fulfilled = 1,
  /// An attempt that failed, retried later or set aside.
  Failed = 2,
}

/// One minute's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Minute {
  /// The minute's start, ms since the epoch.
  pub at_ms: u64,
  pub created: u64,
  pub fulfilled: u64,
  pub failed: u64,
}

/// How many minutes are kept and shown.
pub const MINUTES: u64 = 60;
/// How often a store writes its counts, at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Activity files not written for this long are removed at open.
const KEEP: Duration = Duration::from_secs(2 * 3600);

type Counts = BTreeMap<u64, [u64; 3]>;

#[derive(Debug, Default)]
struct Tally {
  /// By minute number (ms since the epoch / 60,000).
  minutes: Counts,
  dirty: bool,
  /// Whether the store is in [`WRITER`]'s list.
  registered: bool,
}

/// One store's counts and the file they go to.
#[derive(Debug)]
pub struct Activity {
  file: String,
  tally: Mutex<Tally>,
}

impl Default for Activity {
  fn default() -> Self {
    Activity {
      file: format!(
        "{ACTIVITY}/{}-{}.json",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
      ),
      tally: Mutex::default(),
    }
  }
}

fn minute_of(ms: f64) -> u64 {
  (ms / 60_000.0) as u64
}

fn trim(minutes: &mut Counts, now_minute: u64) {
  let oldest = now_minute.saturating_sub(MINUTES - 1);
  while minutes.first_key_value().is_some_and(|(m, _)| *m < oldest) {
    minutes.pop_first();
  }
}

impl Store {
  /// Counts `n` events of `kind` now; the first one has the writer thread look after this store.
  pub(crate) fn note(&self, kind: Event, n: u64) {
    let register = {
      let mut tally = self.activity.tally.lock().unwrap();
      let now = minute_of(now_ms());
      tally.minutes.entry(now).or_default()[kind as usize] += n;
      trim(&mut tally.minutes, now);
      tally.dirty = true;
      !std::mem::replace(&mut tally.registered, true)
    };
    if register {
      if let Some(me) = self.me.get() {
        Writer::add(me.clone());
      }
    }
  }

  /// Writes this store's counts when they changed since the last write.
  fn write_activity(&self) {
    let Ok(f) = self.folder() else { return };
    let text = {
      let mut tally = self.activity.tally.lock().unwrap();
      if !std::mem::take(&mut tally.dirty) {
        return;
      }
      serialize(&tally.minutes)
    };
    if self
      .replace_relaxed(&f, &self.activity.file, text.as_bytes())
      .is_err()
    {
      // Tried again at the next tick.
      self.activity.tally.lock().unwrap().dirty = true;
    }
  }

  /// The last hour, minute by minute (oldest first, the current minute last), summed over every
  /// process that wrote to this store, this one included.
  pub fn activity(&self) -> crate::error::Result<Vec<Minute>> {
    let f = self.folder()?;
    let now = minute_of(now_ms());
    let mut sum: Counts = BTreeMap::new();
    let mut add = |minutes: &Counts| {
      for (minute, counts) in minutes {
        if let Some(total) = sum.get_mut(minute) {
          for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
          }
        } else {
          sum.insert(*minute, *counts);
        }
      }
    };
    for (name, minutes) in read_files(&f, now) {
      if name != self.activity.file {
        add(&minutes);
      }
    }
    add(&self.activity.tally.lock().unwrap().minutes);
    Ok(
      (now + 1 - MINUTES..=now)
        .map(|minute| {
          let [created, fulfilled, failed] = sum.get(&minute).copied().unwrap_or_default();
          Minute {
            at_ms: minute * 60_000,
            created,
            fulfilled,
            failed,
          }
        })
        .collect(),
    )
  }

  /// Writes the counts one last time (the store is closing) and leaves the writer's list.
  pub(crate) fn flush_activity(&self) {
    self.write_activity();
    Writer::remove(self);
  }
}

/// The stores whose counts the process's writer thread writes every second. The thread runs only
/// while the list is not empty, so a process whose stores are closed keeps no thread for it.
struct Writer {
  stores: Vec<Weak<Store>>,
  thread: Option<std::thread::Thread>,
}

static WRITER: Mutex<Writer> = Mutex::new(Writer {
  stores: Vec::new(),
  thread: None,
});

impl Writer {
  fn add(store: Weak<Store>) {
    let mut writer = WRITER.lock().unwrap();
    writer.stores.push(store);
    if writer.thread.is_none() {
      let spawned = std::thread::Builder::new()
        .name("fs-job-store-activity".into())
        .spawn(Writer::run);
      // Without the thread the counts are still written at close.
      writer.thread = spawned.ok().map(|handle| handle.thread().clone());
    }
  }

  fn remove(store: &Store) {
    let mut writer = WRITER.lock().unwrap();
    writer
      .stores
      .retain(|s| s.strong_count() > 0 && !std::ptr::eq(s.as_ptr(), store));
    if writer.stores.is_empty() {
      // Told now rather than at its next tick, so it ends with the last store.
      if let Some(thread) = &writer.thread {
        thread.unpark();
      }
    }
  }

  fn run() {
    let mut last = Instant::now();
    loop {
      std::thread::park_timeout(FLUSH_EVERY.saturating_sub(last.elapsed()));
      let stores: Vec<Arc<Store>> = {
        let mut writer = WRITER.lock().unwrap();
        writer.stores.retain(|s| s.strong_count() > 0);
        if writer.stores.is_empty() {
          writer.thread = None;
          return;
        }
        writer.stores.iter().filter_map(Weak::upgrade).collect()
      };
      if last.elapsed() < FLUSH_EVERY {
        continue;
      }
      last = Instant::now();
      for store in stores {
        if !store.is_closed() {
          store.write_activity();
        }
      }
    }
  }
}

/// `{"minutes":[[minute, created, fulfilled, failed], …]}`.
fn serialize(minutes: &Counts) -> String {
  let rows: Vec<[u64; 4]> = minutes
    .iter()
    .map(|(m, [c, f, x])| [*m, *c, *f, *x])
    .collect();
  serde_json::json!({ "minutes": rows }).to_string()
}

fn parse(bytes: &[u8], now_minute: u64) -> Option<Counts> {
  let file: serde_json::Value = serde_json::from_slice(bytes).ok()?;
  let rows: Vec<[u64; 4]> = serde_json::from_value(file.get("minutes")?.clone()).ok()?;
  let mut minutes: Counts = rows
    .into_iter()
    .filter(|[m, ..]| *m <= now_minute)
    .map(|[m, c, f, x]| (m, [c, f, x]))
    .collect();
  trim(&mut minutes, now_minute);
  Some(minutes)
}

/// Every process's counts that may still fall in the last hour; unreadable files are skipped.
fn read_files(f: &Folder, now_minute: u64) -> Vec<(String, Counts)> {
  let hour_ago = now_ms() - (MINUTES * 60_000) as f64;
  let entries = f
    .for_each_entry(ACTIVITY, |e| {
      e.kind == Kind::File && e.name.ends_with(".json")
    })
    .unwrap_or_default();
  entries
    .into_iter()
    .filter_map(|e| {
      let rel = format!("{ACTIVITY}/{}", e.name);
      let meta = f.lstat(&rel).ok()?;
      // Nothing in a file last written over an hour ago is still shown; an oversized one is
      // not the store's.
      if meta.kind != Kind::File || meta.modified_ms < hour_ago || meta.size > 64 * 1024 {
        return None;
      }
      let minutes = parse(&f.read(&rel).ok()?, now_minute)?;
      Some((rel, minutes))
    })
    .collect()
}

/// Removes the activity files nobody wrote for [`KEEP`] (their processes are gone).
pub fn sweep(f: &Folder) {
  let now = now_ms();
  for e in f.entries(ACTIVITY).unwrap_or_default() {
    let rel = format!("{ACTIVITY}/{}", e.name);
    if e.kind == Kind::File
      && e.name.ends_with(".json")
      && f
        .lstat(&rel)
        .is_ok_and(|m| now - m.modified_ms > KEEP.as_millis() as f64)
    {
      let _ = f.unlink(&rel);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn counts_round_trip_and_old_minutes_fall_out() {
    let now = 29_000_000;
    let mut minutes = Counts::new();
    minutes.insert(now - 70, [5, 5, 5]);
    minutes.insert(now - 59, [1, 2, 3]);
    minutes.insert(now, [4, 0, 1]);
    let parsed = parse(serialize(&minutes).as_bytes(), now).unwrap();
    assert_eq!(
      parsed.into_iter().collect::<Vec<_>>(),
      vec![(now - 59, [1, 2, 3]), (now, [4, 0, 1])]
    );
    assert!(parse(b"{\"minutes\":[[1,2]]}", now).is_none());
  }
}
