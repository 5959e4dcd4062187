//! JAAS login configuration files (`-Djava.security.auth.login.config=FILE`) as the JDK's
//! ConfigFile reads them, and the server SASL settings ZooKeeper derives from them
//! (ServerCnxnFactory.configureSaslLogin).
//!
//! Owns: the file grammar (`Name { module.Class flag key="value" ...; };`, `//`, `/* */`
//! and `#` comments, quoted or bare values), the section lookup
//! (`zookeeper.sasl.serverconfig`, default `Server`), DigestLoginModule's
//! `user_<name>="password"` entries and the `zookeeper.kerberos.*` /
//! `SASLAuthenticationProvider.superPassword` properties.
//! Must never: log or print a password; run a login module (Kerberos is refused with a
//! warning, not attempted).

use super::Config;
use crate::auth::sasl_digest::DigestUsers;

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    /// required / requisite / sufficient / optional (as written).
    pub flag: String,
    pub options: Vec<(String, String)>,
}

/// A parsed JAAS file: sections in file order (a repeated name adds its modules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasFile {
    pub sections: Vec<(String, Vec<LoginModule>)>,
}

impl JaasFile {
    pub fn section(&self, name: &str) -> Option<&[LoginModule]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.as_slice())
    }
}

impl LoginModule {
    /// A Kerberos (GSSAPI) login module, which ferrokeeper cannot run.
    pub fn is_kerberos(&self) -> bool {
        self.class.contains("Krb5LoginModule")
            || self.class.to_ascii_lowercase().contains("kerberos")
    }

    /// DigestLoginModule's `user_<name>="<password>"` entries: (name, password).
    pub fn digest_users(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?, v.as_str())))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'/') => {
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'*') => {
                it.next();
                let mut prev = ' ';
                let mut closed = false;
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err(format!("Line {line}: unterminated comment"));
                }
            }
            '"' | '\'' => {
                let q = c;
                let mut s = String::new();
                let start = line;
                let mut closed = false;
                while let Some(c) = it.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = it.next() {
                                s.push(n);
                            }
                        }
                        c if c == q => {
                            closed = true;
                            break;
                        }
                        '\n' => {
                            line += 1;
                            s.push(c);
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(format!("Line {start}: unterminated quoted string"));
                }
                out.push((Tok::Quoted(s), start));
            }
            '{' | '}' | ';' | '=' => out.push((Tok::Punct(c), line)),
            c => {
                let mut s = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '=' | '"' | '\'') {
                        break;
                    }
                    s.push(n);
                    it.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// Parse a JAAS file. Errors read like the JDK's `Configuration Error: Line N: ...`.
pub fn parse(text: &str) -> Result<JaasFile, String> {
    parse_expanding(text, None)
}

/// Where `${name}` in an option value finds `name` (Java: `System.getProperty`).
pub type PropertyLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `parse`, with `${name}` in option values expanded as the JDK's ConfigFile does
/// (`policy.expandProperties`, on by default): `${/}` is the file separator, an unknown
/// property or a value that expands to nothing is a configuration error. `None` leaves
/// values as written.
pub fn parse_expanding(text: &str, props: Option<PropertyLookup<'_>>) -> Result<JaasFile, String> {
    let toks = tokenize(text)?;
    let mut file = JaasFile::default();
    let mut i = 0;
    let last_line = toks.last().map_or(1, |t| t.1);
    let line_at = |i: usize| toks.get(i).map_or(last_line, |t| t.1);
    let expect = |i: usize, what: &str| format!("Line {}: expected [{what}]", line_at(i));
    let word = |i: usize| match toks.get(i) {
        Some((Tok::Word(w), _)) | Some((Tok::Quoted(w), _)) => Some(w.clone()),
        _ => None,
    };
    let punct = |i: usize, p: char| matches!(toks.get(i), Some((Tok::Punct(c), _)) if *c == p);
    while i < toks.len() {
        let name = word(i).ok_or_else(|| expect(i, "entry name"))?;
        i += 1;
        if !punct(i, '{') {
            return Err(expect(i, "{"));
        }
        i += 1;
        let mut modules = Vec::new();
        while !punct(i, '}') {
            let class = word(i).ok_or_else(|| expect(i, "controlFlag"))?;
            i += 1;
            let flag = word(i).ok_or_else(|| expect(i, "controlFlag"))?;
            if !matches!(
                flag.to_ascii_lowercase().as_str(),
                "required" | "requisite" | "sufficient" | "optional"
            ) {
                return Err(format!("Line {}: Invalid control flag, {flag}", line_at(i)));
            }
            i += 1;
            let mut options = Vec::new();
            while !punct(i, ';') {
                let key = match toks.get(i) {
                    Some((Tok::Word(w), _)) => w.clone(),
                    _ => return Err(expect(i, "option key")),
                };
                i += 1;
                if !punct(i, '=') {
                    return Err(expect(i, "="));
                }
                i += 1;
                let mut value = word(i).ok_or_else(|| expect(i, "option value"))?;
                if let Some(lookup) = props {
                    value =
                        expand(&value, lookup).map_err(|e| format!("Line {}: {e}", line_at(i)))?;
                }
                i += 1;
                options.push((key, value));
            }
            i += 1; // ';'
            modules.push(LoginModule {
                class,
                flag,
                options,
            });
        }
        i += 1; // '}'
        if !punct(i, ';') {
            return Err(expect(i, ";"));
        }
        i += 1;
        match file.sections.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => m.extend(modules),
            None => file.sections.push((name, modules)),
        }
    }
    Ok(file)
}

