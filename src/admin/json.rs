//! JSON values and the text Java's AdminServer writes for them (Jackson's
//! `ObjectMapper` with `INDENT_OUTPUT`: `DefaultPrettyPrinter`).
//!
//! Owns: a small owned JSON tree (`Json`), its pretty printing byte for byte as Jackson
//! prints it (objects one entry per line, two spaces per object level; arrays inline,
//! `[ a, b ]`; empty `{ }` and `[ ]`; `"key" : value`), and string escaping.
//! Must never: parse JSON (nothing here reads it) or know what a command means.

use std::fmt::Write as _;

/// A JSON value. Numbers are kept as their literal text, so a count prints as Java's
/// `long` does and a latency as its `double` (see `Json::float`).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number's literal text (made by `int` / `float`, always valid JSON).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// Entries in order (Java's `LinkedHashMap`s keep insertion order).
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn int(v: impl Into<i64>) -> Json {
        Json::Num(v.into().to_string())
    }

    pub fn uint(v: u64) -> Json {
        Json::Num(v.to_string())
    }

    /// A `double` as Java's `Double.toString` prints it: at least one digit after the
    /// point (`9.0`, `36.6`), scientific below 10^-3 and from 10^7 on (`1.0E300`). Not
    /// finite → null (Jackson would write a string).
    pub fn float(v: f64) -> Json {
        if !v.is_finite() {
            return Json::Null;
        }
        let a = v.abs();
        if a != 0.0 && !(1e-3..1e7).contains(&a) {
            let s = format!("{v:e}");
            let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let dot = if mantissa.contains('.') { "" } else { ".0" };
            return Json::Num(format!("{mantissa}{dot}E{exp}"));
        }
        let mut s = format!("{v}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        Json::Num(s)
    }

    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// Jackson's pretty text.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    /// `nesting`: objects opened around this value (arrays do not indent: Jackson's
    /// array indenter is inline).
    fn write(&self, out: &mut String, nesting: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[ ]"),
            Json::Arr(items) => {
                out.push_str("[ ");
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write(out, nesting);
                }
                out.push_str(" ]");
            }
            Json::Obj(entries) if entries.is_empty() => out.push_str("{ }"),
            Json::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(out, nesting + 1);
                    write_string(out, k);
                    out.push_str(" : ");
                    v.write(out, nesting + 1);
                }
                out.push('\n');
                indent(out, nesting);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, levels: usize) {
    for _ in 0..levels {
        out.push_str("  ");
    }
}

/// Jackson's escaping: `"` and `\`, control characters as `\n`-style or `\u00XX`;
/// everything else (non-ASCII included) as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object from `(key, value)` pairs.
pub fn obj<K: Into<String>>(entries: impl IntoIterator<Item = (K, Json)>) -> Json {
    Json::Obj(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// `CommandResponse.toMap()`: the command's entries in order, then `command` and
/// `error` where the entries do not already hold them (an entry keeps its place and its
/// value: Java re-puts the data after the two keys).
pub fn command_response(command: &str, error: Option<&str>, mut data: Vec<(String, Json)>) -> Json {
    if !data.iter().any(|(k, _)| k == "command") {
        data.push(("command".into(), Json::str(command)));
    }
    if !data.iter().any(|(k, _)| k == "error") {
        data.push(("error".into(), error.map_or(Json::Null, Json::str)));
    }
    Json::Obj(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text Jackson wrote for a 3.9.5 `stats` answer (one connection), key for key.
    #[test]
    fn prints_as_jackson_does() {
        let conn = obj([
            ("remote_socket_address", Json::str("127.0.0.1:36218")),
            ("interest_ops", Json::int(1)),
        ]);
        let v = command_response(
            "stats",
            None,
            vec![
                ("avg_latency".into(), Json::float(36.6)),
                ("whole".into(), Json::float(9.0)),
                ("client".into(), obj([("last", Json::int(-1))])),
                ("connections".into(), Json::Arr(vec![conn.clone(), conn])),
                ("secure_connections".into(), Json::Arr(vec![])),
                ("ids".into(), Json::Arr(vec![Json::int(1), Json::int(2)])),
                ("empty".into(), obj::<String>([])),
                ("text".into(), Json::str("a\"b\\c\nd\u{1}é")),
            ],
        );
        let want = r#"{
  "avg_latency" : 36.6,
  "whole" : 9.0,
  "client" : {
    "last" : -1
  },
  "connections" : [ {
    "remote_socket_address" : "127.0.0.1:36218",
    "interest_ops" : 1
  }, {
    "remote_socket_address" : "127.0.0.1:36218",
    "interest_ops" : 1
  } ],
  "secure_connections" : [ ],
  "ids" : [ 1, 2 ],
  "empty" : { },
  "text" : "a\"b\\c\nd\u0001é",
  "command" : "stats",
  "error" : null
}"#;
        assert_eq!(v.pretty(), want);
    }

    /// `leader` on a standalone server: its own "error" entry keeps its place and value.
    #[test]
    fn an_error_entry_of_the_command_stays() {
        let v = command_response(
            "leader",
            None,
            vec![("error".into(), Json::str("server is not initialized"))],
        );
        assert_eq!(
            v.pretty(),
            "{\n  \"error\" : \"server is not initialized\",\n  \"command\" : \"leader\"\n}"
        );
        assert_eq!(
            command_response("nosuch", Some("Unknown command: nosuch"), vec![]).pretty(),
            "{\n  \"command\" : \"nosuch\",\n  \"error\" : \"Unknown command: nosuch\"\n}"
        );
        assert_eq!(Json::float(f64::NAN), Json::Null);
        assert_eq!(Json::float(1e300).pretty(), "1.0E300");
        assert_eq!(Json::float(-2.5e-5).pretty(), "-2.5E-5");
        assert_eq!(Json::float(1234567.5).pretty(), "1234567.5");
        assert_eq!(Json::float(0.0).pretty(), "0.0");
    }
}
