//! ACL semantics: permission checks (ZooKeeperServer.checkACL), the auth providers' id
//! rules (digest, ip incl. CIDR and IPv6), digest ids, and create/setACL fixup
//! (PrepRequestProcessor.fixupACL).
//!
//! Owns: pure functions over ACL lists and auth ids. Must never: look at the tree, do I/O,
//! or know about skipACL (callers decide whether to check at all).

use crate::jute::records::{Acl, Id};
use crate::proto::{err, perms};
use base64::Engine;
use sha1::{Digest, Sha1};

/// OPEN_ACL_UNSAFE = [ALL world:anyone].
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: world_anyone(),
    }]
}

/// READ_ACL_UNSAFE = [READ world:anyone].
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::READ,
        id: world_anyone(),
    }]
}

fn world_anyone() -> Id {
    Id {
        scheme: "world".into(),
        id: "anyone".into(),
    }
}

/// DigestAuthenticationProvider.generateDigest: "user:password" → "user:base64(sha1)".
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{}:{}",
        user,
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// DigestAuthenticationProvider.handleAuthentication for "user:password": ("super","")
/// first when its digest is the super digest, then the digest id.
pub fn digest_auth_ids(user_password: &str, super_digest: Option<&str>) -> Vec<Id> {
    let id = digest_id(user_password);
    let mut ids = Vec::with_capacity(2);
    if super_digest == Some(id.as_str()) {
        ids.push(Id {
            scheme: "super".into(),
            id: String::new(),
        });
    }
    ids.push(Id {
        scheme: "digest".into(),
        id,
    });
    ids
}

/// Java's `String.split(sep)` with a one-character separator: trailing empty strings
/// dropped, and [""] for an empty input.
pub fn java_split(s: &str, sep: char) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// Java's `String.split(sep)` part count.
fn java_split_count(s: &str, sep: char) -> usize {
    java_split(s, sep).len()
}

fn parse_v4(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut b = Vec::with_capacity(4);
    for p in parts {
        let v: i64 = java_parse_int(p, 10)?;
        if !(0..=255).contains(&v) {
            return None;
        }
        b.push(v as u8);
    }
    Some(b)
}

/// Integer.parseInt: optional sign, at least one digit, fits in i32.
fn java_parse_int(s: &str, radix: u32) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        v = v * radix as i64 + c.to_digit(radix)? as i64;
        if v > i32::MAX as i64 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        None
    } else {
        Some(v)
    }
}

fn parse_v6_segments(out: &mut [u8; 16], mut i: usize, segs: &[&str]) -> Option<()> {
    for s in segs {
        if s.is_empty() || s.chars().count() > 4 {
            return None;
        }
        let v = java_parse_int(s, 16)?;
        out[i] = ((v >> 8) & 0xff) as u8;
        out[i + 1] = (v & 0xff) as u8;
        i += 2;
    }
    Some(())
}

fn parse_v6(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split("::").collect();
    let mut out = [0u8; 16];
    match parts.len() {
        1 => {
            let segs: Vec<&str> = parts[0].split(':').collect();
            if segs.len() != 8 {
                return None;
            }
            parse_v6_segments(&mut out, 0, &segs)?;
        }
        2 => {
            let s1: Vec<&str> = if parts[0].is_empty() {
                vec![]
            } else {
                parts[0].split(':').collect()
            };
            let s2: Vec<&str> = if parts[1].is_empty() {
                vec![]
            } else {
                parts[1].split(':').collect()
            };
            if s1.len() + s2.len() >= 8 {
                return None;
            }
            parse_v6_segments(&mut out, 0, &s1)?;
            parse_v6_segments(&mut out, 16 - s2.len() * 2, &s2)?;
        }
        _ => return None,
    }
    Some(out.to_vec())
}

/// IPAuthenticationProvider.addr2Bytes.
fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        parse_v6(addr)
    } else if addr.contains('.') {
        parse_v4(addr)
    } else {
        None
    }
}

fn mask(b: &mut [u8], bits: usize) {
    let mut start = bits / 8;
    let mut m: u8 = !(((1u16 << (8 - (bits % 8))) - 1) as u8);
    while start < b.len() {
        b[start] &= m;
        m = 0;
        start += 1;
    }
}