/// sun.security.util.PropertyExpander.expand: `${name}` → the property, `${/}` → "/";
/// a `$` not followed by `{`, or a `${` without `}`, is kept as written.
fn expand(value: &str, lookup: PropertyLookup<'_>) -> Result<String, String> {
    if value.is_empty() || !value.contains("${") {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        if name == "/" {
            out.push('/');
        } else {
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("unable to expand property {name}")),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(format!("system property [{value}] expanded to empty value"));
    }
    Ok(out)
}

/// What `${name}` sees: the system properties by their exact names (`-D` flags, and
/// zoo.cfg's keys as `zookeeper.<key>`), and the JVM's own properties a JAAS
/// file is likely to use (`user.home`, `user.name`, `user.dir`, `java.io.tmpdir`,
/// `file.separator`, `path.separator`).
fn jvm_property(cfg: &Config, name: &str) -> Option<String> {
    if let Some(v) = cfg.system_properties.get(name) {
        return Some(v.clone());
    }
    match name {
        "user.home" => std::env::var("HOME").ok(),
        "user.name" => std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok(),
        "user.dir" => std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        "java.io.tmpdir" => Some("/tmp".into()),
        "file.separator" => Some("/".into()),
        "path.separator" => Some(":".into()),
        _ => None,
    }
}

/// The server's SASL setup as ZooKeeper finds it: DIGEST-MD5 users when the JAAS
/// section exists, `None` when SASL is not configured.
#[derive(Debug, Clone)]
pub struct ServerSasl {
    pub section: String,
    pub users: DigestUsers,
    /// Warnings to log at startup (Kerberos modules, no users).
    pub warnings: Vec<String>,
}

/// The JAAS file property, as the JDK reads it (`==FILE` means "only this file").
pub const JAAS_CONF_KEY: &str = "java.security.auth.login.config";
/// `ZooKeeperSaslServer.LOGIN_CONTEXT_NAME_KEY`.
pub const SERVER_SECTION_KEY: &str = "zookeeper.sasl.serverconfig";

/// ServerCnxnFactory.configureSaslLogin: read the JAAS file named by the system
/// property. No file named → `Ok(None)`; the file unreadable or malformed → `Err` (Java
/// then refuses to start); the section missing → `Ok(None)` (Java serves without SASL).
pub fn server_sasl(cfg: &Config) -> Result<Option<ServerSasl>, String> {
    let section = cfg
        .system_property(SERVER_SECTION_KEY)
        .unwrap_or("Server")
        .to_string();
    let section_set = cfg.system_properties.contains_key(SERVER_SECTION_KEY);
    let no_section = |path: &str, why: String| {
        let mut m =
            format!("No JAAS configuration section named '{section}' was found in '{path}'.");
        if section_set {
            m.push_str(&format!(" But {SERVER_SECTION_KEY} was set."));
        }
        format!("{m} ({why})")
    };
    let Some((_, file)) = read_jaas_file(cfg, no_section)? else {
        return Ok(None);
    };
    let Some(modules) = file.section(&section) else {
        return Ok(None);
    };
    Ok(Some(from_section(cfg, &section, modules)))
}

