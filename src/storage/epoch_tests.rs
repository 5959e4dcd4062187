use super::*;
use crate::zab::zxid::{epoch_of, make};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn put(d: &Path, name: &str, content: &[u8]) {
    std::fs::write(d.join(name), content).unwrap();
}

#[test]
fn written_as_java_writes_it() {
    let d = dir();
    write_epoch(d.path(), CURRENT_EPOCH, 4).unwrap();
    assert_eq!(std::fs::read(d.path().join(CURRENT_EPOCH)).unwrap(), b"4");
    write_epoch(d.path(), CURRENT_EPOCH, 12345678901).unwrap();
    assert_eq!(
        std::fs::read(d.path().join(CURRENT_EPOCH)).unwrap(),
        b"12345678901"
    );
    write_epoch(d.path(), ACCEPTED_EPOCH, -1).unwrap();
    assert_eq!(read_epoch(d.path(), ACCEPTED_EPOCH).unwrap(), Some(-1));
    // Nothing but the two files is left behind.
    let mut names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec![ACCEPTED_EPOCH, CURRENT_EPOCH]);
}

#[test]
fn a_stale_tmp_file_is_replaced_and_a_failed_rename_is_an_error() {
    let d = dir();
    put(d.path(), "currentEpoch.tmp", b"999");
    write_epoch(d.path(), CURRENT_EPOCH, 7).unwrap();
    assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(7));
    assert!(!d.path().join("currentEpoch.tmp").exists());
    // The target is a non-empty directory: rename fails, the old state stays, no tmp.
    std::fs::create_dir_all(d.path().join(ACCEPTED_EPOCH).join("x")).unwrap();
    let e = write_epoch(d.path(), ACCEPTED_EPOCH, 3).unwrap_err();
    assert!(e.to_string().contains("Could not rename"), "{e}");
    assert!(!d.path().join("acceptedEpoch.tmp").exists());
    // A directory that does not exist.
    assert!(write_epoch(&d.path().join("missing"), CURRENT_EPOCH, 1).is_err());
}

#[test]
fn read_accepts_what_read_long_from_file_accepts() {
    let d = dir();
    assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), None);
    let ok: &[(&[u8], i64)] = &[
        (b"4", 4),
        (b"4\n", 4),
        (b"4\r\n", 4),
        (b"17\nleftover lines are ignored", 17),
        (b"+5", 5),
        (b"-1", -1),
        (b"0", 0),
        (b"9223372036854775807", i64::MAX),
    ];
    for (content, want) in ok {
        put(d.path(), CURRENT_EPOCH, content);
        assert_eq!(
            read_epoch(d.path(), CURRENT_EPOCH).unwrap(),
            Some(*want),
            "{content:?}"
        );
    }
    let bad: &[&[u8]] = &[
        b"",
        b"\n4",
        b" 4",
        b"4 ",
        b"0x4",
        b"four",
        b"+",
        b"9223372036854775808",
        b"\xff\xfe",
        &[b'1'; 100],
    ];
    for content in bad {
        put(d.path(), CURRENT_EPOCH, content);
        let e = read_epoch(d.path(), CURRENT_EPOCH).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{content:?}");
        assert!(e.to_string().starts_with("Found "), "{e}");
    }
    // An unreadable entry (a directory) is an error, not "missing".
    std::fs::create_dir(d.path().join(ACCEPTED_EPOCH)).unwrap();
    assert!(read_epoch(d.path(), ACCEPTED_EPOCH).is_err());
}

#[test]
fn missing_files_are_derived_from_the_last_zxid_and_written() {
    let d = dir();
    let e = load_epochs(d.path(), make(3, 5)).unwrap();
    assert_eq!(
        e,
        Epochs {
            accepted: 3,
            current: 3
        }
    );
    assert_eq!(std::fs::read(d.path().join(CURRENT_EPOCH)).unwrap(), b"3");
    assert_eq!(std::fs::read(d.path().join(ACCEPTED_EPOCH)).unwrap(), b"3");
    // A brand-new member (nothing logged) starts both at 0.
    let d = dir();
    assert_eq!(
        load_epochs(d.path(), 0).unwrap(),
        Epochs {
            accepted: 0,
            current: 0
        }
    );
    // Present files win over the zxid when not older.
    let d = dir();
    put(d.path(), CURRENT_EPOCH, b"4");
    put(d.path(), ACCEPTED_EPOCH, b"5");
    assert_eq!(
        load_epochs(d.path(), make(2, 9)).unwrap(),
        Epochs {
            accepted: 5,
            current: 4
        }
    );
}

#[test]
fn stale_current_epoch_uses_the_tmp_file_or_fails() {
    let d = dir();
    put(d.path(), CURRENT_EPOCH, b"2");
    // A sync cut short before currentEpoch was written (the log has epoch 3, accepted 3):
    // start with the older current epoch (Java refuses; see load_epochs).
    put(d.path(), ACCEPTED_EPOCH, b"3");
    assert_eq!(
        load_epochs(d.path(), make(3, 1)).unwrap(),
        Epochs {
            accepted: 3,
            current: 2
        }
    );
    // The log ahead of the accepted epoch too: something is wrong; refuse as Java.
    put(d.path(), ACCEPTED_EPOCH, b"2");
    let e = load_epochs(d.path(), make(3, 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "The current epoch, 2, is older than the last zxid, {}",
            make(3, 1)
        )
    );
    // A write interrupted after the tmp file was synced: its value is taken.
    put(d.path(), ACCEPTED_EPOCH, b"3");
    put(d.path(), "currentEpoch.tmp", b"3");
    assert_eq!(
        load_epochs(d.path(), make(3, 1)).unwrap(),
        Epochs {
            accepted: 3,
            current: 3
        }
    );
    assert_eq!(std::fs::read(d.path().join(CURRENT_EPOCH)).unwrap(), b"3");
    assert!(!d.path().join("currentEpoch.tmp").exists());
}