/// Parse "addr[/bits]" into (address bytes, prefix bits).
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (a, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let addr = addr_bytes(a)?;
    let max = addr.len() as i64 * 8;
    let bits = match bits {
        Some(b) => {
            let v = java_parse_int(b, 10)?;
            if v < 0 || v > max {
                return None;
            }
            v as usize
        }
        None => max as usize,
    };
    Some((addr, bits))
}

/// IPAuthenticationProvider.matches: does client address `id` fall in `acl_expr`?
pub fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let Some((mut acl, bits)) = parse_ip_expr(acl_expr) else {
        return false;
    };
    mask(&mut acl, bits);
    let Some(mut remote) = addr_bytes(id) else {
        return false;
    };
    if remote.len() != acl.len() {
        return false;
    }
    mask(&mut remote, bits);
    remote == acl
}

/// The auth providers the server has, as Java's ProviderRegistry: ip always, digest
/// unless `zookeeper.DigestAuthenticationProvider.enabled=false`, sasl and x509 when an
/// `authProvider.N` names them (x509 also when a secureClientPort is set:
/// QuorumPeerConfig.configureSSLAuth). A scheme without a provider never matches an
/// ACL, cannot be set in one (INVALIDACL), and shows no user name in whoAmI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Providers {
    pub digest: bool,
    pub sasl: bool,
    pub x509: bool,
    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL naming this id admits every SASL
    /// user (SASLAuthenticationProvider.matches). Read once at startup (a leaked string:
    /// the configuration lives as long as the process).
    pub sasl_any_user: Option<&'static str>,
}

impl Providers {
    /// Java's registry with no `authProvider.*` lines: ip and digest.
    pub const DEFAULT: Providers = Providers {
        digest: true,
        sasl: false,
        x509: false,
        sasl_any_user: None,
    };
    /// Every provider ferrokeeper has.
    pub const ALL: Providers = Providers {
        digest: true,
        sasl: true,
        x509: true,
        sasl_any_user: None,
    };

    /// Whether `scheme` has a provider.
    pub fn has(&self, scheme: &str) -> bool {
        match scheme {
            "ip" => true,
            "digest" => self.digest,
            "sasl" => self.sasl,
            "x509" => self.x509,
            _ => false,
        }
    }

    /// The schemes with a provider, ip first.
    pub fn schemes(&self) -> Vec<&'static str> {
        let mut v = vec!["ip"];
        for (on, s) in [
            (self.digest, "digest"),
            (self.sasl, "sasl"),
            (self.x509, "x509"),
        ] {
            if on {
                v.push(s);
            }
        }
        v
    }
}

/// How ACLs are checked: `zookeeper.skipACL=yes` skips them, and only schemes with a
/// provider count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AclRules {
    pub skip: bool,
    pub providers: Providers,
}

impl AclRules {
    /// Whether `auth` may do `perm` on a node with `acl`.
    pub fn allows(&self, acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
        self.skip || check_acl(acl, perm, auth, self.providers)
    }
}

impl Default for Providers {
    fn default() -> Self {
        Providers::DEFAULT
    }
}

/// Schemes with a server auth provider whose ids count as "authenticated" (usable by the
/// `auth` pseudo-scheme). ip is a provider but not authenticated.
fn is_authenticated_scheme(scheme: &str, providers: Providers) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509") && providers.has(scheme)
}

/// Provider.isValid for an id in an ACL (the scheme's provider assumed present).
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => java_split_count(id, ':') == 2,
        "ip" => parse_ip_expr(id).is_some(),
        "sasl" => is_kerberos_name(id),
        "x509" => true,
        _ => false,
    }
}

/// SASLAuthenticationProvider.isValid: `new KerberosName(id)` does not throw, i.e. the id
/// has no `@`, or matches `([^/@]*)(/([^/@]*))?@([^/@]*)` (one `@`, at most one `/`
/// before it, none after).
fn is_kerberos_name(id: &str) -> bool {
    let Some((principal, realm)) = id.split_once('@') else {
        return true;
    };
    !realm.contains(['@', '/']) && principal.matches('/').count() <= 1
}