/// The JAAS file `java.security.auth.login.config` names, parsed (`${prop}` expanded):
/// `Ok(None)` when no file is named; `Err(on_error(path, why))` when it cannot be read or
/// parsed.
pub fn read_jaas_file(
    cfg: &Config,
    on_error: impl Fn(&str, String) -> String,
) -> Result<Option<(String, JaasFile)>, String> {
    let Some(path) = cfg.system_properties.get(JAAS_CONF_KEY) else {
        return Ok(None);
    };
    let path = path.strip_prefix('=').unwrap_or(path);
    let path = path.strip_prefix("file:").unwrap_or(path);
    let text = std::fs::read_to_string(path).map_err(|e| on_error(path, format!("{path}: {e}")))?;
    let lookup = |name: &str| jvm_property(cfg, name);
    let file = parse_expanding(&text, Some(&lookup))
        .map_err(|e| on_error(path, format!("Configuration Error: {e}")))?;
    Ok(Some((path.to_string(), file)))
}

fn from_section(cfg: &Config, section: &str, modules: &[LoginModule]) -> ServerSasl {
    let mut users = DigestUsers::default();
    let mut warnings = Vec::new();
    for m in modules {
        if m.is_kerberos() {
            warnings.push(format!(
                "JAAS section '{section}': {} (Kerberos/GSSAPI) is not supported; only \
                 DIGEST-MD5 users (user_NAME=\"password\") are served",
                m.class
            ));
        }
        for (name, password) in m.digest_users() {
            users.users.insert(name.to_string(), password.to_string());
        }
    }
    if users.users.is_empty() && warnings.is_empty() {
        warnings.push(format!(
            "JAAS section '{section}' has no user_NAME=\"password\" entries: every SASL \
             client will fail to authenticate"
        ));
    }
    // Java reads these with System.getProperty under their full names.
    let exact = |k: &str| cfg.system_properties.get(k).map(String::as_str);
    users.super_password =
        exact("zookeeper.SASLAuthenticationProvider.superPassword").map(str::to_string);
    users.remove_host = exact("zookeeper.kerberos.removeHostFromPrincipal") == Some("true");
    users.remove_realm = exact("zookeeper.kerberos.removeRealmFromPrincipal") == Some("true");
    ServerSasl {
        section: section.to_string(),
        users,
        warnings,
    }
}

