//! An HTTP request head as the AdminServer and the Prometheus `/metrics` endpoint get it:
//! `server::http::parse_head` on the bytes (what `read_head` hands it is everything before
//! the first blank line; any bytes here, a superset). What parses must agree with the
//! input: the method is the request line's first word, the path and every query key and
//! value are no longer than their raw text and equal to it when it has no `%`, the
//! `Authorization` value is the last such header's value, trimmed; query keys and values
//! are form-decoded (`+` is a space).
//!
//! Then the same bytes percent-encoded into a request target (every byte `%XX`, or only
//! those that need it, upper or lower case hex) must decode back to them (lossy UTF-8),
//! in the path and in a query key and value; and a parsed path goes down the
//! AdminServer's pure routing steps: the command URL prefix, `commands::lookup`, and for
//! an unknown name the JSON answer, whose escaping must give the name back.
#![no_main]

use ferrokeeper::admin::commands;
use ferrokeeper::server::http::{Head, parse_head};
use libfuzzer_sys::fuzz_target;

/// The AdminServer's default `admin.commandURL`.
const COMMAND_URL: &str = "/commands";

fuzz_target!(|data: &[u8]| {
    let parsed = parse_head(data);
    assert_eq!(parsed, parse_head(data), "parse_head is not deterministic");
    if let Ok(h) = &parsed {
        check_head(data, h);
        route(&h.path);
    }
    round_trip(data);
});

/// What `parse_head` returned agrees with the text it was given.
fn check_head(data: &[u8], h: &Head) {
    let text = std::str::from_utf8(data).expect("a head that is not UTF-8 parsed");
    let line = text.split("\r\n").next().unwrap_or("");
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 3, "request line {line:?} parsed");
    let (method, target, version) = (parts[0], parts[1], parts[2]);
    assert!(version.starts_with("HTTP/1."), "version {version:?}");
    assert!(!h.method.is_empty());
    assert_eq!(h.method, method);
    assert!(text.starts_with(&format!("{} ", h.method)));

    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    assert!(
        raw_path.starts_with('/') && h.path.starts_with('/'),
        "path {:?}",
        h.path
    );
    assert!(
        h.path.len() <= raw_path.len(),
        "path {:?} longer than {raw_path:?}",
        h.path
    );
    if !raw_path.contains('%') {
        // Then it is the input's own slice, right after "METHOD ".
        assert_eq!(h.path, raw_path);
        assert_eq!(&text[method.len() + 1..][..h.path.len()], h.path);
    }

    let raw_params: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty()).collect();
    assert_eq!(h.params.len(), raw_params.len());
    let mut total = 0;
    for ((k, v), raw) in h.params.iter().zip(&raw_params) {
        let (rk, rv) = raw.split_once('=').unwrap_or((raw, ""));
        assert!(
            k.len() <= rk.len() && v.len() <= rv.len(),
            "{k:?}={v:?} from {raw:?}"
        );
        // Query parameters are form-encoded: `+` is a space.
        if !rk.contains('%') {
            assert_eq!(*k, rk.replace('+', " "));
        }
        if !rv.contains('%') {
            assert_eq!(*v, rv.replace('+', " "));
        }
        total += k.len() + v.len();
    }
    assert!(total <= query.len());

    // The last header named Authorization (any case) wins, its value trimmed.
    let expected = text
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .last()
        .map(|(_, value)| value.trim());
    assert_eq!(h.authorization.as_deref(), expected);
    if let Some(a) = &h.authorization {
        assert!(a.len() < data.len() && a.trim() == a);
    }
}

/// `admin_http::route`'s steps that depend on the path alone.
fn route(path: &str) {
    let Some(rest) = path.strip_prefix(COMMAND_URL) else {
        return;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return;
    }
    let name = rest.strip_prefix('/').unwrap_or(rest);
    if name.is_empty() {
        return;
    }
    if let Some(command) = commands::lookup(name) {
        assert!(commands::lookup(command.primary()).is_some());
        return;
    }
    let text = commands::unknown(name).pretty();
    // { "command" : name, "error" : "Unknown command: " + name }, one entry per line:
    // an escaped name adds no line and no raw control character.
    assert_eq!(text.matches('\n').count(), 3, "{text:?}");
    assert!(!text.chars().any(|c| c < ' ' && c != '\n'), "{text:?}");
    let value = text
        .strip_prefix("{\n  \"command\" : ")
        .unwrap_or_else(|| panic!("{text:?}"));
    let (command, after) = unescape(value).unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(command, name);
    let error = after
        .strip_prefix(",\n  \"error\" : ")
        .unwrap_or_else(|| panic!("{text:?}"));
    let (error, after) = unescape(error).unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(error, format!("Unknown command: {name}"));
    assert_eq!(after, "\n}");
}

/// A JSON string literal at the start of `s`: its value and what follows it.
fn unescape(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[1 + i + 1..])),
            '\\' => out.push(match chars.next()?.1 {
                '"' => '"',
                '\\' => '\\',
                '/' => '/',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                _ => return None,
            }),
            c if c < ' ' => return None,
            c => out.push(c),
        }
    }
    None
}

/// The bytes percent-encoded in the path and the query decode back to themselves.
fn round_trip(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let enc = encode(bytes, mode);
    let head = format!("GET /{enc}?q={enc}&{enc}=x HTTP/1.1\r\nHost: localhost:8080");
    let h = parse_head(head.as_bytes()).unwrap_or_else(|e| panic!("{e:?} for {head:?}"));
    let want = String::from_utf8_lossy(bytes).into_owned();
    assert_eq!(h.method, "GET");
    assert_eq!(h.path, format!("/{want}"), "{head:?}");
    assert_eq!(
        h.params,
        vec![
            ("q".to_owned(), want.clone()),
            (want.clone(), "x".to_owned())
        ],
        "{head:?}"
    );
    assert_eq!(h.authorization, None);
}

/// `%XX` for every byte (even `mode`) or only for those a target cannot hold as they are
/// (odd); hex digits upper case or lower case by `mode`'s second bit.
fn encode(bytes: &[u8], mode: u8) -> String {
    let digits: &[u8; 16] = if mode & 2 == 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        let plain = mode & 1 == 1 && b.is_ascii_graphic() && !b"%?&=#+".contains(&b);
        if plain {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(digits[(b >> 4) as usize] as char);
            out.push(digits[(b & 15) as usize] as char);
        }
    }
    out
}
