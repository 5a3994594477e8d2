//! Unique keys: `create(request, { key })` makes a job only if no job holding that key is still
//! to be done (pending, delayed or claimed); otherwise it answers that job's id.
//!
//! The key is a link `keys/<key>` to the job that holds it. Creating the link is the atomic
//! decision (`symlink` fails when the name exists), and keyed creates of one key take a lock
//! (one of [`STRIPES`] lock files, chosen by the key), so that replacing a key whose job has
//! ended, or whose creator crashed before its job appeared, is never raced: under the lock, a
//! link to a job that does not exist cannot belong to a create in flight. The link is made and
//! fsynced before the job is published, and taken back if the create fails. A key is freed
//! lazily: the next create with it finds the job ended and moves the key to its own job.

use std::io;

use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::layout::{self, Layout, KEYS};
use crate::lock::{Create, FileLock};
use crate::state::JobStatus;
use crate::store::Store;

/// How many lock files keyed creates spread over; creates of keys that share one wait in turn.
const STRIPES: u64 = 64;

/// How the stripes' lock files are named: `%` then a letter, which no key's name can hold.
const LOCK_PREFIX: &str = "%lock-";

/// The longest key, in bytes.
pub const MAX_KEY: usize = 200;

/// What a keyed create found.
pub enum Holder {
  /// A job still to be done holds the key.
  Active(String),
  /// Nobody holds it (or only an ended or missing job, whose link was removed).
  Free,
}

/// The name of `key`'s link: letters, digits, `_`, `-` and `.` (not first) as they are, every
/// other byte as `%XX`, so that a person can read it and no key can name another file.
pub fn file_name(key: &str) -> Result<String> {
  if key.is_empty() || key.len() > MAX_KEY {
    return Err(StoreError::new(
      Code::InvalidArgValue,
      format!(
        "The \"options.key\" argument must be 1 to {MAX_KEY} bytes long; it is {}",
        key.len()
      ),
    ));
  }
  let mut name = String::with_capacity(key.len());
  for (i, b) in key.bytes().enumerate() {
    let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
    if plain {
      name.push(b as char);
    } else {
      name.push_str(&format!("%{b:02X}"));
    }
  }
  Ok(name)
}

/// The link of `key` (its file name), relative to the store.
pub fn link(name: &str) -> String {
  format!("{KEYS}/{name}")
}

/// The lock file keyed creates of `name` take: `%` then letters never appear in a key's name.
fn stripe(name: &str) -> String {
  let hash = layout::stable_hash(name, layout::FNV_OFFSET);
  format!("{KEYS}/{LOCK_PREFIX}{:02}", hash % STRIPES)
}

impl Store {
  /// Takes the lock of key `name` (see the module docs); held until dropped.
  pub(crate) fn lock_key(&self, f: &Folder, name: &str) -> Result<FileLock> {
    FileLock::lock_bounded(f, &stripe(name), self.options.lock_wait, Create::Yes)
  }

  /// Who holds key `name`, under its lock; a link to an ended or missing job is removed.
  /// The job `key` names (the one that holds it, or the last that did while its link stays),
  /// read without changing anything; `None` when no link names a job that exists.
  pub fn job_of_key(&self, key: &str) -> Result<Option<String>> {
    let f = self.folder()?;
    let rel = link(&file_name(key)?);
    let target = match f.read_link(&rel) {
      Ok(target) => target,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
      Err(e) => return Err(StoreError::io(&e, Op::Read, &f.full(&rel))),
    };
    let id = Layout::linked_id(&target);
    let exists = crate::layout::check_id(id).is_ok() && f.exists(&Layout::job_dir(id));
    Ok(exists.then(|| id.to_owned()))
  }

  pub(crate) fn key_holder(&self, f: &Folder, name: &str) -> Result<Holder> {
    let rel = link(name);
    let target = match f.read_link(&rel) {
      Ok(target) => target,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Holder::Free),
      Err(e) => return Err(StoreError::io(&e, Op::Read, &f.full(&rel))),
    };
    let id = Layout::linked_id(&target).to_owned();
    if crate::layout::check_id(&id).is_ok() {
      // Only a job that is gone or has ended frees its key; a record that cannot be read now
      // (a disk error) says nothing, and the create fails rather than make a second job.
      match self.read_state(f, &id) {
        Ok(state) if state.status == JobStatus::Pending => return Ok(Holder::Active(id)),
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
      }
    }
    f.unlink(&rel)
      .map_err(|e| StoreError::io(&e, Op::RemoveMarker, &f.full(&rel)))?;
    Ok(Holder::Free)
  }

  /// Gives key `name` to job `id` (which is about to be published), durably.
  pub(crate) fn take_key(&self, f: &Folder, name: &str, id: &str) -> Result<()> {
    let rel = link(name);
    f.symlink(&Layout::link_target(id), &rel)
      .map_err(|e| StoreError::io(&e, Op::MakeMarker, &f.full(&rel)))?;
    self.syncs.sync(f, KEYS, self.durability())
  }

  /// The keys held by no job (their job does not exist: a crash between taking the key and
  /// making the job): `(name, id it points at)`. A key whose job has ended is not one: the next
  /// create with it frees it. Read without locks; `check` confirms each under its lock.
  pub(crate) fn stale_keys(&self, f: &Folder) -> Result<Vec<(String, String)>> {
    let entries = match f.entries(KEYS) {
      Ok(entries) => entries,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
      Err(e) => return Err(StoreError::io(&e, Op::List, &f.full(KEYS))),
    };
    let mut stale = Vec::new();
    for entry in entries {
      if entry.name.starts_with(LOCK_PREFIX) {
        continue;
      }
      let Ok(target) = f.read_link(&link(&entry.name)) else {
        continue;
      };
      let id = Layout::linked_id(&target).to_owned();
      let exists = crate::layout::check_id(&id).is_ok() && f.exists(&Layout::job_dir(&id));
      // A create in flight owns a key for a moment before its job appears.
      let young = f.lstat(&link(&entry.name)).is_ok_and(|m| {
        crate::clock::now_ms() - m.modified_ms < crate::leftovers::GRACE.as_millis() as f64
      });
      if !exists && !young {
        stale.push((entry.name, id));
      }
    }
    Ok(stale)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn key_names_are_readable_and_cannot_escape_the_folder() {
    assert_eq!(file_name("reindex-42").unwrap(), "reindex-42");
    assert_eq!(file_name("a b/../c").unwrap(), "a%20b%2F..%2Fc");
    assert_eq!(file_name(".hidden").unwrap(), "%2Ehidden");
    assert_eq!(file_name("é").unwrap(), "%C3%A9");
    assert!(file_name("").is_err());
    assert!(file_name(&"k".repeat(MAX_KEY + 1)).is_err());
    assert!(stripe("x").starts_with("keys/%lock-"));
  }
}
