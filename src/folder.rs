//! The store's folder as an open descriptor: every file the store touches is reached relative to
//! it, and never through a symbolic link.
//!
//! `DIR` itself is opened once, following a link if it is one (pointing `dir` at a link is
//! fine). Below it nothing is followed: on Linux each path is resolved by `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, elsewhere one `O_NOFOLLOW` step at a time. A link met
//! on the way fails with `ELOOP`, which the store reports as damage (`ECORRUPT`). The kernel
//! checks while it resolves, so there is no window between a check and the use, as an `lstat`
//! first would leave.
//!
//! Paths given to a [`Folder`] are relative, `/`-separated, and come from `layout` (validated
//! ids only), so none of them holds `..`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What a folder entry is, as seen without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
  Folder,
  File,
  Link,
  Other,
}

impl Kind {
  fn of(file_type: FileType) -> Kind {
    match file_type {
      FileType::Directory => Kind::Folder,
      FileType::RegularFile => Kind::File,
      FileType::Symlink => Kind::Link,
      _ => Kind::Other,
    }
  }
}

/// One name in a listed folder.
#[derive(Debug, Clone)]
pub struct Entry {
  pub name: String,
  pub kind: Kind,
}

/// Which file a path or handle is: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
  pub dev: u64,
  pub ino: u64,
}

/// What `lstat` tells of an entry.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
  pub identity: Identity,
  pub kind: Kind,
  /// Last modification, in milliseconds since the Unix epoch.
  pub modified_ms: f64,
  pub size: u64,
}

impl Meta {
  // The stat field widths differ across platforms (macOS's st_dev is an i32).
  #[allow(clippy::unnecessary_cast)]
  pub(crate) fn of(stat: &rustix::fs::Stat) -> Meta {
    Meta {
      identity: Identity {
        dev: stat.st_dev as u64,
        ino: stat.st_ino as u64,
      },
      kind: Kind::of(FileType::from_raw_mode(stat.st_mode as _)),
      modified_ms: stat.st_mtime as f64 * 1000.0 + (stat.st_mtime_nsec as f64 / 1e6).floor(),
      size: stat.st_size as u64,
    }
  }
}

/// What kind of filesystem a folder is on, as far as the store's speed goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
  /// In memory: nothing waits for a disk, fsync included.
  Tmpfs,
  /// A local disk filesystem known to answer in microseconds when nothing is fsynced (ext4,
  /// xfs, btrfs).
  LocalDisk,
  /// Anything else: network (NFS, SMB), FUSE, overlays, unknown.
  Other,
}

/// An open store folder. Closing it (dropping the last reference) releases its descriptor.
#[derive(Debug)]
pub struct Folder {
  root: OwnedFd,
  path: PathBuf,
  identity: Identity,
  /// Descriptors of the sub-folders (`jobs`, `pending`, …), opened once and kept, so a path
  /// below one costs no open of its parent. Dropped by [`Folder::forget_subs`] when a sub-folder
  /// is made anew, and checked against the path at each [`Folder::revalidate`].
  subs: Mutex<HashMap<String, (Arc<OwnedFd>, Identity)>>,
}

/// A folder to work relative to: the store folder, or a kept sub-folder.
enum Base {
  Root,
  Sub(Arc<OwnedFd>),
}

impl Folder {
  /// Opens the folder at `path` (which may be a link to a folder).
  pub fn open(path: &Path) -> io::Result<Folder> {
    let root = rustix::fs::open(
      path,
      OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
      Mode::empty(),
    )?;
    let identity = Meta::of(&rustix::fs::fstat(&root)?).identity;
    Ok(Folder {
      root,
      path: path.to_path_buf(),
      identity,
      subs: Mutex::default(),
    })
  }

  fn fd<'a>(&'a self, base: &'a Base) -> BorrowedFd<'a> {
    match base {
      Base::Root => self.root.as_fd(),
      Base::Sub(fd) => fd.as_fd(),
    }
  }

  /// The kept descriptor of the sub-folder `name`, opening it (without following a link) the
  /// first time.
  fn sub(&self, name: &str) -> io::Result<Arc<OwnedFd>> {
    if let Some((fd, _)) = self.subs.lock().unwrap().get(name) {
      return Ok(fd.clone());
    }
    let fd = Arc::new(rustix::fs::openat(
      &self.root,
      name,
      OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
      Mode::empty(),
    )?);
    let identity = Meta::of(&rustix::fs::fstat(&*fd)?).identity;
    self
      .subs
      .lock()
      .unwrap()
      .insert(name.to_owned(), (fd.clone(), identity));
    Ok(fd)
  }

