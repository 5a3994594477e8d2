//! Reading and writing one job's files: its state lock, its record (`state.json`), its value,
//! and its markers' links. Every write goes through `durable`; every path through `folder`,
//! which never follows a link below the store folder. A write that fails because someone
//! removed one of the store's sub-folders while it was open re-makes it and tries once more.

use std::io;
use std::os::fd::OwnedFd;

use crate::durable::{self, Durability};
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Folder, Kind};
use crate::layout::{Layout, LockKind, TMP};
use crate::lock::{Create, FileLock};
use crate::state::JobState;
use crate::store::Store;

/// A record's file kept open, and the bytes read from it.
pub(crate) type KeptRecord = (std::fs::File, Vec<u8>);

impl Store {
  pub(crate) fn lock_state(&self, f: &Folder, id: &str) -> Result<FileLock> {
    FileLock::lock_bounded(
      f,
      &Layout::lock_file(id, LockKind::State),
      self.options.lock_wait,
      Create::Yes,
    )
    .map_err(|e| {
      if e.is_not_found() {
        StoreError::no_job(id)
      } else {
        e
      }
    })
  }

  /// [`Store::lock_state`] for the holder of `claim`: a job gone from under its claim is the
  /// claim lost (`ECOMPROMISED`), not an unknown job.
  pub(crate) fn lock_state_claimed(&self, f: &Folder, id: &str, claim: u64) -> Result<FileLock> {
    self.lock_state(f, id).map_err(|e| {
      if e.code == Code::NoJob {
        self.claims.check_token(claim, id).err().unwrap_or(e)
      } else {
        e
      }
    })
  }

  /// The record of the job `claim` holds: the one its pull read, unless someone replaced it
  /// since (queued a target, say), else read again. Under the job's state lock.
  pub(crate) fn read_state_claimed(&self, f: &Folder, id: &str, claim: u64) -> Result<JobState> {
    match self
      .claims
      .take_unchanged_record(claim)
      .map(|bytes| JobState::parse(&bytes))
    {
      Some(Ok(state)) => Ok(state),
      _ => self.read_state(f, id),
    }
  }

  pub(crate) fn read_state(&self, f: &Folder, id: &str) -> Result<JobState> {
    self.read_state_kept(f, id).map(|(state, _)| state)
  }

  /// [`Store::read_state`], with the record's file still open and the bytes read from it (see
  /// [`Claims::keep_record`](crate::claims::Claims::keep_record)).
  pub(crate) fn read_state_kept(
    &self,
    f: &Folder,
    id: &str,
  ) -> Result<(JobState, Option<KeptRecord>)> {
    let rel = Layout::state_file(id);
    let path = f.full(&rel);
    let (bytes, file) = match f.read_small_kept(&rel) {
      Ok(read) => read,
      Err(e) if e.kind() == io::ErrorKind::NotFound => {
        return Err(match f.lstat(&Layout::job_dir(id)) {
          Ok(meta) if meta.kind == Kind::Folder => {
            StoreError::corrupt(&path, "the job folder has no state.json")
          }
          Ok(_) => StoreError::corrupt(
            &f.full(&Layout::job_dir(id)),
            "it is not a folder (a link or a file); the store never follows links below its folder",
          ),
          Err(_) => StoreError::no_job(id),
        });
      }
      // Something that is not a readable file where the record should be.
      Err(e)
        if matches!(
          e.kind(),
          io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory | io::ErrorKind::InvalidInput
        ) =>
      {
        return Err(StoreError::corrupt(
          &path,
          format!("it cannot be read as a file: {e}"),
        ))
      }
      Err(e) => return Err(StoreError::io(&e, Op::Read, &path)),
    };
    match JobState::parse(&bytes) {
      Ok(state) => Ok((state, Some((file, bytes)))),
      Err(_) => {
        // Read to its end before calling it damaged (see `read_small`).
        let whole = f
          .read(&rel)
          .map_err(|e| StoreError::io(&e, Op::Read, &path))?;
        let state = JobState::parse(&whole).map_err(|why| StoreError::corrupt(&path, why))?;
        Ok((state, None))
      }
    }
  }

