//! What interrupted writes leave behind in `tmp/`, and the sweep that deletes it on open: only
//! regular files with the names the store gives its temporary files (see
//! [`crate::layout::is_temp_name`]), once older than [`GRACE`]; never a folder, a link or a
//! foreign file. `check` reports the rest.

use std::time::Duration;

use crate::clock::now_ms;
use crate::folder::{Folder, Kind};
use crate::layout::{self, TMP};

/// Temporary files and markers younger than this may belong to an operation in progress.
pub const GRACE: Duration = Duration::from_secs(15 * 60);

/// Deletes the store's own temporary files older than [`GRACE`] from `tmp/`. Errors are
/// ignored: a file that cannot be deleted now is tried again at the next open.
pub fn sweep(f: &Folder) {
  let now = now_ms();
  let Ok(entries) = f.entries(TMP) else { return };
  for entry in entries {
    if entry.kind != Kind::File || !layout::is_temp_name(&entry.name) {
      continue;
    }
    let rel = format!("{TMP}/{}", entry.name);
    // Checked again without following: the listing's type could be stale.
    let Ok(meta) = f.lstat(&rel) else { continue };
    if meta.kind == Kind::File && now - meta.modified_ms > GRACE.as_millis() as f64 {
      let _ = f.unlink(&rel);
    }
  }
}