  /// Where `rel` starts: below a kept sub-folder when it has more than one component.
  fn split<'r>(&self, rel: &'r str) -> io::Result<(Base, &'r str)> {
    match rel.split_once('/') {
      Some((first, rest)) if first != "." => Ok((Base::Sub(self.sub(first)?), rest)),
      _ => Ok((Base::Root, rel)),
    }
  }

  /// Forgets the kept sub-folder descriptors (a sub-folder was made anew).
  pub fn forget_subs(&self) {
    self.subs.lock().unwrap().clear();
  }

  /// Forgets any kept sub-folder that its path no longer names (removed, or replaced by
  /// another process): cheap, one `lstat` each; run at each pull listing.
  pub fn revalidate(&self) {
    let mut subs = self.subs.lock().unwrap();
    subs.retain(|name, (_, identity)| {
      rustix::fs::statat(&self.root, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| Meta::of(&stat).identity == *identity)
    });
  }

  /// Fails when the folder itself was removed while open (its link count fell to 0), or its
  /// filesystem can no longer say (a network filesystem gone away).
  #[allow(clippy::unnecessary_cast)]
  pub fn check_present(&self) -> io::Result<()> {
    let stat = rustix::fs::fstat(&self.root)?;
    if stat.st_nlink as u64 == 0 {
      return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    Ok(())
  }

  /// The kind of filesystem the folder is on (`statfs`).
  // f_type's width differs across architectures and libcs.
  #[allow(clippy::unnecessary_cast)]
  pub fn filesystem(&self) -> Filesystem {
    #[cfg(target_os = "linux")]
    {
      const TMPFS: i64 = 0x0102_1994;
      const EXT4: i64 = 0xEF53;
      const XFS: i64 = 0x5846_5342;
      const BTRFS: i64 = 0x9123_683E;
      match rustix::fs::fstatfs(&self.root).map(|s| s.f_type as i64) {
        Ok(TMPFS) => Filesystem::Tmpfs,
        Ok(EXT4 | XFS | BTRFS) => Filesystem::LocalDisk,
        _ => Filesystem::Other,
      }
    }
    #[cfg(not(target_os = "linux"))]
    Filesystem::Other
  }

  /// Which folder this is (device and inode): the same for every path that names it.
  pub fn identity(&self) -> Identity {
    self.identity
  }

  /// The folder's path, for messages.
  pub fn path(&self) -> &Path {
    &self.path
  }

  /// The full path of `rel`, for messages.
  pub fn full(&self, rel: &str) -> PathBuf {
    self.path.join(rel)
  }

  /// Opens `rel` below the folder without following any link on the way or at the end.
  fn open_beneath(&self, rel: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if rel == "." {
      return Ok(rustix::fs::openat(&self.root, ".", flags, mode)?);
    }
    let (base, rel) = self.split(rel)?;
    let start = self.fd(&base);
    #[cfg(target_os = "linux")]
    if let Some(opened) = openat2_beneath(start, rel, flags, mode) {
      return opened;
    }
    let mut steps = rel.split('/').peekable();
    let mut dir: Option<OwnedFd> = None;
    while let Some(step) = steps.next() {
      let base = dir.as_ref().map_or(start, |d| d.as_fd());
      let step_flags = if steps.peek().is_some() {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
      } else {
        flags
      };
      match rustix::fs::openat(base, step, step_flags, mode) {
        Ok(fd) => dir = Some(fd),
        // O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR; openat2 says ELOOP. Say what it is.
        Err(Errno::NOTDIR) if is_link(base, step) => return Err(Errno::LOOP.into()),
        Err(e) => return Err(e.into()),
      }
    }
    dir.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
  }

  /// Runs `op` on the folder that holds `rel`'s last component, with that component's name.
  fn in_parent<T>(
    &self,
    rel: &str,
    op: impl FnOnce(BorrowedFd<'_>, &str) -> rustix::io::Result<T>,
  ) -> io::Result<T> {
    let (parent, name) = self.parent_of(rel)?;
    Ok(op(self.fd(&parent), name)?)
  }

  /// A descriptor of the folder `rel` (`"."` for the store folder itself).
  pub fn open_dir(&self, rel: &str) -> io::Result<OwnedFd> {
    self.open_beneath(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
  }

  /// The whole content of the regular file `rel`.
  pub fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
    let mut file = File::from(self.open_beneath(rel, OFlags::RDONLY, Mode::empty())?);
    // Records are small: read in chunks rather than through read_to_end, which asks the size
    // first (an fstat and an lseek per file).
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    loop {
      match file.read(&mut chunk) {
        Ok(0) => return Ok(bytes),
        Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
      }
    }
  }

  /// Like [`Folder::read`], but ends at the first read that returns less than asked for instead
  /// of reading again to see the end: one system call fewer per small file. On a regular file a
  /// short read is its end everywhere the store runs; a caller that can tell a whole content
  /// (a record parses) reads again with [`Folder::read`] when it cannot.
  pub fn read_small(&self, rel: &str) -> io::Result<Vec<u8>> {
    self.read_small_kept(rel).map(|(bytes, _)| bytes)
  }

  /// [`Folder::read_small`], giving the file still open too (a claim keeps its job's record
  /// open to tell later, with one `fstat`, whether it was replaced since).
  pub fn read_small_kept(&self, rel: &str) -> io::Result<(Vec<u8>, File)> {
    let mut file = File::from(self.open_beneath(rel, OFlags::RDONLY, Mode::empty())?);
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    loop {
      match file.read(&mut chunk) {
        Ok(n) if n < chunk.len() => {
          bytes.extend_from_slice(&chunk[..n]);
          return Ok((bytes, file));
        }
        Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
      }
    }
  }

  /// Creates `rel`, which must not exist, and writes `bytes` into it; fsyncs it when `sync`.
  pub fn write_new(&self, rel: &str, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut file = File::from(self.open_beneath(
      rel,
      OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
      Mode::from_raw_mode(0o666),
    )?);
    file.write_all(bytes)?;
    if sync {
      file.sync_all()?;
    }
    Ok(())
  }

  /// Opens the lock file `rel` for locking, creating it when `create` (and missing). Opened for
  /// writing where allowed (NFS wants that for exclusive locks), else read-only.
  /// The first `max` bytes of the regular file `rel`, and its whole size: a look at a file
  /// that may be large, without reading all of it.
  pub fn read_head(&self, rel: &str, max: usize) -> io::Result<(Vec<u8>, u64)> {
    let file = File::from(self.open_beneath(rel, OFlags::RDONLY, Mode::empty())?);
    let size = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(max.min(size as usize));
    file.take(max as u64).read_to_end(&mut bytes)?;
    Ok((bytes, size))
  }

  /// Creates `rel`, which must not exist, for reading and writing.
  pub fn create_exclusive(&self, rel: &str) -> io::Result<File> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
    self
      .open_beneath(rel, flags, Mode::from_raw_mode(0o666))
      .map(File::from)
  }

  pub fn open_lock(&self, rel: &str, create: bool) -> io::Result<File> {
    let create_flag = if create {
      OFlags::CREATE
    } else {
      OFlags::empty()
    };
    // openat2 refuses a mode without O_CREAT (EINVAL).
    let mode = if create {
      Mode::from_raw_mode(0o666)
    } else {
      Mode::empty()
    };
    match self.open_beneath(rel, OFlags::RDWR | create_flag, mode) {
      Ok(fd) => Ok(File::from(fd)),
      Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::ACCESS | Errno::ROFS)) => {
        match self.open_beneath(rel, OFlags::RDONLY, Mode::empty()) {
          Ok(fd) => Ok(File::from(fd)),
          // No lock file yet and none can be made: the write error is the one that explains.
          Err(missing) if missing.kind() == io::ErrorKind::NotFound => Err(e),
          Err(other) => Err(other),
        }
      }
      Err(e) => Err(e),
    }
  }

  /// What `rel` is, without following it if it is a link.
  pub fn lstat(&self, rel: &str) -> io::Result<Meta> {
    self
      .in_parent(rel, |dir, name| {
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
      })
      .map(|stat| Meta::of(&stat))
  }

  /// Whether anything (a link included) is at `rel`.
  pub fn exists(&self, rel: &str) -> bool {
    self.lstat(rel).is_ok()
  }

  pub fn mkdir(&self, rel: &str) -> io::Result<()> {
    self.in_parent(rel, |dir, name| {
      rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o777))
    })
  }

  /// Makes the link `rel` pointing at `target` (which is never followed by the store).
  pub fn symlink(&self, target: &str, rel: &str) -> io::Result<()> {
    self.in_parent(rel, |dir, name| rustix::fs::symlinkat(target, dir, name))
  }

  /// What the link `rel` points at (read, never followed).
  pub fn read_link(&self, rel: &str) -> io::Result<String> {
    self
      .in_parent(rel, |dir, name| {
        rustix::fs::readlinkat(dir, name, Vec::new())
      })
      .map(|target| target.to_string_lossy().into_owned())
  }

  /// Removes the file or link `rel` (never what a link points at).
  pub fn unlink(&self, rel: &str) -> io::Result<()> {
    self.in_parent(rel, |dir, name| {
      rustix::fs::unlinkat(dir, name, AtFlags::empty())
    })
  }

  /// Renames `from` to `to`, both below the folder; replaces a file at `to`.
  pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
    let (from_dir, from_name) = self.parent_of(from)?;
    let (to_dir, to_name) = self.parent_of(to)?;
    Ok(rustix::fs::renameat(
      self.fd(&from_dir),
      from_name,
      self.fd(&to_dir),
      to_name,
    )?)
  }

  /// Renames `from` (below the folder) to `name` inside the open folder `dir` (a job folder
  /// the caller opened once for several writes); replaces a file there.
  pub fn rename_into(&self, from: &str, dir: &OwnedFd, name: &str) -> io::Result<()> {
    let (from_dir, from_name) = self.parent_of(from)?;
    Ok(rustix::fs::renameat(
      self.fd(&from_dir),
      from_name,
      dir,
      name,
    )?)
  }

  /// The folder holding `rel`'s last component, and that component: a kept sub-folder costs no
  /// open; a deeper folder is opened (without following links).
  fn parent_of<'a>(&self, rel: &'a str) -> io::Result<(Base, &'a str)> {
    match rel.rsplit_once('/') {
      None => Ok((Base::Root, rel)),
      Some((parent, name)) if !parent.contains('/') && parent != "." => {
        Ok((Base::Sub(self.sub(parent)?), name))
      }
      Some((parent, name)) => Ok((Base::Sub(Arc::new(self.open_dir(parent)?)), name)),
    }
  }

  /// Flushes everything written to the folder's filesystem (Linux `syncfs`): one call that
  /// makes a whole batch of new files and folders durable.
  #[cfg(target_os = "linux")]
  pub fn sync_filesystem(&self) -> io::Result<()> {
    Ok(rustix::fs::syncfs(&self.root)?)
  }

  /// fsyncs the folder `rel`, so the names changed in it are on disk.
  pub fn sync_dir(&self, rel: &str) -> io::Result<()> {
    File::from(self.open_dir(rel)?).sync_all()
  }

  /// The entries of the folder `rel` (without `.` and `..`), each with its kind as seen without
  /// following it.
  pub fn entries(&self, rel: &str) -> io::Result<Vec<Entry>> {
    self.for_each_entry(rel, |_| true)
  }

  /// Like [`Folder::entries`], keeping only the entries `keep` accepts, so a huge folder is not
  /// held in memory whole.
  pub fn for_each_entry(
    &self,
    rel: &str,
    mut keep: impl FnMut(&Entry) -> bool,
  ) -> io::Result<Vec<Entry>> {
    let mut kept = Vec::new();
    self.for_each_name(rel, true, |name, kind| {
      let entry = Entry {
        name: name.to_owned(),
        kind,
      };
      if keep(&entry) {
        kept.push(entry);
      }
    })?;
    Ok(kept)
  }

  /// Calls `each` with the name of every entry of the folder `rel`, and its kind when `kinds`
  /// (otherwise [`Kind::Other`]), allocating nothing per entry: counting a folder of 100,000
  /// names costs its listing alone.
  pub fn for_each_name(
    &self,
    rel: &str,
    kinds: bool,
    mut each: impl FnMut(&str, Kind),
  ) -> io::Result<()> {
    let fd = self.open_dir(rel)?;
    let dir_fd = rustix::io::dup(&fd)?;
    for entry in Dir::new(fd)? {
      let entry = entry?;
      let Ok(name) = entry.file_name().to_str() else {
        continue;
      };
      if name == "." || name == ".." {
        continue;
      }
      let kind = match entry.file_type() {
        _ if !kinds => Kind::Other,
        // Some filesystems do not say in the listing: ask, still without following.
        FileType::Unknown => rustix::fs::statat(&dir_fd, name, AtFlags::SYMLINK_NOFOLLOW)
          .map_or(Kind::Other, |s| {
            Kind::of(FileType::from_raw_mode(s.st_mode as _))
          }),
        known => Kind::of(known),
      };
      each(name, kind);
    }
    Ok(())
  }

  /// Deletes the folder `rel` and what it holds, never following a link (a link inside is
  /// removed, not what it points at). Only for the store's own trash in `tmp/`.
  pub fn remove_tree(&self, rel: &str) -> io::Result<()> {
    for entry in self.entries(rel)? {
      let child = format!("{rel}/{}", entry.name);
      if entry.kind == Kind::Folder {
        self.remove_tree(&child)?;
      } else {
        self.unlink(&child)?;
      }
    }
    self.in_parent(rel, |dir, name| {
      rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
    })
  }
}

