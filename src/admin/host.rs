//! Host facts some four-letter words print: data directory sizes, open file descriptors,
//! the host name and working directory.
//!
//! Owns: the blocking file-system and /proc reads behind conf, dirs, mntr and envi.
//! Must never: run on the core or on an async task directly (every function here blocks;
//! `admin::reply` calls them through `spawn_blocking`).

use super::ConfView;
use std::path::Path;

/// Sizes of `<dataDir>/version-2` and `<dataLogDir>/version-2` (conf, dirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirSizes {
    pub data: u64,
    pub log: u64,
}

impl DirSizes {
    pub fn read(c: &ConfView) -> DirSizes {
        DirSizes {
            data: dir_size(c.data_dir.as_deref()),
            log: dir_size(c.data_log_dir.as_deref()),
        }
    }
}

/// Total length of the files in `<dir>/version-2` (ZooKeeper's getDataDirSize/getLogDirSize;
/// preallocated logs count at their full length, as in Java).
fn dir_size(dir: Option<&Path>) -> u64 {
    let Some(dir) = dir else { return 0 };
    std::fs::read_dir(crate::storage::version_dir(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// (open, max) file descriptors of this process (mntr).
pub fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    };
    (open, max)
}

/// What envi prints about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub host_name: String,
    pub user_dir: String,
}

impl Environment {
    pub fn read() -> Environment {
        Environment {
            host_name: std::fs::read_to_string("/etc/hostname")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            user_dir: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }
}
