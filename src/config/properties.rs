//! A reader for the `java.util.Properties` text format, the syntax of zoo.cfg.
//!
//! Owns: splitting text into logical lines (comments `#`/`!`, blank lines, `\` line
//! continuations, `\n` `\r\n` `\r` line ends) and parsing each logical line with nom into
//! `key` / `value` exactly as `Properties.load` does: the key ends at the first unescaped
//! `=`, `:` or whitespace; whitespace around one optional `=`/`:` separator is skipped;
//! escapes `\t \n \r \f \uXXXX` are decoded and `\` before any other character yields that
//! character (so `C:\zk` reads as `C:zk`, as in Java).
//! Must never: interpret keys or values (that is `config::parse`), trim trailing
//! whitespace of values (the caller trims like QuorumPeerConfig), or panic on any input.
//!
//! Difference from Java: `Properties.load(InputStream)` decodes ISO-8859-1; we take `&str`
//! (the caller decodes UTF-8 and falls back to Latin-1 for invalid UTF-8 files).

use nom::branch::alt;
use nom::bytes::complete::{take_while, take_while_m_n, take_while1};
use nom::character::complete::{anychar, char, one_of};
use nom::combinator::{cut, eof, map, map_res, opt, value};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// One `key=value` entry with the 1-based line where its logical line starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
    /// False when the line had neither a separator nor a value (`justakey`): Java accepts
    /// it as an empty value, we let the caller warn about a probable typo.
    pub has_separator: bool,
}

/// A line that `Properties.load` would reject (only a malformed `\uXXXX` escape can be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct PropertiesError {
    pub line: usize,
    pub msg: String,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Split `text` into logical lines: `(first line number, content)` with comments and
/// blank lines removed and continuations joined.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut natural: Vec<&str> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                natural.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                natural.push(rest);
                rest = "";
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < natural.len() {
        let start = i;
        let first = natural[i].trim_start_matches(is_ws);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut line = String::new();
        let mut piece = first;
        loop {
            let trailing = piece.len() - piece.trim_end_matches('\\').len();
            if trailing % 2 == 1 {
                line.push_str(&piece[..piece.len() - 1]);
                if i >= natural.len() {
                    break; // a continuation at EOF: the backslash is dropped
                }
                piece = natural[i].trim_start_matches(is_ws);
                i += 1;
            } else {
                line.push_str(piece);
                break;
            }
        }
        out.push((start + 1, line));
    }
    out
}

/// One decoded piece of a key or value, as UTF-16 units (so `\uD83D\uDE00` pairs join).
type Units = Vec<u16>;

fn escape(i: &str) -> IResult<&str, Units> {
    preceded(
        char('\\'),
        alt((
            preceded(
                char('u'),
                cut(map_res(
                    take_while_m_n(4, 4, |c: char| c.is_ascii_hexdigit()),
                    |h| u16::from_str_radix(h, 16).map(|u| vec![u]),
                )),
            ),
            map(anychar, |c| {
                let c = match c {
                    't' => '\t',
                    'n' => '\n',
                    'r' => '\r',
                    'f' => '\x0c',
                    c => c,
                };
                c.encode_utf16(&mut [0; 2]).to_vec()
            }),
            // A lone backslash at the very end of the line (continuation at EOF).
            value(Vec::new(), eof),
        )),
    )
    .parse(i)
}

fn plain(stop: &'static str) -> impl Fn(&str) -> IResult<&str, Units> {
    move |i| {
        map(
            take_while1(|c: char| c != '\\' && !stop.contains(c)),
            |s: &str| s.encode_utf16().collect(),
        )
        .parse(i)
    }
}

fn join(pieces: Vec<Units>) -> String {
    let units: Units = pieces.into_iter().flatten().collect();
    String::from_utf16_lossy(&units)
}

fn ws(i: &str) -> IResult<&str, &str> {
    take_while(is_ws)(i)
}

/// `key [ws] [=|:] [ws] value` on one logical line (leading whitespace already removed).
fn entry(i: &str) -> IResult<&str, (String, bool, String)> {
    let (i, key) = many0(alt((escape, plain("=: \t\x0c")))).parse(i)?;
    let (i, _) = ws(i)?;
    let (i, sep) = opt(one_of("=:")).parse(i)?;
    let (i, _) = ws(i)?;
    let (i, val) = many0(alt((escape, plain("")))).parse(i)?;
    let (i, _) = eof(i)?;
    let has_sep = sep.is_some() || !val.is_empty();
    Ok((i, (join(key), has_sep, join(val))))
}