fn is_link(dir: BorrowedFd<'_>, name: &str) -> bool {
  rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
    .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode as _) == FileType::Symlink)
}

/// `openat2` confined to `root` with no link followed, or `None` when the kernel lacks it (then
/// the caller walks step by step).
#[cfg(target_os = "linux")]
fn openat2_beneath(
  root: BorrowedFd<'_>,
  rel: &str,
  flags: OFlags,
  mode: Mode,
) -> Option<io::Result<OwnedFd>> {
  use std::sync::atomic::{AtomicBool, Ordering};
  static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
  // Kernels before 5.6 (and qemu-user) lack openat2; this variable makes a newer one act so,
  // for the tests of the step-by-step walk.
  static SKIPPED: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("FS_JOB_STORE_NO_OPENAT2").is_some());
  if UNAVAILABLE.load(Ordering::Relaxed) || *SKIPPED {
    return None;
  }
  use rustix::fs::ResolveFlags;
  let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
  // EAGAIN: a rename elsewhere raced the lookup; the kernel asks for a retry.
  for _ in 0..8 {
    match rustix::fs::openat2(root, rel, flags, mode, resolve) {
      Err(Errno::AGAIN) => continue,
      // Kernels before 5.6.
      Err(Errno::NOSYS) => {
        UNAVAILABLE.store(true, Ordering::Relaxed);
        return None;
      }
      done => return Some(done.map_err(io::Error::from)),
    }
  }
  None
}