/// `-D` flags from the environment variables zkServer.sh passes to the JVM: it runs
/// `java ... $JVMFLAGS` with `JVMFLAGS="$SERVER_JVMFLAGS $JVMFLAGS"`, so a later
/// `JVMFLAGS` flag wins. Tokens other than `-Dkey[=value]` (-Xmx..., -XX:...) are ignored.
pub fn jvm_flag_props(
    server_jvmflags: Option<&str>,
    jvmflags: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in [server_jvmflags, jvmflags].into_iter().flatten() {
        for tok in s.split_whitespace() {
            if let Some(kv) = tok.strip_prefix("-D") {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                if !k.is_empty() {
                    out.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_expand_in_option_values_as_the_jdk_does() {
        let lookup = |n: &str| match n {
            "pw" => Some("s3cret".to_string()),
            "empty" => Some(String::new()),
            _ => None,
        };
        let text = "Server { m required user_bob=\"${pw}\" dir=\"a${/}b\" keep=\"$x ${open\"; };";
        let f = parse_expanding(text, Some(&lookup)).unwrap();
        let opts = &f.section("Server").unwrap()[0].options;
        assert_eq!(opts[0], ("user_bob".into(), "s3cret".into()));
        assert_eq!(opts[1], ("dir".into(), "a/b".into()));
        assert_eq!(opts[2], ("keep".into(), "$x ${open".into()));
        // Unexpanded without a lookup (the fuzz target and the tests of the syntax).
        let raw = parse(text).unwrap();
        assert_eq!(raw.section("Server").unwrap()[0].options[0].1, "${pw}");
        let e = parse_expanding("S { m required a=\"${nope}\"; };", Some(&lookup)).unwrap_err();
        assert!(
            e.contains("Line 1") && e.contains("unable to expand property nope"),
            "{e}"
        );
        let e = parse_expanding("S { m required a=\"${empty}\"; };", Some(&lookup)).unwrap_err();
        assert!(e.contains("expanded to empty value"), "{e}");
    }

    const SAMPLE: &str = r#"
// ZooKeeper server
Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_super="adminsecret"   /* the admin */
  user_bob="bob\"secret";
};
# a client section
Client { org.apache.zookeeper.server.auth.DigestLoginModule required username=bob password='x y'; };
Empty { };
"#;

    #[test]
    fn parses_sections_modules_options() {
        let f = parse(SAMPLE).unwrap();
        let s = f.section("Server").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(s[0].flag, "required");
        assert_eq!(
            s[0].options,
            vec![
                ("user_super".to_string(), "adminsecret".to_string()),
                ("user_bob".to_string(), "bob\"secret".to_string())
            ]
        );
        let c = f.section("Client").unwrap();
        assert_eq!(c[0].options[1], ("password".into(), "x y".into()));
        assert_eq!(f.section("Empty").unwrap().len(), 0);
        assert!(f.section("server").is_none());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        // The option list must end with ';' (the JDK: "Line 4: expected [option key]").
        let e = parse("Server {\n  a.B required\n  user_bob=\"x\"\n};\n").unwrap_err();
        assert_eq!(e, "Line 4: expected [option key]");
        assert!(
            parse("Server { a.B maybe; };")
                .unwrap_err()
                .contains("Invalid control flag")
        );
        assert!(parse("Server { a.B required k=\"v; };").is_err());
        assert!(
            parse("Server { a.B required; }")
                .unwrap_err()
                .contains("expected [;]")
        );
        assert!(parse("Server a.B required; };").is_err());
        assert!(parse("/* open").is_err());
    }

    fn cfg_with(props: &[(&str, &str)]) -> Config {
        Config::parse_str_with_props(
            "dataDir=/d\nclientPort=2181\n",
            props.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap()
    }

    #[test]
    fn server_sasl_as_java_configures_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        std::fs::write(&path, SAMPLE).unwrap();
        let p = path.to_str().unwrap();
        // No JAAS property: no SASL.
        assert!(server_sasl(&cfg_with(&[])).unwrap().is_none());
        let s = server_sasl(&cfg_with(&[(JAAS_CONF_KEY, p)]))
            .unwrap()
            .unwrap();
        assert_eq!(s.section, "Server");
        assert_eq!(s.users.users.len(), 2);
        assert!(s.warnings.is_empty());
        // Another section by name; a missing one: served without SASL, as Java.
        let c = server_sasl(&cfg_with(&[
            (JAAS_CONF_KEY, p),
            (SERVER_SECTION_KEY, "Client"),
        ]));
        assert_eq!(c.unwrap().unwrap().section, "Client");
        let none = server_sasl(&cfg_with(&[
            (JAAS_CONF_KEY, p),
            (SERVER_SECTION_KEY, "Nope"),
        ]));
        assert!(none.unwrap().is_none());
        // Missing file / syntax error: an error naming the section and file.
        let missing = dir.path().join("nope.conf");
        let e = server_sasl(&cfg_with(&[(JAAS_CONF_KEY, missing.to_str().unwrap())])).unwrap_err();
        assert!(
            e.starts_with("No JAAS configuration section named 'Server' was found in"),
            "{e}"
        );
        std::fs::write(&path, "Server { a.B required x=\"y\" };").unwrap();
        let e = server_sasl(&cfg_with(&[(JAAS_CONF_KEY, p)])).unwrap_err();
        assert!(e.contains("Configuration Error: Line 1"), "{e}");
        // Kerberos: one warning naming the section.
        std::fs::write(
            &path,
            "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
             keyTab=\"/k\" principal=\"zookeeper/h@R\"; };",
        )
        .unwrap();
        let s = server_sasl(&cfg_with(&[
            (JAAS_CONF_KEY, p),
            ("zookeeper.kerberos.removeHostFromPrincipal", "true"),
        ]))
        .unwrap()
        .unwrap();
        assert!(
            s.warnings[0].contains("JAAS section 'Server'"),
            "{:?}",
            s.warnings
        );
        assert!(s.warnings[0].contains("Krb5LoginModule"));
        assert_eq!(s.warnings.len(), 1, "one line: {:?}", s.warnings);
        assert!(s.users.remove_host && !s.users.remove_realm);
    }

    #[test]
    fn jvm_flags_from_the_environment() {
        let p = jvm_flag_props(
            Some("-Xmx1g -Djava.security.auth.login.config=/etc/zk/jaas.conf -Da=1"),
            Some("-XX:+UseG1GC -Da=2 -Dflag"),
        );
        assert_eq!(
            p,
            vec![
                (JAAS_CONF_KEY.to_string(), "/etc/zk/jaas.conf".to_string()),
                ("a".into(), "1".into()),
                ("a".into(), "2".into()),
                ("flag".into(), "".into()),
            ]
        );
        assert!(jvm_flag_props(None, None).is_empty());
    }
}