fn provider_matches(scheme: &str, auth_id: &str, acl_id: &str, providers: Providers) -> bool {
    match scheme {
        "ip" => ip_matches(auth_id, acl_id),
        // SASLAuthenticationProvider.matches: the SASL id "super" matches every sasl ACL,
        // and every SASL user matches an ACL naming letAnySaslUserDoX.
        "sasl" => {
            auth_id == "super" || auth_id == acl_id || providers.sasl_any_user == Some(acl_id)
        }
        "digest" | "x509" => auth_id == acl_id,
        _ => false,
    }
}

/// ZooKeeperServer.checkACL (without skipACL): true if `auth` grants `perm` on `acl`.
pub fn check_acl(acl: &[Acl], perm: i32, auth: &[Id], providers: Providers) -> bool {
    if acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return true;
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        for au in auth {
            if au.scheme == a.id.scheme
                && providers.has(&au.scheme)
                && provider_matches(&a.id.scheme, &au.id, &a.id.id, providers)
            {
                return true;
            }
        }
    }
    false
}

/// PrepRequestProcessor.fixupACL: drop duplicates, expand `auth`, validate every id.
/// Errors with INVALIDACL.
pub fn fixup_acl(auth: &[Id], acls: &[Acl], providers: Providers) -> Result<Vec<Acl>, i32> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acls.len());
    for a in acls {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(err::INVALID_ACL);
    }
    let mut rv = Vec::with_capacity(uniq.len());
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            rv.push(a.clone());
        } else if a.id.scheme == "auth" {
            let mut any = false;
            for cid in auth {
                if is_authenticated_scheme(&cid.scheme, providers) {
                    any = true;
                    rv.push(Acl {
                        perms: a.perms,
                        id: cid.clone(),
                    });
                }
            }
            if !any {
                return Err(err::INVALID_ACL);
            }
        } else {
            if !providers.has(&a.id.scheme) || !is_valid_id(&a.id.scheme, &a.id.id) {
                return Err(err::INVALID_ACL);
            }
            rv.push(a.clone());
        }
    }
    Ok(rv)
}

/// The user name a provider reports for an id (whoAmI's ClientInfo.user); "" when the
/// scheme has no provider (AuthUtil.getUser's null).
pub fn user_name(id: &Id, providers: Providers) -> String {
    if !providers.has(&id.scheme) {
        return String::new();
    }
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_string(),
        "ip" | "sasl" | "x509" => id.id.clone(),
        _ => String::new(),
    }
}

