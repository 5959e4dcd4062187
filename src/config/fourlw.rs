//! Four-letter words: recognising one in the first 4 bytes of a client connection and the
//! `4lw.commands.whitelist` rules (`FourLetterCommands`).
//!
//! Owns: the list of known words, `parse_4lw`, and building the enabled set from the
//! whitelist property. Must never: produce the reply text or touch server state (that is
//! `admin`), or read from a socket.
//!
//! Wire behaviour the caller implements (`NIOServerCnxn.checkFourLetterWord`): only the
//! first 4 bytes of a fresh connection are checked. A known but disabled word is answered
//! with [`not_whitelisted_message`] and the connection closed. An enabled word runs its
//! command and closes; `stmk` first reads 8 more bytes (the trace mask, big-endian i64).
//! [`FourLetterWord::TelnetClose`] (`0xfff4fffd`, telnet's IAC IP sequence) has no
//! command: when enabled (only via `*`) the connection is closed silently (Java falls
//! through to its length check, which fails); when not enabled it gets the whitelist
//! message like any other word.

use std::collections::BTreeSet;

/// Every four-letter word Apache ZooKeeper 3.8/3.9 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourLetterWord {
    Conf,
    Cons,
    Crst,
    Dirs,
    Dump,
    Envi,
    Gtmk,
    Ruok,
    Stmk,
    Srvr,
    Srst,
    Stat,
    Wchc,
    Wchp,
    Wchs,
    Mntr,
    Isro,
    Hash,
    /// The 4 bytes `ff f4 ff fd` a telnet client sends on Ctrl-C.
    TelnetClose,
}

/// Bytes of the telnet close sequence.
pub const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

impl FourLetterWord {
    pub const ALL: [FourLetterWord; 19] = [
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srvr,
        FourLetterWord::Srst,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
        FourLetterWord::TelnetClose,
    ];

    /// The name used in the whitelist and in messages (`"telnet close"` for telnet).
    pub fn name(self) -> &'static str {
        use FourLetterWord::*;
        match self {
            Conf => "conf",
            Cons => "cons",
            Crst => "crst",
            Dirs => "dirs",
            Dump => "dump",
            Envi => "envi",
            Gtmk => "gtmk",
            Ruok => "ruok",
            Stmk => "stmk",
            Srvr => "srvr",
            Srst => "srst",
            Stat => "stat",
            Wchc => "wchc",
            Wchp => "wchp",
            Wchs => "wchs",
            Mntr => "mntr",
            Isro => "isro",
            Hash => "hash",
            TelnetClose => "telnet close",
        }
    }

    /// The 4 bytes that select this word.
    pub fn bytes(self) -> [u8; 4] {
        match self {
            FourLetterWord::TelnetClose => TELNET_CLOSE,
            w => {
                let n = w.name().as_bytes();
                [n[0], n[1], n[2], n[3]]
            }
        }
    }

    /// Look a word up by its whitelist name.
    pub fn from_name(name: &str) -> Option<FourLetterWord> {
        FourLetterWord::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// Recognise a four-letter word from the first 4 bytes of a connection (case-sensitive,
/// like Java's int comparison). `None` means: treat the bytes as a frame length.
pub fn parse_4lw(first4: [u8; 4]) -> Option<FourLetterWord> {
    FourLetterWord::ALL
        .into_iter()
        .find(|w| w.bytes() == first4)
}

/// The enabled set, built like `FourLetterCommands.isEnabled`: the comma list is split
/// and trimmed; a `*` entry enables every known word (incl. `telnet close`); `srvr` is
/// always enabled (zkServer.sh needs it) and `isro` too when read-only mode is enabled.
/// Unknown names are kept (they simply never match).
pub fn build_whitelist(list: Option<&str>, read_only_mode: bool) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    if let Some(list) = list {
        for cmd in list.split(',') {
            let cmd = cmd.trim();
            if cmd == "*" {
                set.extend(FourLetterWord::ALL.iter().map(|w| w.name().to_string()));
                break;
            }
            if !cmd.is_empty() {
                set.insert(cmd.to_string());
            }
        }
    }
    if read_only_mode {
        set.insert("isro".to_string());
    }
    set.insert("srvr".to_string());
    set
}

/// Reply to a known word that is not whitelisted (then close the connection).
pub fn not_whitelisted_message(word: FourLetterWord) -> String {
    format!(
        "{} is not executed because it is not in the whitelist.\n",
        word.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_word() {
        for w in FourLetterWord::ALL {
            assert_eq!(parse_4lw(w.bytes()), Some(w));
            assert_eq!(FourLetterWord::from_name(w.name()), Some(w));
        }
        assert_eq!(parse_4lw(*b"ruok"), Some(FourLetterWord::Ruok));
        assert_eq!(
            parse_4lw([0xff, 0xf4, 0xff, 0xfd]),
            Some(FourLetterWord::TelnetClose)
        );
        assert_eq!(parse_4lw(*b"RUOK"), None);
        assert_eq!(parse_4lw(*b"xxxx"), None);
        assert_eq!(parse_4lw([0, 0, 0, 45]), None);
    }

    #[test]
    fn whitelist_rules() {
        let d = build_whitelist(None, false);
        assert_eq!(d.iter().collect::<Vec<_>>(), vec!["srvr"]);
        assert!(build_whitelist(None, true).contains("isro"));
        let w = build_whitelist(Some(" stat , ruok,,"), false);
        assert_eq!(w.iter().collect::<Vec<_>>(), vec!["ruok", "srvr", "stat"]);
        let all = build_whitelist(Some("ruok, *"), false);
        assert_eq!(all.len(), FourLetterWord::ALL.len());
        assert!(all.contains("telnet close"));
        // case-sensitive like Java
        assert!(!build_whitelist(Some("RUOK"), false).contains("ruok"));
    }

    #[test]
    fn message_text() {
        assert_eq!(
            not_whitelisted_message(FourLetterWord::Ruok),
            "ruok is not executed because it is not in the whitelist.\n"
        );
    }
}