  pub(crate) fn read_value(&self, f: &Folder, id: &str) -> Result<Vec<u8>> {
    let rel = Layout::value_file(id);
    f.read(&rel).map_err(|e| {
      if e.kind() == io::ErrorKind::NotFound {
        StoreError::corrupt(&f.full(&rel), "the job is fulfilled but has no value file")
      } else {
        StoreError::io(&e, Op::Read, &f.full(&rel))
      }
    })
  }

  pub(crate) fn write_state(&self, f: &Folder, id: &str, state: &JobState) -> Result<()> {
    self.replace(f, &Layout::state_file(id), state.to_json().as_bytes())?;
    durable::sync_dir(f, &Layout::job_dir(id), self.durability())
  }

  /// Makes the marker `link` for job `id`; `true` when it was made now, `false` when it was
  /// there already.
  pub(crate) fn make_link(&self, f: &Folder, link: &str, id: &str) -> Result<bool> {
    match self.with_folders(f, || f.symlink(&Layout::link_target(id), link)) {
      Ok(()) => Ok(true),
      Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
      Err(e) => Err(StoreError::io(&e, Op::MakeMarker, &f.full(link))),
    }
  }

  /// Runs `op`, and once more after re-making the store's sub-folders if it failed for want of
  /// one (someone removed `pending/` or `tmp/` while the store was open).
  pub(crate) fn with_folders<T>(
    &self,
    f: &Folder,
    op: impl Fn() -> io::Result<T>,
  ) -> io::Result<T> {
    match op() {
      Err(e) if e.kind() == io::ErrorKind::NotFound => {
        // The kept sub-folder descriptors may name folders removed since.
        f.forget_subs();
        if self.layout.make_folders(f).is_err() {
          return Err(e);
        }
        self.syncs.reopen();
        op()
      }
      done => done,
    }
  }

  /// Replaces the file `name` of job `id`, whose folder is open as `dir`, like [`Store::replace`].
  pub(crate) fn replace_in(
    &self,
    f: &Folder,
    dir: &OwnedFd,
    id: &str,
    name: &str,
    bytes: &[u8],
  ) -> Result<()> {
    let shown = format!("{}/{name}", Layout::job_dir(id));
    self.with_tmp(f, || {
      durable::replace_file_in(
        f,
        &Layout::temp_path(),
        dir,
        name,
        &shown,
        bytes,
        self.durability(),
      )
    })
  }

  /// Replaces `target` atomically with `bytes` (see `durable`), through a fresh temporary file.
  pub(crate) fn replace(&self, f: &Folder, target: &str, bytes: &[u8]) -> Result<()> {
    self.with_tmp(f, || {
      durable::replace_file(f, &Layout::temp_path(), target, bytes, self.durability())
    })
  }

  /// Like [`Store::replace`], never fsynced, whatever the store's durability.
  pub(crate) fn replace_relaxed(&self, f: &Folder, target: &str, bytes: &[u8]) -> Result<()> {
    self.with_tmp(f, || {
      durable::replace_file(f, &Layout::temp_path(), target, bytes, Durability::Relaxed)
    })
  }

  /// Runs a write through `tmp/`, once more if it failed with ENOENT: `tmp/` (or the kept
  /// descriptor of it) was gone, so look again, re-making it if missing.
  fn with_tmp(&self, f: &Folder, write: impl Fn() -> Result<()>) -> Result<()> {
    match write() {
      Err(e) if e.code == Code::Os(nix::errno::Errno::ENOENT) => {
        f.forget_subs();
        if !f.exists(TMP) {
          self.layout.make_folders(f)?;
        }
        write()
      }
      done => done,
    }
  }

  /// Removes the marker `link`; `true` when it was there.
  pub(crate) fn remove_link(&self, f: &Folder, link: &str) -> Result<bool> {
    match f.unlink(link) {
      Ok(()) => Ok(true),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
      Err(e) => Err(StoreError::io(&e, Op::RemoveMarker, &f.full(link))),
    }
  }
}
