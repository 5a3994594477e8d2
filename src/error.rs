//! One error type for the whole core, carrying a stable `code` that reaches JavaScript unchanged.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The stable codes a caller can branch on. OS failures keep their errno name (`ENOSPC`, `EIO`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
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
  /// A file in the store that cannot be parsed.
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
  /// An operating-system error, by its errno name.
  Os(&'static str),
}

impl Code {
  pub fn as_str(&self) -> &'static str {
    match self {
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
      Code::Os(name) => name,
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
  /// The system call's error this one came from.
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
      source: None,
    }
  }

  pub fn with_path(mut self, path: &Path) -> Self {
    self.path = Some(path.to_path_buf());
    self
  }

  /// Wraps an OS error, naming what was being done and to which file. A symbolic link met
  /// below the store folder (`ELOOP`: the store never follows one) is damage, `ECORRUPT`.
  pub fn io(err: &io::Error, doing: &str, path: &Path) -> Self {
    if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
      let mut e = StoreError::corrupt(
        path,
        "it is, or lies behind, a symbolic link; the store never follows links below its folder",
      );
      e.source = Some(Arc::new(io::Error::from_raw_os_error(
        rustix::io::Errno::LOOP.raw_os_error(),
      )));
      return e;
    }
    let name = errno_name(err);
    StoreError {
      code: Code::Os(name),
      message: format!("{name}: {doing} failed for '{}': {err}", path.display()),
      path: Some(path.to_path_buf()),
      errno: err.raw_os_error(),
      source: err
        .raw_os_error()
        .map(io::Error::from_raw_os_error)
        .or_else(|| Some(io::Error::new(err.kind(), err.to_string())))
        .map(Arc::new),
    }
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

  /// Whether the OS refused access (permissions), as for an unreadable record.
  pub fn is_access_denied(&self) -> bool {
    self
      .source
      .as_ref()
      .is_some_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
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

  pub fn is_not_found(&self) -> bool {
    self.code == Code::Os("ENOENT") || self.code == Code::NoJob
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

/// The errno name of an OS error. The numbers are Linux's; elsewhere the error's kind decides.
fn errno_name(err: &io::Error) -> &'static str {
  #[cfg(target_os = "linux")]
  if let Some(errno) = err.raw_os_error() {
    return match errno {
      1 => "EPERM",
      2 => "ENOENT",
      5 => "EIO",
      9 => "EBADF",
      11 => "EAGAIN",
      12 => "ENOMEM",
      13 => "EACCES",
      16 => "EBUSY",
      17 => "EEXIST",
      18 => "EXDEV",
      20 => "ENOTDIR",
      21 => "EISDIR",
      22 => "EINVAL",
      23 => "ENFILE",
      24 => "EMFILE",
      27 => "EFBIG",
      28 => "ENOSPC",
      30 => "EROFS",
      31 => "EMLINK",
      36 => "ENAMETOOLONG",
      37 => "ENOLCK",
      39 => "ENOTEMPTY",
      40 => "ELOOP",
      116 => "ESTALE",
      122 => "EDQUOT",
      _ => "EIO",
    };
  }
  use io::ErrorKind as K;
  match err.kind() {
    K::NotFound => "ENOENT",
    K::PermissionDenied => "EACCES",
    K::AlreadyExists => "EEXIST",
    K::WouldBlock => "EAGAIN",
    K::InvalidInput => "EINVAL",
    K::StorageFull => "ENOSPC",
    K::ReadOnlyFilesystem => "EROFS",
    K::NotADirectory => "ENOTDIR",
    K::IsADirectory => "EISDIR",
    K::DirectoryNotEmpty => "ENOTEMPTY",
    K::CrossesDevices => "EXDEV",
    K::StaleNetworkFileHandle => "ESTALE",
    K::QuotaExceeded => "EDQUOT",
    K::FileTooLarge => "EFBIG",
    K::InvalidFilename => "ENAMETOOLONG",
    K::ResourceBusy => "EBUSY",
    K::OutOfMemory => "ENOMEM",
    _ => "EIO",
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn io_errors_keep_their_errno_name_and_path() {
    let err = io::Error::from_raw_os_error(28);
    let e = StoreError::io(&err, "write", Path::new("/x/state.json"));
    assert_eq!(e.code.as_str(), "ENOSPC");
    assert_eq!(e.errno, Some(28));
    assert!(e.message.contains("/x/state.json"), "{}", e.message);
  }
}
