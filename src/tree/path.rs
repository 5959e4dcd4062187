//! Znode path rules: validation (PathUtils.validatePath) and parent/child splitting.
//!
//! Owns: the pure string rules for paths and the root-key convention (the root is stored
//! under "" like ZooKeeper's node map; "/" is an alias for it).
//! Must never: touch the tree or allocate more than the path itself.

/// The tree's map key for a client path: "/" is stored as "" (ZooKeeper keeps the root
/// under both; we keep one copy and alias "/").
pub fn key(path: &str) -> &str {
    if path == "/" { "" } else { path }
}

/// Split at the last '/': (parent key, child name). `None` if there is no '/'.
/// The parent of "/a" is "" (the root key), as in DataTree.
pub fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    Some((&path[..i], &path[i + 1..]))
}

/// The path watchers of a parent are registered under: "" is shown as "/".
pub fn watch_path(key: &str) -> &str {
    if key.is_empty() { "/" } else { key }
}

fn invalid_char(c: char) -> bool {
    let u = c as u32;
    (u > 0 && u <= 0x1f)
        || (0x7f..=0x9f).contains(&u)
        // Java checks UTF-16 units: surrogates (every char above U+FFFF) and U+E000..U+F8FF.
        || (0xd800..=0xf8ff).contains(&u)
        || u >= 0xfff0
}

/// PathUtils.validatePath: true if `path` is a valid absolute znode path.
pub fn validate(path: &str) -> bool {
    let b = path.as_bytes();
    if b.is_empty() || b[0] != b'/' {
        return false;
    }
    if b.len() == 1 {
        return true;
    }
    if b[b.len() - 1] == b'/' {
        return false;
    }
    let chars: Vec<char> = path.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        if c == '\0' {
            return false;
        }
        if c == '/' && last == '/' {
            return false;
        }
        if c == '.' && last == '.' {
            if chars[i - 2] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                return false;
            }
        } else if c == '.' {
            if chars[i - 1] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                return false;
            }
        } else if invalid_char(c) {
            return false;
        }
        last = c;
    }
    true
}

/// Java's `String.length()` (UTF-16 code units), used for data-size accounting.
pub fn java_len(s: &str) -> i64 {
    s.chars().map(|c| c.len_utf16() as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_pathutils() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a/...",
            "/zookeeper",
            "/é",
        ] {
            assert!(validate(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/\u{1F600}",
        ] {
            assert!(!validate(bad), "{bad:?}");
        }
    }

    #[test]
    fn split_and_key() {
        assert_eq!(split("/a"), Some(("", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("a"), None);
        assert_eq!(key("/"), "");
        assert_eq!(key("/a"), "/a");
        assert_eq!(watch_path(""), "/");
        assert_eq!(java_len("/\u{1F600}"), 3);
    }
}