/// Parse properties text. Duplicate keys are all returned in order (last one wins in
/// Java; the caller applies that rule).
pub fn parse_properties(text: &str) -> Result<Vec<Property>, PropertiesError> {
    let mut out = Vec::new();
    for (line, content) in logical_lines(text) {
        match entry(&content) {
            Ok((_, (key, has_separator, value))) => out.push(Property {
                key,
                value,
                line,
                has_separator,
            }),
            Err(_) => {
                return Err(PropertiesError {
                    line,
                    msg: "malformed \\uxxxx encoding".to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Decode a config file's bytes: UTF-8 if valid, else ISO-8859-1 (what Java always uses).
pub fn decode_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String, usize)> {
        parse_properties(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }
    fn one(k: &str, v: &str, l: usize) -> (String, String, usize) {
        (k.to_string(), v.to_string(), l)
    }

    #[test]
    fn separators_and_whitespace() {
        assert_eq!(kv("a=1"), vec![one("a", "1", 1)]);
        assert_eq!(kv("  a = 1  "), vec![one("a", "1  ", 1)]);
        assert_eq!(kv("a:1"), vec![one("a", "1", 1)]);
        assert_eq!(kv("a 1"), vec![one("a", "1", 1)]);
        assert_eq!(kv("a\t:\t x=y"), vec![one("a", "x=y", 1)]);
        assert_eq!(kv("a==b"), vec![one("a", "=b", 1)]);
        assert_eq!(kv("a"), vec![one("a", "", 1)]);
        assert_eq!(kv("a="), vec![one("a", "", 1)]);
        assert_eq!(kv("=v"), vec![one("", "v", 1)]);
    }

    #[test]
    fn has_separator_flag() {
        let p = parse_properties("bare\nk=\nk2 v").unwrap();
        assert!(!p[0].has_separator);
        assert!(p[1].has_separator);
        assert!(p[2].has_separator);
    }

    #[test]
    fn comments_blank_lines_and_line_numbers() {
        let t = "# c\n! bang\n\n   \n  # indented\nx=1\r\ny=2\rz=3\n";
        assert_eq!(
            kv(t),
            vec![one("x", "1", 6), one("y", "2", 7), one("z", "3", 8)]
        );
        // '#' in a value or mid-line is literal
        assert_eq!(kv("a=b#c"), vec![one("a", "b#c", 1)]);
    }

    #[test]
    fn continuations() {
        assert_eq!(
            kv("a=one\\\n    two\nb=3"),
            vec![one("a", "onetwo", 1), one("b", "3", 3)]
        );
        // even number of backslashes: no continuation, one literal backslash
        assert_eq!(
            kv("a=x\\\\\nb=y"),
            vec![one("a", "x\\", 1), one("b", "y", 2)]
        );
        // a comment line does not continue
        assert_eq!(kv("#c\\\na=1"), vec![one("a", "1", 2)]);
        // continuation line starting with '#' is content
        assert_eq!(kv("a=1,\\\n #2"), vec![one("a", "1,#2", 1)]);
        // continuation at EOF
        assert_eq!(kv("a=1\\"), vec![one("a", "1", 1)]);
    }

    #[test]
    fn escapes() {
        assert_eq!(kv(r"a\ b=c\td"), vec![one("a b", "c\td", 1)]);
        assert_eq!(kv(r"k\:x=v"), vec![one("k:x", "v", 1)]);
        assert_eq!(kv(r"k=\u0041\u00e9"), vec![one("k", "Aé", 1)]);
        assert_eq!(kv(r"k=\uD83D\uDE00"), vec![one("k", "😀", 1)]);
        assert_eq!(
            kv(r"dataDir=C:\zk\data"),
            vec![one("dataDir", "C:zkdata", 1)]
        );
        let e = parse_properties("ok=1\nk=\\u12G4").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("uxxxx"));
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode_bytes(b"a=\xe9"), "a=é");
        assert_eq!(decode_bytes("a=é".as_bytes()), "a=é");
    }
}
