//! The benchmark's floor: the bare system calls that one job's life needs in fs-job-store's
//! folder layout, with the same fsyncs when durable, and nothing else (no JSON parsing, no
//! checks, no threads). The store is measured against this.
//!
//! ```text
//! floor create --dir D --n N [--durable]      time N creates, one at a time
//! floor seed   --dir D --n N [--notify]       make N pending jobs fast (no fsync), untimed use;
//!                                             with --notify: N fulfilled jobs with one waiting target
//! floor drain  --dir D [--n N] [--durable]    lock, read, fulfil and unlink N pending jobs (all if no --n)
//! floor notify --dir D [--n N] [--durable]    lock, read, unqueue and unlink N waiting markers
//! ```
//!
//! Each command prints one line: `FLOOR {json}` with `secs` (the whole timed loop),
//! `first_secs` (the first job, which for drain/notify includes listing the folder) and
//! `rest_secs` (every job after the first), and `user_us` / `sys_us`, the process's CPU time in
//! user space and in the kernel over the timed loop (getrusage).
//!
//! One job's life, as the store must do it at least:
//! - create: mkdir `tmp/<t>`, write `tmp/<t>/state.json`, [fsync file, fsync `tmp/<t>`],
//!   rename to `jobs/<id>`, [fsync `jobs/`], symlink `pending/<id>` -> `../jobs/<id>`, [fsync `pending/`].
//! - drain: open+flock `jobs/<id>/work.lock`, read `state.json`, write `value` and `state.json`
//!   through `tmp/` + rename [each file fsynced, then `jobs/<id>/` fsynced], unlink
//!   `pending/<id>`, [fsync `pending/`], close (unlocks).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Args {
  cmd: String,
  dir: PathBuf,
  n: Option<usize>,
  durable: bool,
  notify: bool,
  /// Jobs are spread over this many priorities (see `with_priority`).
  priorities: usize,
}

fn parse_args() -> Args {
  let mut it = std::env::args().skip(1);
  let cmd = it.next().unwrap_or_else(|| usage("missing command"));
  let mut args = Args {
    cmd,
    dir: PathBuf::new(),
    n: None,
    durable: false,
    notify: false,
    priorities: 1,
  };
  while let Some(flag) = it.next() {
    match flag.as_str() {
      "--dir" => args.dir = PathBuf::from(it.next().unwrap_or_else(|| usage("--dir needs a path"))),
      "--n" => {
        let v = it.next().unwrap_or_else(|| usage("--n needs a number"));
        args.n = Some(v.parse().unwrap_or_else(|_| usage("--n needs a number")));
      }
      "--durable" => args.durable = true,
      "--notify" => args.notify = true,
      "--priorities" => {
        let v = it.next().unwrap_or_else(|| usage("--priorities needs a number"));
        args.priorities = v.parse().unwrap_or_else(|_| usage("--priorities needs a number"));
      }
      other => usage(&format!("unknown argument {other}")),
    }
  }
  if args.dir.as_os_str().is_empty() {
    usage("--dir is required");
  }
  args
}

fn usage(why: &str) -> ! {
  eprintln!("floor: {why}\nusage: floor create|seed|drain|notify --dir D [--n N] [--durable] [--notify] [--priorities K]");
  exit(2)
}

/// The store folder and the directory handles kept open for fsync.
struct Store {
  jobs: PathBuf,
  pending: PathBuf,
  waiting: PathBuf,
  tmp: PathBuf,
  jobs_fd: File,
  pending_fd: File,
  waiting_fd: File,
  durable: bool,
  tmp_seq: u64,
  pid: u32,
}

impl Store {
  fn open(root: &Path, durable: bool) -> std::io::Result<Store> {
    let sub = |name: &str| -> std::io::Result<PathBuf> {
      let p = root.join(name);
      fs::create_dir_all(&p)?;
      Ok(p)
    };
    let (jobs, pending, waiting, tmp) = (sub("jobs")?, sub("pending")?, sub("waiting")?, sub("tmp")?);
    Ok(Store {
      jobs_fd: File::open(&jobs)?,
      pending_fd: File::open(&pending)?,
      waiting_fd: File::open(&waiting)?,
      jobs,
      pending,
      waiting,
      tmp,
      durable,
      tmp_seq: 0,
      pid: std::process::id(),
    })
  }

  fn temp_name(&mut self) -> PathBuf {
    self.tmp_seq += 1;
    self.tmp.join(format!("floor-{}-{}", self.pid, self.tmp_seq))
  }

