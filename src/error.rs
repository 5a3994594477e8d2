//! One error type for the whole core, carrying a stable `code` that reaches JavaScript unchanged,
//! and the OS error it came from (see [`std::error::Error::source`]).

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;

/// The stable codes a caller can branch on. OS failures keep their errno name (`ENOSPC`, `EIO`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
  /// No job with that id exists in the store.
  NoJob,
  /// `fulfill` or `update` on a job that is no longer pending.
  AlreadyResolved,
  /// `update` with a version that is not the job's current one.
  VersionMismatch,
  /// A state lock stayed held longer than the wait bound.
  Locked,
  /// The caller's claim on a job or notification is gone.
  Compromised,
  /// An id that is not a single, safe path segment.
  InvalidId,
  /// An argument of the right type but an unusable value.
  InvalidArgValue,
  /// A file in the store that cannot be parsed, or a link where the store never follows one.
  Corrupt,
  /// `remove` of a job that is still pending.
  Pending,
  /// `remove` of a job that has targets waiting.
  Waiting,
  /// `remove` of a job that a worker or notifier holds.
  Claimed,
  /// A folder opened read-only that holds no store.
  NotStore,
  /// A write asked of a store opened with `readOnly`.
  ReadOnly,
  /// A call on a store after `close()`.
  Closed,
  /// `retry` of a job that is not failed.
  NotFailed,
  /// `runNow` of a job that is not delayed.
  NotDelayed,
  /// `result` of a job that was set aside as failed.
  Failed,
  /// A job that was cancelled: its `result`, or a fenced call of its holder after the cancel.
  Cancelled,
  /// An operating-system error.
  Os(Errno),
}

impl Code {
  /// The code's name as JavaScript sees it: `ENOJOB`, …, or the errno name (`ENOENT`).
  pub fn name(&self) -> Cow<'static, str> {
    Cow::Borrowed(match self {
      Code::NoJob => "ENOJOB",
      Code::AlreadyResolved => "EALREADYRESOLVED",
      Code::VersionMismatch => "EVERSIONMISMATCH",
      Code::Locked => "ELOCKED",
      Code::Compromised => "ECOMPROMISED",
      Code::InvalidId => "EINVALIDID",
      Code::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
      Code::Corrupt => "ECORRUPT",
      Code::Pending => "EPENDING",
      Code::Waiting => "EWAITING",
      Code::Claimed => "ECLAIMED",
      Code::NotStore => "ENOTSTORE",
      Code::ReadOnly => "EREADONLY",
      Code::Closed => "ECLOSED",
      Code::NotFailed => "ENOTFAILED",
      Code::NotDelayed => "ENOTDELAYED",
      Code::Failed => "EFAILED",
      Code::Cancelled => "ECANCELED",
      // nix's variants are named after the C constants.
      Code::Os(errno) => return Cow::Owned(format!("{errno:?}")),
    })
  }
}

/// What the store was doing when the OS refused: the words for a message, and the system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
  CreateFolder,
  OpenFolder,
  Resolve,
  Inspect,
  List,
  Lock,
  Read,
  Write,
  Rename,
  Fsync,
  MakeMarker,
  RemoveMarker,
  Delete,
}

impl Op {
  fn words(self) -> &'static str {
    match self {
      Op::CreateFolder => "create folder",
      Op::OpenFolder => "open folder",
      Op::Resolve => "resolve the path of",
      Op::Inspect => "look at",
      Op::List => "list",
      Op::Lock => "lock",
      Op::Read => "read",
      Op::Write => "write",
      Op::Rename => "rename into place",
      Op::Fsync => "fsync",
      Op::MakeMarker => "create marker",
      Op::RemoveMarker => "remove marker",
      Op::Delete => "delete",
    }
  }

  /// The system call, as Node's own errors name it in `err.syscall`.
  pub fn syscall(self) -> &'static str {
    match self {
      Op::CreateFolder => "mkdir",
      Op::OpenFolder | Op::Read | Op::Write => "open",
      Op::Resolve => "realpath",
      Op::Inspect => "lstat",
      Op::List => "scandir",
      Op::Lock => "flock",
      Op::Rename => "rename",
      Op::Fsync => "fsync",
      Op::MakeMarker => "symlink",
      Op::RemoveMarker | Op::Delete => "unlink",
    }
  }
}

