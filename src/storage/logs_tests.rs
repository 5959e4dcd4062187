use super::*;
use crate::storage::test_logs::{all_zxids, create_entry, write_logs};
use crate::storage::txlog::HEADER_LEN;
use crate::zab::zxid::make;

fn z1(c: i64) -> i64 {
    make(1, c)
}

/// Three files: log.1 (1..=5), log.6 (6..=9), then epoch 2: log.200000001 (2/1..=2/3).
fn three_files(dir: &Path) {
    write_logs(
        dir,
        &[
            &[z1(1), z1(2), z1(3), z1(4), z1(5)],
            &[z1(6), z1(7), z1(8), z1(9)],
            &[make(2, 1), make(2, 2), make(2, 3)],
        ],
        4096,
    );
}

fn read_from(dir: &Path, zxid: i64) -> Vec<i64> {
    TxnLogIter::open(dir, zxid)
        .unwrap()
        .map(|e| e.unwrap().zxid)
        .collect()
}

#[test]
fn reads_from_a_zxid_across_files() {
    let d = tempfile::tempdir().unwrap();
    three_files(d.path());
    let all: Vec<i64> = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        .iter()
        .map(|&c| z1(c))
        .chain([make(2, 1), make(2, 2), make(2, 3)])
        .collect();
    assert_eq!(all_zxids(d.path()), all);
    for (i, &z) in all.iter().enumerate() {
        assert_eq!(read_from(d.path(), z), all[i..].to_vec(), "from {z:x}");
    }
    // A zxid between epochs (never logged) and past the end.
    assert_eq!(read_from(d.path(), make(2, 0)), all[9..].to_vec());
    assert_eq!(read_from(d.path(), make(2, 4)), Vec::<i64>::new());
    // Entries carry their exact logged bytes.
    let e = TxnLogIter::open(d.path(), z1(7))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        e,
        LogEntry {
            zxid: z1(7),
            data: create_entry(z1(7))
        }
    );
}

#[test]
fn file_choice_is_java_s() {
    let d = tempfile::tempdir().unwrap();
    three_files(d.path());
    let names = |z| -> Vec<i64> {
        files_from(d.path(), z)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    };
    // The newest file starting at or before the zxid, and all later ones.
    assert_eq!(names(z1(5)), vec![z1(1), z1(6), make(2, 1)]);
    assert_eq!(names(z1(6)), vec![z1(6), make(2, 1)]);
    assert_eq!(names(z1(7)), vec![z1(6), make(2, 1)]);
    assert_eq!(names(make(2, 0)), vec![z1(6), make(2, 1)]);
    assert_eq!(names(make(9, 0)), vec![make(2, 1)]);
    // Before every file: all of them.
    assert_eq!(names(0), vec![z1(1), z1(6), make(2, 1)]);
    // The storage size counts the files it reads whole, preallocation included.
    let it = TxnLogIter::open(d.path(), z1(7)).unwrap();
    let len = |n: &str| std::fs::metadata(d.path().join(n)).unwrap().len();
    assert_eq!(
        it.storage_size(),
        len("log.100000006") + len("log.200000001")
    );
    assert!(it.storage_size() >= 2 * (HEADER_LEN + 4096));
    // No directory: no files, no entries.
    assert_eq!(read_from(&d.path().join("nope"), 0), Vec::<i64>::new());
}