  /// Creates `path` with `bytes`, fsynced when durable.
  fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    if self.durable {
      f.sync_all()?;
    }
    Ok(())
  }

  fn sync_dir_path(&self, dir: &Path) -> std::io::Result<()> {
    if self.durable {
      File::open(dir)?.sync_all()?;
    }
    Ok(())
  }

  fn sync_fd(&self, fd: &File) -> std::io::Result<()> {
    if self.durable {
      fd.sync_all()?;
    }
    Ok(())
  }

  /// One create: the job folder is filled under a temporary name, renamed into `jobs/`, then
  /// marked pending.
  fn create(&mut self, id: &str, state: &[u8]) -> std::io::Result<()> {
    let tmp = self.temp_name();
    fs::create_dir(&tmp)?;
    self.write_new(&tmp.join("state.json"), state)?;
    self.sync_dir_path(&tmp)?;
    fs::rename(&tmp, self.jobs.join(id))?;
    self.sync_fd(&self.jobs_fd)?;
    symlink(Path::new("../jobs").join(id), self.pending.join(id))?;
    self.sync_fd(&self.pending_fd)
  }

  /// Replaces `target` through a temporary file.
  fn replace(&mut self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = self.temp_name();
    self.write_new(&tmp, bytes)?;
    fs::rename(&tmp, target)
  }

  /// One pull + fulfil + release. Returns false when someone else holds the job.
  fn drain_one(&mut self, id: &str) -> std::io::Result<bool> {
    let job = self.jobs.join(id);
    let lock = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(job.join("work.lock"))?;
    if lock.try_lock().is_err() {
      return Ok(false);
    }
    let state = read(&job.join("state.json"))?;
    let fulfilled = replace_bytes(&state, b"\"state\":1", b"\"state\":2");
    self.replace(&job.join("value"), b"done")?;
    self.replace(&job.join("state.json"), &fulfilled)?;
    self.sync_dir_path(&job)?;
    fs::remove_file(self.pending.join(id))?;
    self.sync_fd(&self.pending_fd)?;
    drop(lock);
    Ok(true)
  }

  /// One pull of a notification + done: the waiting target is removed and the marker unlinked.
  fn notify_one(&mut self, id: &str) -> std::io::Result<bool> {
    let job = self.jobs.join(id);
    let lock = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(job.join("notify.lock"))?;
    if lock.try_lock().is_err() {
      return Ok(false);
    }
    let state = read(&job.join("state.json"))?;
    let _value = read(&job.join("value"))?;
    let done = replace_bytes(&state, b"\"waiting\":[\"t\"]", b"\"waiting\":[]");
    self.replace(&job.join("state.json"), &done)?;
    self.sync_dir_path(&job)?;
    fs::remove_file(self.waiting.join(id))?;
    self.sync_fd(&self.waiting_fd)?;
    drop(lock);
    Ok(true)
  }

  /// A fulfilled job with one waiting target, as the store leaves it after create, queue and
  /// fulfil. Seeding only: no fsync.
  fn seed_notification(&mut self, id: &str, i: usize) -> std::io::Result<()> {
    let tmp = self.temp_name();
    fs::create_dir(&tmp)?;
    let state = format!("{{\"version\":0,\"state\":2,\"waiting\":[\"t\"],\"request\":{{\"i\":{i}}}}}");
    self.write_new(&tmp.join("state.json"), state.as_bytes())?;
    self.write_new(&tmp.join("value"), b"done")?;
    fs::rename(&tmp, self.jobs.join(id))?;
    symlink(Path::new("../jobs").join(id), self.waiting.join(id))
  }
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
  let mut bytes = Vec::with_capacity(256);
  File::open(path)?.read_to_end(&mut bytes)?;
  Ok(bytes)
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
  match hay.windows(from.len()).position(|w| w == from) {
    Some(at) => [&hay[..at], to, &hay[at + from.len()..]].concat(),
    None => hay.to_vec(),
  }
}

/// Job `i` of `k` priorities spread around 0 (k = 3: 1, 0, -1), named as fs-job-store names a
/// job of that priority, so that names sort by priority first.
fn with_priority(id: &str, i: usize, k: usize) -> String {
  let priority = (k / 2) as i64 - i as i64;
  let rest = id.strip_prefix("job-").unwrap_or(id);
  match priority {
    0 => id.to_owned(),
    p if p > 0 => format!("job-+{}-{rest}", 9 - p.min(9)),
    p => format!("job-~{}-{rest}", (-p).min(9)),
  }
}