/// An error from the store: a code, a message a person can act on, and the file involved if any.
#[derive(Debug, Clone)]
pub struct StoreError {
  pub code: Code,
  pub message: String,
  pub path: Option<PathBuf>,
  /// The raw OS error number, for errors that came from a system call.
  pub errno: Option<i32>,
  /// The system call that failed, where known.
  pub syscall: Option<&'static str>,
  /// For a batch that stopped part-way: the ids of the jobs it did make (the first requests).
  pub created: Option<Vec<String>>,
  /// The OS error this one came from.
  source: Option<Arc<io::Error>>,
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
  pub fn new(code: Code, message: impl Into<String>) -> Self {
    StoreError {
      code,
      message: message.into(),
      path: None,
      errno: None,
      syscall: None,
      created: None,
      source: None,
    }
  }

  pub fn with_path(mut self, path: &Path) -> Self {
    self.path = Some(path.to_path_buf());
    self
  }

  /// Wraps an OS error, naming what was being done and to which file. A symbolic link met
  /// below the store folder (`ELOOP`: the store never follows one) is damage, `ECORRUPT`.
  pub fn io(err: &io::Error, op: Op, path: &Path) -> Self {
    let errno = err
      .raw_os_error()
      .map_or_else(|| errno_of_kind(err.kind()), Errno::from_raw);
    let source = Some(Arc::new(io::Error::from_raw_os_error(errno as i32)));
    if errno == Errno::ELOOP {
      let mut e = StoreError::corrupt(
        path,
        "it is, or lies behind, a symbolic link; the store never follows links below its folder",
      );
      e.source = source;
      return e;
    }
    let code = Code::Os(errno);
    StoreError {
      message: format!(
        "{}: {} failed for '{}': {err}",
        code.name(),
        op.words(),
        path.display()
      ),
      code,
      path: Some(path.to_path_buf()),
      errno: Some(errno as i32),
      syscall: Some(op.syscall()),
      created: None,
      source,
    }
  }

  pub fn no_job(id: &str) -> Self {
    StoreError::new(
      Code::NoJob,
      format!("no job with id '{id}' in this store; check the id and the store's dir"),
    )
  }

  pub fn corrupt(path: &Path, why: impl fmt::Display) -> Self {
    StoreError::new(
      Code::Corrupt,
      format!(
        "'{}' is damaged ({why}); pulls skip this job. Restore the file, or delete the job with `fs-job-store remove DIR ID --force`; `fs-job-store check DIR` lists all damage",
        path.display()
      ),
    )
    .with_path(path)
  }

  pub fn read_only() -> Self {
    StoreError::new(
      Code::ReadOnly,
      "this store was opened with readOnly: true, which only inspects; open it without readOnly to change it",
    )
  }

  pub fn closed() -> Self {
    StoreError::new(
      Code::Closed,
      "this store was closed; open a new JobStore to use the folder again",
    )
  }

  pub fn is_not_found(&self) -> bool {
    self.code == Code::Os(Errno::ENOENT) || self.code == Code::NoJob
  }

  /// Whether the OS refused access (permissions), as for an unreadable record.
  pub fn is_access_denied(&self) -> bool {
    matches!(self.code, Code::Os(Errno::EACCES | Errno::EPERM))
  }
}

impl fmt::Display for StoreError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&self.message)
  }
}

impl std::error::Error for StoreError {
  fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    self
      .source
      .as_deref()
      .map(|e| e as &(dyn std::error::Error + 'static))
  }
}

/// The errno of an `io::Error` made from a kind alone (no system call behind it).
fn errno_of_kind(kind: io::ErrorKind) -> Errno {
  match kind {
    io::ErrorKind::NotFound => Errno::ENOENT,
    io::ErrorKind::PermissionDenied => Errno::EACCES,
    io::ErrorKind::AlreadyExists => Errno::EEXIST,
    io::ErrorKind::InvalidInput => Errno::EINVAL,
    _ => Errno::EIO,
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::error::Error;

  #[test]
  fn io_errors_keep_their_errno_name_path_syscall_and_cause() {
    let err = io::Error::from_raw_os_error(Errno::ENOSPC as i32);
    let e = StoreError::io(&err, Op::Write, Path::new("/x/state.json"));
    assert_eq!(e.code.name(), "ENOSPC");
    assert_eq!(e.errno, Some(Errno::ENOSPC as i32));
    assert_eq!(e.syscall, Some("open"));
    assert!(e.message.contains("/x/state.json"), "{}", e.message);
    let cause = e.source().expect("the OS error is kept");
    assert_eq!(
      cause.downcast_ref::<io::Error>().unwrap().raw_os_error(),
      Some(Errno::ENOSPC as i32)
    );
  }

  #[test]
  fn a_link_met_below_the_store_is_damage() {
    let err = io::Error::from_raw_os_error(Errno::ELOOP as i32);
    let e = StoreError::io(&err, Op::Read, Path::new("/s/jobs/job-1/state.json"));
    assert_eq!(e.code, Code::Corrupt);
    assert!(e.message.contains("symbolic link"));
  }
}
