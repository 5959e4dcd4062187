use super::*;
use crate::storage::test_logs::{all_zxids, create_entry, node_path, write_logs};
use crate::storage::txlog::HEADER_LEN;
use crate::zab::zxid::make;

fn z1(c: i64) -> i64 {
    make(1, c)
}

/// log.100000001 (1/1..=1/5), log.100000006 (1/6..=1/9), log.200000001 (2/1..=2/3).
fn all() -> Vec<i64> {
    (1..=9).map(z1).chain((1..=3).map(|c| make(2, c))).collect()
}

fn setup(dir: &Path) {
    write_logs(dir, &[&all()[..5], &all()[5..9], &all()[9..]], 64 * 1024);
}

fn entry_len(z: i64) -> u64 {
    12 + create_entry(z).len() as u64 + 1
}

fn names(dir: &Path) -> Vec<String> {
    crate::storage::list_by_zxid(dir, "log")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn keeps_exactly_the_prefix_at_every_entry() {
    let every = all();
    for (i, &z) in every.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        setup(d.path());
        let t = truncate_log(d.path(), z).unwrap();
        assert!(t.found);
        assert_eq!(t.last_kept, Some(z));
        assert_eq!(all_zxids(d.path()), every[..=i].to_vec(), "at {z:x}");
        // The cut file ends right after the entry: no padding, as Java's.
        let in_file: u64 = match i {
            0..=4 => (0..=i).map(|j| entry_len(every[j])).sum(),
            5..=8 => (5..=i).map(|j| entry_len(every[j])).sum(),
            _ => (9..=i).map(|j| entry_len(every[j])).sum(),
        };
        assert_eq!(t.length, HEADER_LEN + in_file);
        assert_eq!(std::fs::metadata(&t.cut).unwrap().len(), t.length);
        let expect_files: &[&str] = match i {
            0..=4 => &["log.100000001"],
            5..=8 => &["log.100000001", "log.100000006"],
            _ => &["log.100000001", "log.100000006", "log.200000001"],
        };
        assert_eq!(names(d.path()), expect_files);
        assert_eq!(t.removed.len(), 3 - expect_files.len());
    }
}

#[test]
fn a_zxid_in_a_gap_keeps_what_is_below_it() {
    let d = tempfile::tempdir().unwrap();
    setup(d.path());
    // The new epoch's start is never logged: the cut is after 1/9, at the file boundary.
    let t = truncate_log(d.path(), make(2, 0)).unwrap();
    assert!(!t.found);
    assert_eq!(t.last_kept, Some(z1(9)));
    assert!(t.cut.ends_with("log.100000006"));
    assert_eq!(all_zxids(d.path()), all()[..9].to_vec());
    assert_eq!(names(d.path()), ["log.100000001", "log.100000006"]);
}

#[test]
fn refuses_what_the_logs_cannot_answer_for_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        truncate_log(d.path(), 5),
        Err(TruncateError::NoLogs(_))
    ));
    setup(d.path());
    let before: Vec<Vec<u8>> = crate::storage::list_by_zxid(d.path(), "log")
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    for (z, want) in [
        (0, "the oldest log file starts at 0x100000001"),
        (make(1, 0), "the oldest log file starts at 0x100000001"),
        (make(2, 4), "the log ends at 0x200000003"),
        (make(7, 0), "the log ends at 0x200000003"),
    ] {
        let e = truncate_log(d.path(), z).unwrap_err();
        assert!(e.to_string().contains(want), "{z:x}: {e}");
    }
    let after: Vec<Vec<u8>> = crate::storage::list_by_zxid(d.path(), "log")
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_torn_tail_goes_with_the_cut_and_corruption_refuses() {
    let d = tempfile::tempdir().unwrap();
    setup(d.path());
    let last = d.path().join("log.200000001");
    let cut = HEADER_LEN + entry_len(make(2, 1)) + entry_len(make(2, 2)) + 9;
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(cut)
        .unwrap();
    assert!(matches!(
        truncate_log(d.path(), make(2, 3)),
        Err(TruncateError::BeyondLog { last: Some(l), .. }) if l == make(2, 2)
    ));
    let t = truncate_log(d.path(), make(2, 2)).unwrap();
    assert_eq!(t.length, cut - 9);
    assert_eq!(all_zxids(d.path()), all()[..11].to_vec());
    // A checksum error before the target: an error, nothing cut.
    let mid = d.path().join("log.100000006");
    let mut b = std::fs::read(&mid).unwrap();
    b[HEADER_LEN as usize + 20] ^= 1;
    std::fs::write(&mid, &b).unwrap();
    assert!(matches!(
        truncate_log(d.path(), z1(8)),
        Err(TruncateError::Log(LogError::Checksum { .. }))
    ));
    assert_eq!(std::fs::read(&mid).unwrap(), b);
    assert!(d.path().join("log.200000001").exists());
}

#[test]
fn recovery_sees_exactly_the_prefix() {
    use crate::server::settings::Settings;
    for (cut, kept) in [
        (z1(1), 1),
        (z1(5), 5),
        (z1(6), 6),
        (z1(7), 7),
        (make(2, 3), 12),
    ] {
        let d = tempfile::tempdir().unwrap();
        let v2 = crate::storage::version_dir(d.path());
        setup(&v2);
        truncate_log(&v2, cut).unwrap();
        let settings = Settings {
            data_dir: Some(d.path().to_path_buf()),
            ..Settings::default()
        };
        let (tree, r) = crate::server::startup::recover(&settings).unwrap();
        assert_eq!(r.last_zxid, cut);
        for (i, z) in all().into_iter().enumerate() {
            assert_eq!(tree.exists(&node_path(z)), i < kept, "cut {cut:x}, {z:x}");
        }
        // The next txn logs after the kept prefix and recovery reads it back.
        let next = all().get(kept).copied().unwrap_or(make(2, 4));
        let mut w = crate::storage::txlog::TxnLogWriter::open(&v2, 4096, true).unwrap();
        w.append(&create_entry(next)).unwrap();
        w.commit().unwrap();
        drop(w);
        let (tree, r) = crate::server::startup::recover(&settings).unwrap();
        assert_eq!(r.last_zxid, next);
        assert!(tree.exists(&node_path(next)));
    }
}

#[test]
fn snapshots_after_a_zxid() {
    let d = tempfile::tempdir().unwrap();
    for name in [
        "snapshot.0",
        "snapshot.100000005",
        "snapshot.100000009",
        "snapshot.200000001.gz",
        "log.100000001",
    ] {
        std::fs::write(d.path().join(name), b"x").unwrap();
    }
    let mut got: Vec<String> = snapshots_after(d.path(), z1(5))
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["snapshot.100000009", "snapshot.200000001.gz"]);
}
