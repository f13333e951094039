//! Making sled's writes durable: sled's own flush, then `fdatasync` of sled's files.
//!
//! sled 0.34's flush writes its log buffers with `pwrite` and, on Linux, waits for them with
//! `sync_file_range`. That call starts and waits for write-back to the device but sends no
//! cache flush, so acknowledged data can still sit in a drive's volatile write cache. It also
//! writes nothing for file size or other metadata. After each flush this module therefore calls
//! `fdatasync` on sled's segment file `db` and on any new file under `blobs/`, where sled
//! 0.34 writes values too large for a segment (it writes them with `write_all` and never syncs
//! them). New blob files also need an `fsync` of the `blobs` directory for their names to
//! survive.
//!
//! NOTE: this makes everything written before the flush durable, but crash consistency still
//! rests on sled's recovery of its own segment log and page table, which this module cannot
//! check. Files sled writes on its own schedule are left to sled: `conf`, written once when the
//! database is created, and the `snap.*` page-table snapshots, which sled syncs itself.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::error::StoreError;

/// Flushes sled and, when enabled, syncs its files to stable storage.
#[derive(Clone)]
pub(crate) struct Durability {
    /// `None` for a store kept in memory, which has nothing to flush.
    db: Option<sled::Db>,
    /// `None` when `fsync` is off: then only sled's flush runs.
    files: Option<Arc<SledFiles>>,
}

/// The sled files that `fdatasync` is called on.
struct SledFiles {
    segment_path: PathBuf,
    segment_file: File,
    blobs_dir: PathBuf,
    /// Names of blob files already synced, pruned when sled deletes them.
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Durability {
    /// Prepares syncing of the database opened from `dir`, opening its segment file once.
    pub(crate) fn open(db: sled::Db, dir: &Path, fsync: bool) -> Result<Self, StoreError> {
        let files = if fsync {
            Some(Arc::new(SledFiles::open(dir)?))
        } else {
            None
        };
        Ok(Durability {
            db: Some(db),
            files,
        })
    }

    /// Returns the durability of a store kept in memory: [`Durability::persist`] does nothing.
    pub(crate) fn in_memory() -> Self {
        Durability {
            db: None,
            files: None,
        }
    }

    /// Makes every write made so far durable: sled's flush, then `fdatasync` when enabled.
    ///
    /// Cancel safety: dropping the future leaves writes made but maybe not durable, like any
    /// write before a flush.
    pub(crate) async fn persist(&self) -> Result<(), StoreError> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        db.flush_async().await?;
        if let Some(files) = &self.files {
            let files = Arc::clone(files);
            tokio::task::spawn_blocking(move || files.sync()).await??;
        }
        Ok(())
    }
}

impl SledFiles {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        let segment_path = dir.join("db");
        let segment_file = File::open(&segment_path).map_err(|error| StoreError::Sync {
            path: segment_path.clone(),
            error,
        })?;

        // sled created `db` and `conf` when it opened, so make their directory entries durable.
        sync_directory(dir)?;

        Ok(SledFiles {
            segment_path,
            segment_file,
            blobs_dir: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.segment_file
            .sync_data()
            .map_err(|error| StoreError::Sync {
                path: self.segment_path.clone(),
                error,
            })?;
        self.sync_new_blobs()
    }

    /// Syncs blob files not synced before, then the `blobs` directory if any was new.
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let present = list_files(&self.blobs_dir)?;
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        synced.retain(|name| present.contains(name));

        let mut any_new = false;
        for name in present {
            if synced.contains(&name) {
                continue;
            }
            sync_file(&self.blobs_dir.join(&name))?;
            synced.insert(name);
            any_new = true;
        }

        if any_new {
            sync_directory(&self.blobs_dir)?;
        }
        Ok(())
    }
}

/// Lists the file names in `dir`. A missing directory has none.
fn list_files(dir: &Path) -> Result<HashSet<OsString>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => return Err(sync_error(dir, source)),
    };
    let mut names = HashSet::new();
    for entry in entries {
        let entry = entry.map_err(|source| sync_error(dir, source))?;
        names.insert(entry.file_name());
    }
    Ok(names)
}

/// Syncs one file's data. A file that sled deleted meanwhile is skipped.
fn sync_file(path: &Path) -> Result<(), StoreError> {
    match File::open(path) {
        Ok(file) => file.sync_data().map_err(|source| sync_error(path, source)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(sync_error(path, source)),
    }
}

fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| sync_error(dir, source))
}

fn sync_error(path: &Path, error: io::Error) -> StoreError {
    StoreError::Sync {
        path: path.to_path_buf(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn persist_syncs_new_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let durability = Durability::open(db.clone(), dir.path(), true).unwrap();

        // sled 0.34 stores a value this large in its own file under `blobs/`.
        db.insert(b"large", vec![7u8; 1 << 20]).unwrap();
        durability.persist().await.unwrap();

        let blobs = list_files(&dir.path().join("blobs")).unwrap();
        assert!(!blobs.is_empty(), "expected sled to write a blob file");
        let files = durability.files.as_ref().unwrap();
        let synced = files.synced_blobs.lock().unwrap().clone();
        assert_eq!(synced, blobs);
    }

    #[tokio::test]
    async fn persist_without_fsync_only_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let durability = Durability::open(db.clone(), dir.path(), false).unwrap();

        db.insert(b"key", b"value").unwrap();
        durability.persist().await.unwrap();

        assert!(durability.files.is_none());
        assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"value"[..]));
    }
}