#[test]
fn accepted_below_current_fails() {
    let d = dir();
    put(d.path(), CURRENT_EPOCH, b"11");
    put(d.path(), ACCEPTED_EPOCH, b"10");
    let e = load_epochs(d.path(), make(1, 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The accepted epoch, a is less than the current epoch, b"
    );
    // Missing acceptedEpoch with a newer currentEpoch: derived from the zxid, then refused.
    let d = dir();
    put(d.path(), CURRENT_EPOCH, b"4");
    assert!(load_epochs(d.path(), make(2, 1)).is_err());
    assert_eq!(std::fs::read(d.path().join(ACCEPTED_EPOCH)).unwrap(), b"2");
    // Garbage in a file is an error, not a default.
    let d = dir();
    put(d.path(), CURRENT_EPOCH, b"x");
    assert_eq!(
        load_epochs(d.path(), 0).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

/// One member's epoch files as the captures show them.
struct Captured {
    name: String,
    accepted: Option<Vec<u8>>,
    current: Option<Vec<u8>>,
    listing: String,
    last_logged: Option<i64>,
}

fn bytes_literal(s: &str) -> Option<Vec<u8>> {
    // b'4' as printed by Python; epochs are plain ASCII.
    let inner = s.strip_prefix("b'")?.strip_suffix('\'')?;
    Some(inner.as_bytes().to_vec())
}

fn captured() -> Vec<Captured> {
    let text = include_str!("../../testdata/quorum-captures/disk-epochs.txt");
    let mut out: Vec<Captured> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            out.push(Captured {
                name: name.to_string(),
                accepted: None,
                current: None,
                listing: String::new(),
                last_logged: None,
            });
            continue;
        }
        let Some(m) = out.last_mut() else { continue };
        if let Some(v) = line.strip_prefix("version-2/acceptedEpoch: ") {
            m.accepted = bytes_literal(v);
        } else if let Some(v) = line.strip_prefix("version-2/currentEpoch: ") {
            m.current = bytes_literal(v);
        } else if let Some(v) = line.strip_prefix("version-2: ") {
            m.listing = v.to_string();
        } else if let Some(v) = line.strip_prefix("last-logged-zxid: 0x") {
            m.last_logged = crate::zab::zxid::from_hex(v);
        }
    }
    out
}

/// The listing's size for `name` ("acceptedEpoch(1)").
fn listed_size(listing: &str, name: &str) -> Option<u64> {
    listing.split(", ").find_map(|e| {
        e.strip_prefix(name)?
            .strip_prefix('(')?
            .strip_suffix(')')?
            .parse()
            .ok()
    })
}

#[test]
fn epoch_files_of_captured_java_members() {
    let members = captured();
    assert_eq!(members.len(), 24, "3 scenarios x 4 members x 2 versions");
    let mut present = 0;
    for m in &members {
        let (Some(acc), Some(cur)) = (&m.accepted, &m.current) else {
            // Never started as a quorum member: no files, no logs.
            assert!(m.accepted.is_none() && m.current.is_none(), "{}", m.name);
            assert_eq!(m.last_logged, None, "{}", m.name);
            continue;
        };
        present += 1;
        // The listing's sizes are exactly the content: no newline.
        assert_eq!(
            listed_size(&m.listing, ACCEPTED_EPOCH),
            Some(acc.len() as u64)
        );
        assert_eq!(
            listed_size(&m.listing, CURRENT_EPOCH),
            Some(cur.len() as u64)
        );
        let d = dir();
        put(d.path(), ACCEPTED_EPOCH, acc);
        put(d.path(), CURRENT_EPOCH, cur);
        let a = read_epoch(d.path(), ACCEPTED_EPOCH).unwrap().unwrap();
        let c = read_epoch(d.path(), CURRENT_EPOCH).unwrap().unwrap();
        // What we would write for the same value is byte-identical to Java's file.
        let w = dir();
        write_epoch(w.path(), CURRENT_EPOCH, c).unwrap();
        assert_eq!(&std::fs::read(w.path().join(CURRENT_EPOCH)).unwrap(), cur);
        // Every captured member would start: the files pass loadDataBase's checks.
        let last = m.last_logged.unwrap_or(0);
        assert!(
            a >= c && c >= epoch_of(last),
            "{}: {a} {c} {last:x}",
            m.name
        );
        assert_eq!(
            load_epochs(d.path(), last).unwrap(),
            Epochs {
                accepted: a,
                current: c
            }
        );
        // Without its currentEpoch file, such a member derives the last zxid's epoch.
        std::fs::remove_file(d.path().join(CURRENT_EPOCH)).unwrap();
        assert_eq!(load_epochs(d.path(), last).unwrap().current, epoch_of(last));
    }
    assert_eq!(present, 20, "all but the 4 never-started observers");
}