/// Names that sort by creation and never collide between runs or processes.
fn id_maker() -> impl FnMut(usize) -> String {
  let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
  let pid = std::process::id();
  move |i| format!("job-{start:016x}-{pid:06x}-{i:08x}")
}

fn list(dir: &Path) -> std::io::Result<Vec<String>> {
  let mut ids = Vec::new();
  for entry in fs::read_dir(dir)? {
    if let Ok(name) = entry?.file_name().into_string() {
      if name.starts_with("job-") && !name.ends_with(".lock") {
        ids.push(name);
      }
    }
  }
  Ok(ids)
}

struct Timing {
  n: usize,
  secs: f64,
  first_secs: f64,
  rest_secs: f64,
  /// CPU time of the whole process over the timed loop, in µs: user space and kernel.
  user_us: f64,
  sys_us: f64,
}

/// `struct rusage` of Linux and macOS on 64-bit targets: two timevals, then fourteen longs.
#[repr(C)]
#[derive(Default)]
struct Rusage {
  utime: [i64; 2],
  stime: [i64; 2],
  rest: [i64; 14],
}

extern "C" {
  fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// This process's user and system CPU time so far, in µs.
fn cpu_us() -> (f64, f64) {
  let mut usage = Rusage::default();
  // RUSAGE_SELF is 0: every thread of the process.
  unsafe { getrusage(0, &mut usage) };
  let us = |tv: [i64; 2]| tv[0] as f64 * 1e6 + tv[1] as f64;
  (us(usage.utime), us(usage.stime))
}

/// Runs `one(i)` for i in 0..n, timing the first call apart from the rest.
fn timed(n: usize, mut one: impl FnMut(usize) -> std::io::Result<bool>) -> std::io::Result<Timing> {
  let started = Instant::now();
  let (user0, sys0) = cpu_us();
  let mut first_secs = 0.0;
  let mut done = 0;
  for i in 0..n {
    if one(i)? {
      done += 1;
    }
    if i == 0 {
      first_secs = started.elapsed().as_secs_f64();
    }
  }
  let secs = started.elapsed().as_secs_f64();
  let (user1, sys1) = cpu_us();
  Ok(Timing { n: done, secs, first_secs, rest_secs: secs - first_secs, user_us: user1 - user0, sys_us: sys1 - sys0 })
}

fn run(args: &Args) -> std::io::Result<Timing> {
  let durable = args.durable && args.cmd != "seed";
  let mut store = Store::open(&args.dir, durable)?;
  let mut next_id = id_maker();
  match args.cmd.as_str() {
    "create" | "seed" if !args.notify => {
      let n = args.n.unwrap_or_else(|| usage("--n is required"));
      let k = args.priorities.max(1);
      timed(n, |i| {
        let state = format!("{{\"version\":0,\"state\":1,\"waiting\":[],\"request\":{{\"i\":{i}}}}}");
        store.create(&with_priority(&next_id(i), i % k, k), state.as_bytes()).map(|()| true)
      })
    }
    "seed" => {
      let n = args.n.unwrap_or_else(|| usage("--n is required"));
      timed(n, |i| store.seed_notification(&next_id(i), i).map(|()| true))
    }
    "drain" | "notify" => {
      let notify = args.cmd == "notify";
      // Listing is part of the first job's time, as a fresh worker has to list before it can pull.
      let started = Instant::now();
      let dir = if notify { store.waiting.clone() } else { store.pending.clone() };
      let ids = list(&dir)?;
      let listed = started.elapsed().as_secs_f64();
      let n = args.n.unwrap_or(ids.len()).min(ids.len());
      let mut t = timed(n, |i| if notify { store.notify_one(&ids[i]) } else { store.drain_one(&ids[i]) })?;
      t.secs += listed;
      t.first_secs += listed;
      Ok(t)
    }
    other => usage(&format!("unknown command {other}")),
  }
}

fn main() {
  let args = parse_args();
  match run(&args) {
    Ok(t) => println!(
      "FLOOR {{\"cmd\":\"{}\",\"n\":{},\"durable\":{},\"secs\":{:.9},\"first_secs\":{:.9},\"rest_secs\":{:.9},\"user_us\":{:.0},\"sys_us\":{:.0}}}",
      args.cmd,
      t.n,
      args.durable && args.cmd != "seed",
      t.secs,
      t.first_secs,
      t.rest_secs,
      t.user_us,
      t.sys_us
    ),
    Err(e) => {
      eprintln!("floor {}: {e}", args.cmd);
      exit(1);
    }
  }
}