#[test]
fn oldest_and_last_logged() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(oldest_logged_zxid(d.path()).unwrap(), None);
    assert_eq!(last_logged_zxid(d.path()).unwrap(), None);
    three_files(d.path());
    assert_eq!(oldest_logged_zxid(d.path()).unwrap(), Some(z1(1)));
    assert_eq!(last_logged_zxid(d.path()).unwrap(), Some(make(2, 3)));
    // Purged oldest file: the next one's first entry.
    std::fs::remove_file(d.path().join("log.100000001")).unwrap();
    assert_eq!(oldest_logged_zxid(d.path()).unwrap(), Some(z1(6)));
    // A newest file left with only its header by a crash: the previous file's last entry.
    std::fs::write(
        d.path().join("log.200000004"),
        &std::fs::read(d.path().join("log.200000001")).unwrap()[..HEADER_LEN as usize],
    )
    .unwrap();
    assert_eq!(last_logged_zxid(d.path()).unwrap(), Some(make(2, 3)));
    // An empty oldest file is skipped.
    std::fs::write(d.path().join("log.1"), b"").unwrap();
    assert_eq!(oldest_logged_zxid(d.path()).unwrap(), Some(z1(6)));
}

#[test]
fn a_torn_tail_ends_its_file_cleanly() {
    let d = tempfile::tempdir().unwrap();
    three_files(d.path());
    // Cut the last file in the middle of its third entry.
    let p = d.path().join("log.200000001");
    let entry = 12 + create_entry(make(2, 1)).len() as u64 + 1;
    let cut = HEADER_LEN + 2 * entry + 5;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let mut it = TxnLogIter::open(d.path(), z1(9)).unwrap();
    let got: Vec<i64> = it.by_ref().map(|e| e.unwrap().zxid).collect();
    assert_eq!(got, vec![z1(9), make(2, 1), make(2, 2)]);
    let (path, off) = it.torn().unwrap();
    assert!(path.ends_with("log.200000001"));
    assert_eq!(off, HEADER_LEN + 2 * entry);
    // A torn entry in an older file ends that file only; Java goes on with the next.
    let p = d.path().join("log.100000001");
    let cut = HEADER_LEN + 3 * entry + 1;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(cut)
        .unwrap();
    assert_eq!(
        all_zxids(d.path()),
        vec![
            z1(1),
            z1(2),
            z1(3),
            z1(6),
            z1(7),
            z1(8),
            z1(9),
            make(2, 1),
            make(2, 2)
        ]
    );
}

#[test]
fn corruption_is_an_error_then_the_end() {
    let d = tempfile::tempdir().unwrap();
    three_files(d.path());
    let p = d.path().join("log.100000006");
    let mut b = std::fs::read(&p).unwrap();
    b[HEADER_LEN as usize + 12 + 30] ^= 0x40;
    std::fs::write(&p, &b).unwrap();
    let mut it = TxnLogIter::open(d.path(), z1(4)).unwrap();
    assert_eq!(it.next().unwrap().unwrap().zxid, z1(4));
    assert_eq!(it.next().unwrap().unwrap().zxid, z1(5));
    assert!(matches!(it.next(), Some(Err(LogError::Checksum { .. }))));
    assert!(it.next().is_none());
    // A file that is not a log at all.
    std::fs::write(
        d.path().join("log.300000001"),
        b"definitely not a txn log file",
    )
    .unwrap();
    let mut it = TxnLogIter::open(d.path(), make(3, 1)).unwrap();
    assert!(matches!(it.next(), Some(Err(LogError::BadMagic { .. }))));
    assert!(it.next().is_none());
    // An entry too short to hold a TxnHeader (valid checksum and 'B').
    let d = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read({
        write_logs(d.path(), &[&[1]], 4096);
        d.path().join("log.1")
    })
    .unwrap();
    bytes.truncate(HEADER_LEN as usize);
    bytes.extend_from_slice(&(adler2::adler32_slice(b"short") as i64).to_be_bytes());
    bytes.extend_from_slice(&5i32.to_be_bytes());
    bytes.extend_from_slice(b"shortB");
    std::fs::write(d.path().join("log.1"), &bytes).unwrap();
    assert!(matches!(
        TxnLogIter::open(d.path(), 0).unwrap().next(),
        Some(Err(LogError::ShortEntry { .. }))
    ));
    assert!(oldest_logged_zxid(d.path()).is_err());
}