/// A fresh folder for the core's tests, removed when the guard drops.
#[cfg(test)]
pub(crate) fn scratch() -> (tempfile::TempDir, Folder) {
  let dir = tempfile::tempdir().unwrap();
  let folder = Folder::open(dir.path()).unwrap();
  (dir, folder)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn is_loop(e: &io::Error) -> bool {
    Errno::from_io_error(e) == Some(Errno::LOOP)
  }

  #[test]
  fn links_below_the_folder_are_never_followed() {
    let (dir, folder) = scratch();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("state.json"), b"outside").unwrap();
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("jobs").join("job-x")).unwrap();

    assert!(is_loop(&folder.read("jobs/job-x/state.json").unwrap_err()));
    assert!(is_loop(
      &folder
        .write_new("jobs/job-x/value", b"v", false)
        .unwrap_err()
    ));
    assert!(is_loop(
      &folder.open_lock("jobs/job-x/work.lock", true).unwrap_err()
    ));
    assert_eq!(folder.lstat("jobs/job-x").unwrap().kind, Kind::Link);
    assert_eq!(
      std::fs::read_dir(outside.path()).unwrap().count(),
      1,
      "nothing was written outside"
    );
    // Removing the link removes the link only.
    folder.unlink("jobs/job-x").unwrap();
    assert!(outside.path().join("state.json").exists());
  }

  #[test]
  fn the_store_folder_itself_may_be_a_link() {
    let real = tempfile::tempdir().unwrap();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("store");
    std::os::unix::fs::symlink(real.path(), &link).unwrap();
    let folder = Folder::open(&link).unwrap();
    folder.write_new("a", b"1", false).unwrap();
    assert_eq!(std::fs::read(real.path().join("a")).unwrap(), b"1");
  }

  #[test]
  fn remove_tree_removes_links_not_their_targets() {
    let (dir, folder) = scratch();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"k").unwrap();
    std::fs::create_dir_all(dir.path().join("t/sub")).unwrap();
    std::fs::write(dir.path().join("t/sub/f"), b"").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("t/link")).unwrap();
    folder.remove_tree("t").unwrap();
    assert!(!dir.path().join("t").exists());
    assert!(outside.path().join("keep").exists());
  }

  #[test]
  fn entries_say_what_each_name_is() {
    let (dir, folder) = scratch();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("f"), b"").unwrap();
    std::os::unix::fs::symlink("d", dir.path().join("l")).unwrap();
    let mut seen: Vec<(String, Kind)> = folder
      .entries(".")
      .unwrap()
      .into_iter()
      .map(|e| (e.name, e.kind))
      .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
      seen,
      vec![
        ("d".into(), Kind::Folder),
        ("f".into(), Kind::File),
        ("l".into(), Kind::Link)
      ]
    );
  }
}