/// getACL without ADMIN: digest ids are shown as "user:x" (`replaceAll(":.*", ":x")`).
pub fn mask_digest_ids(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let id = match a.id.id.split_once(':') {
                    Some((u, _)) => format!("{u}:x"),
                    None => a.id.id.clone(),
                };
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: a.id.scheme.clone(),
                        id,
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every provider registered (each test below that is about the registry says so).
    fn check_acl(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
        super::check_acl(acl, perm, auth, Providers::ALL)
    }
    fn fixup_acl(auth: &[Id], acls: &[Acl]) -> Result<Vec<Acl>, i32> {
        super::fixup_acl(auth, acls, Providers::ALL)
    }
    fn user_name(id: &Id) -> String {
        super::user_name(id, Providers::ALL)
    }

    #[test]
    fn sasl_ids_must_be_kerberos_names() {
        for ok in [
            "bob",
            "bob@EXAMPLE.COM",
            "zk/host@R",
            "a/b/c",
            "@",
            "/@",
            "x@",
        ] {
            assert!(is_valid_id("sasl", ok), "{ok}");
        }
        for bad in ["a@b@c", "a/b/c@R", "a@R/x", "a/b@c/d"] {
            assert!(!is_valid_id("sasl", bad), "{bad}");
        }
    }

    #[test]
    fn schemes_without_a_provider_are_inert() {
        let java_default = Providers::DEFAULT;
        let bob = [acl(31, "sasl", "bob")];
        let cert = [acl(31, "x509", "CN=client")];
        // Never matched, even by the exact id.
        assert!(!super::check_acl(
            &bob,
            1,
            &[id("sasl", "bob")],
            java_default
        ));
        assert!(!super::check_acl(
            &cert,
            1,
            &[id("x509", "CN=client")],
            java_default
        ));
        // Not settable; `auth` does not expand to them.
        assert_eq!(
            super::fixup_acl(&[], &bob, java_default),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            super::fixup_acl(&[], &cert, java_default),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            super::fixup_acl(&[id("sasl", "bob")], &[acl(31, "auth", "")], java_default),
            Err(err::INVALID_ACL)
        );
        // whoAmI shows no user for them.
        assert_eq!(super::user_name(&id("sasl", "bob"), java_default), "");
        assert_eq!(
            super::user_name(&id("ip", "1.2.3.4"), java_default),
            "1.2.3.4"
        );
        // Digest disabled: digest ACLs are inert too; ip always works.
        let no_digest = Providers {
            digest: false,
            ..Providers::DEFAULT
        };
        let d = [acl(31, "digest", "u:abc")];
        assert!(!super::check_acl(
            &d,
            1,
            &[id("digest", "u:abc")],
            no_digest
        ));
        assert_eq!(super::fixup_acl(&[], &d, no_digest), Err(err::INVALID_ACL));
        assert!(super::check_acl(
            &[acl(1, "ip", "10.0.0.1")],
            1,
            &[id("ip", "10.0.0.1")],
            no_digest
        ));
        // super still passes everything.
        assert!(super::check_acl(&bob, 1, &[id("super", "")], no_digest));
        assert_eq!(no_digest.schemes(), ["ip"]);
        // letAnySaslUserDoX: an ACL naming it admits any SASL user, nobody else.
        let any = Providers {
            sasl_any_user: Some("everyone"),
            ..Providers::ALL
        };
        let everyone = [acl(1, "sasl", "everyone")];
        assert!(super::check_acl(&everyone, 1, &[id("sasl", "alice")], any));
        assert!(!super::check_acl(
            &everyone,
            1,
            &[id("digest", "everyone")],
            any
        ));
        assert!(!super::check_acl(&bob, 1, &[id("sasl", "alice")], any));
        assert!(!super::check_acl(
            &everyone,
            1,
            &[id("sasl", "alice")],
            Providers::ALL
        ));
        assert_eq!(Providers::ALL.schemes(), ["ip", "digest", "sasl", "x509"]);
    }

    fn id(s: &str, i: &str) -> Id {
        Id {
            scheme: s.into(),
            id: i.into(),
        }
    }
    fn acl(p: i32, s: &str, i: &str) -> Acl {
        Acl {
            perms: p,
            id: id(s, i),
        }
    }

    #[test]
    fn digest_ids_match_java() {
        // printf 'super:test' | openssl sha1 -binary | base64
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(
            digest_id("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        // No colon: the whole string is the user part.
        assert!(digest_id("nocolon").starts_with("nocolon:"));
    }

    #[test]
    fn check_acl_schemes() {
        let ip = [id("ip", "10.1.2.3")];
        assert!(check_acl(&[], perms::ALL, &[]));
        assert!(check_acl(&open_acl_unsafe(), perms::WRITE, &[]));
        assert!(!check_acl(&read_acl_unsafe(), perms::WRITE, &ip));
        assert!(check_acl(
            &read_acl_unsafe(),
            perms::WRITE,
            &[id("super", "")]
        ));
        let d = acl(perms::READ, "digest", "u:abc");
        assert!(check_acl(
            std::slice::from_ref(&d),
            perms::READ,
            &[id("digest", "u:abc")]
        ));
        assert!(!check_acl(
            std::slice::from_ref(&d),
            perms::WRITE,
            &[id("digest", "u:abc")]
        ));
        assert!(!check_acl(
            std::slice::from_ref(&d),
            perms::READ,
            &[id("digest", "u:abd")]
        ));
        assert!(!check_acl(
            std::slice::from_ref(&d),
            perms::READ,
            &[id("ip", "u:abc")]
        ));
        assert!(check_acl(&[acl(1, "ip", "10.1.0.0/16")], 1, &ip));
        // sasl: the id itself, or the SASL user "super" (SASLAuthenticationProvider).
        let bob = [acl(1, "sasl", "bob")];
        assert!(check_acl(&bob, 1, &[id("sasl", "bob")]));
        assert!(!check_acl(&bob, 1, &[id("sasl", "alice")]));
        assert!(check_acl(&bob, 1, &[id("sasl", "super")]));
        assert!(!check_acl(&bob, 1, &[id("digest", "super")]));
        assert!(!check_acl(&[acl(1, "ip", "10.2.0.0/16")], 1, &ip));
        assert!(check_acl(&[acl(1, "ip", "10.1.2.3")], 1, &ip));
        // world with another id and unknown schemes never match.
        assert!(!check_acl(
            &[acl(1, "world", "someone")],
            1,
            &[id("world", "someone")]
        ));
        assert!(!check_acl(&[acl(1, "auth", "")], 1, &[id("auth", "")]));
    }

    #[test]
    fn ip_matching() {
        assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
        assert!(!ip_matches("192.168.2.77", "192.168.1.0/24"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.77", "192.168.1.0/33"));
        assert!(!ip_matches("192.168.1.77", "192.168.1.0/x"));
        assert!(ip_matches("::1", "0:0:0:0:0:0:0:1"));
        assert!(ip_matches("fe80::1234", "fe80::/64"));
        assert!(!ip_matches("fe81::1234", "fe80::/64"));
        assert!(!ip_matches("127.0.0.1", "::1/0"));
        assert!(!ip_matches("1.2.3", "1.2.3.0/24"));
        assert!(!ip_matches("1.2.3.256", "1.2.3.0/24"));
        assert!(!ip_matches("1::2::3", "::/0"));
        assert!(!ip_matches("12345::", "::/0"));
    }

    #[test]
    fn fixup() {
        let auth = [id("ip", "1.2.3.4"), id("digest", "u:h"), id("super", "")];
        assert_eq!(fixup_acl(&auth, &[]), Err(err::INVALID_ACL));
        let out = fixup_acl(&auth, &[acl(31, "auth", ""), acl(31, "auth", "")]).unwrap();
        assert_eq!(out, vec![acl(31, "digest", "u:h")]);
        assert_eq!(
            fixup_acl(&auth[..1], &[acl(31, "auth", "")]),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[], &[acl(31, "digest", "u:")]),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[], &[acl(31, "digest", "u")]),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[], &[acl(31, "digest", "a:b:c")]),
            Err(err::INVALID_ACL)
        );
        assert!(fixup_acl(&[], &[acl(31, "digest", ":b")]).is_ok());
        assert_eq!(
            fixup_acl(&[], &[acl(31, "ip", "1.2.3")]),
            Err(err::INVALID_ACL)
        );
        assert!(fixup_acl(&[], &[acl(31, "ip", "1.2.3.0/24")]).is_ok());
        assert_eq!(
            fixup_acl(&[], &[acl(31, "world", "nobody")]),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[], &[acl(31, "super", "")]),
            Err(err::INVALID_ACL)
        );
        assert_eq!(
            fixup_acl(&[], &[acl(31, "foo", "bar")]),
            Err(err::INVALID_ACL)
        );
        let w = fixup_acl(&[], &[acl(1, "world", "anyone"), acl(1, "world", "anyone")]).unwrap();
        assert_eq!(w, vec![acl(1, "world", "anyone")]);
    }

    #[test]
    fn masking_and_user_names() {
        let m = mask_digest_ids(&[acl(1, "digest", "bob:abc:def"), acl(1, "ip", "1.2.3.4")]);
        assert_eq!(m, vec![acl(1, "digest", "bob:x"), acl(1, "ip", "1.2.3.4")]);
        assert_eq!(user_name(&id("digest", "bob:xyz")), "bob");
        assert_eq!(user_name(&id("ip", "1.2.3.4")), "1.2.3.4");
        assert_eq!(user_name(&id("super", "")), "");
    }
}
