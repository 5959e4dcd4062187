//! Quorum SASL's logins as QuorumPeer.initialize finds them when `quorum.auth.enableSasl`
//! is on: the JAAS sections `quorum.auth.server.saslLoginContext` (default
//! `QuorumServer`: the DIGEST-MD5 users a member accepts, `user_<name>="password"`) and
//! `quorum.auth.learner.saslLoginContext` (default `QuorumLearner`: the
//! `username`/`password` this member presents).
//!
//! Owns: which sections must exist, reading the credentials, and refusing what this
//! server cannot do (Kerberos) where the configuration makes it required.
//! Must never: log or print a password, or run a login module.

use super::Config;
use super::jaas::{JAAS_CONF_KEY, LoginModule, read_jaas_file};
use crate::auth::sasl_digest::DigestUsers;

/// `QuorumAuth.QUORUM_SERVER_SASL_LOGIN_CONTEXT_DFAULT_VALUE`.
pub const DEFAULT_SERVER_SECTION: &str = "QuorumServer";
/// `QuorumAuth.QUORUM_LEARNER_SASL_LOGIN_CONTEXT_DFAULT_VALUE`.
pub const DEFAULT_LEARNER_SECTION: &str = "QuorumLearner";

/// A member's quorum SASL setup.
#[derive(Debug, Clone)]
pub struct QuorumSaslLogin {
    pub server_required: bool,
    pub learner_required: bool,
    /// Whom this member accepts.
    pub server_users: DigestUsers,
    /// (username, password) this member presents; None without a `username`.
    pub learner: Option<(String, String)>,
    /// To log at startup.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for QuorumSaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "quorum SASL (DIGEST-MD5): learnerRequireSasl={} serverRequireSasl={}, {} user(s) \
             accepted, presenting {}",
            self.learner_required,
            self.server_required,
            self.server_users.users.len(),
            self.learner.as_ref().map_or("nothing", |(u, _)| u.as_str())
        )
    }
}

/// `Ok(None)` when `quorum.auth.enableSasl` is off. Java refuses to start when either
/// section is missing ("SASL-authentication failed because the specified JAAS
/// configuration section '...' could not be found."); so does this, and also when a
/// required side would need Kerberos or has no credentials.
pub fn quorum_sasl_login(cfg: &Config) -> Result<Option<QuorumSaslLogin>, String> {
    let q = &cfg.quorum_sasl;
    if !q.enable_sasl {
        return Ok(None);
    }
    let init = |m: String| format!("Failed to initialize authentication mechanism using SASL: {m}");
    let server_section = q
        .server_login_context
        .as_deref()
        .unwrap_or(DEFAULT_SERVER_SECTION);
    let learner_section = q
        .learner_login_context
        .as_deref()
        .unwrap_or(DEFAULT_LEARNER_SECTION);
    let file = read_jaas_file(cfg, |_, why| init(why))?;
    let missing = |section: &str| {
        init(format!(
            "SASL-authentication failed because the specified JAAS configuration section \
             '{section}' could not be found.{}",
            if file.is_none() {
                format!(" (no JAAS file: set -D{JAAS_CONF_KEY}=FILE)")
            } else {
                String::new()
            }
        ))
    };
    let section = |name: &str| {
        file.as_ref()
            .and_then(|(_, f)| f.section(name))
            .filter(|m| !m.is_empty())
            .ok_or_else(|| missing(name))
    };
    let server_modules = section(server_section)?;
    let learner_modules = section(learner_section)?;
    let mut warnings = Vec::new();
    // A Kerberos section: refused where that side is required, else a warning and the
    // side left without credentials.
    let mut kerberos = |section: &str, modules: &[LoginModule], required: bool| {
        if !modules.iter().any(LoginModule::is_kerberos) {
            return Ok(false);
        }
        let m = format!(
            "JAAS section '{section}' uses Kerberos (GSSAPI), which ferrokeeper does not \
             support for quorum authentication (DIGEST-MD5 only)"
        );
        if required {
            return Err(init(m));
        }
        warnings.push(m);
        Ok(true)
    };
    let server_kerberos = kerberos(server_section, server_modules, q.server_require_sasl)?;
    let learner_kerberos = kerberos(learner_section, learner_modules, q.learner_require_sasl)?;

    let mut server_users = DigestUsers::default();
    if !server_kerberos {
        for (name, password) in server_modules.iter().flat_map(LoginModule::digest_users) {
            server_users
                .users
                .insert(name.to_string(), password.to_string());
        }
        if server_users.users.is_empty() {
            warnings.push(format!(
                "JAAS section '{server_section}' has no user_NAME=\"password\" entries: no \
                 member can authenticate to this one"
            ));
        }
    }

    let option = |key: &str| {
        learner_modules
            .iter()
            .find_map(|m| m.options.iter().find(|(k, _)| k == key).map(|(_, v)| v))
    };
    let learner = if learner_kerberos {
        None
    } else {
        option("username").map(|u| (u.clone(), option("password").cloned().unwrap_or_default()))
    };
    if learner.is_none() && q.learner_require_sasl {
        return Err(init(format!(
            "JAAS section '{learner_section}' has no username=\"...\" password=\"...\": \
             this member could not authenticate to the others"
        )));
    }
    Ok(Some(QuorumSaslLogin {
        server_required: q.server_require_sasl,
        learner_required: q.learner_require_sasl,
        server_users,
        learner,
        warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_with(
        jaas: &str,
        keys: &str,
    ) -> (tempfile::TempDir, Result<Option<QuorumSaslLogin>, String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        std::fs::write(&path, jaas).unwrap();
        let mut c = Config::parse_str(&format!("dataDir=/d\n{keys}")).unwrap();
        c.system_properties
            .insert(JAAS_CONF_KEY.into(), path.display().to_string());
        let r = quorum_sasl_login(&c);
        (dir, r)
    }

    const DIGEST: &str = r#"
QuorumServer {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_test="test" user_other="pw2";
};
QuorumLearner {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="test" password="test";
};
"#;

    const ALL: &str = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                       quorum.auth.serverRequireSasl=true";

    #[test]
    fn both_sections_are_read() {
        let (_d, r) = cfg_with(DIGEST, ALL);
        let l = r.unwrap().unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert!(l.server_required && l.learner_required);
        assert_eq!(l.learner, Some(("test".into(), "test".into())));
        assert_eq!(l.server_users.users.len(), 2);
        assert!(!format!("{l} {l:?}").contains("pw2"), "no password printed");
    }

    #[test]
    fn off_means_nothing_is_read() {
        let (_d, r) = cfg_with("garbage {", "");
        assert!(r.unwrap().is_none());
    }

    #[test]
    fn a_missing_section_stops_the_start_as_in_java() {
        let (_d, r) = cfg_with(
            DIGEST,
            &format!("{ALL}\nquorum.auth.learner.saslLoginContext=Nope"),
        );
        let e = r.unwrap_err();
        assert!(e.contains("section 'Nope' could not be found"), "{e}");
        // Not required: still needed, as Java builds both sides whenever SASL is enabled.
        let (_d, r) = cfg_with(
            "QuorumServer { a.B required; };",
            "quorum.auth.enableSasl=true",
        );
        assert!(r.unwrap_err().contains("'QuorumLearner'"));
        let mut c = Config::parse_str("dataDir=/d\nquorum.auth.enableSasl=true").unwrap();
        c.system_properties.remove(JAAS_CONF_KEY);
        assert!(quorum_sasl_login(&c).unwrap_err().contains("no JAAS file"));
    }

    #[test]
    fn kerberos_or_no_credentials_where_required_stop_the_start() {
        let krb = r#"QuorumServer { com.sun.security.auth.module.Krb5LoginModule required; };
                     QuorumLearner { com.sun.security.auth.module.Krb5LoginModule required; };"#;
        let (_d, r) = cfg_with(krb, ALL);
        assert!(r.unwrap_err().contains("Kerberos"));
        let (_d, r) = cfg_with(krb, "quorum.auth.enableSasl=true");
        let l = r.unwrap().unwrap();
        assert_eq!(l.warnings.len(), 2);
        let nouser = r#"QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="b"; };
                        QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required; };"#;
        let (_d, r) = cfg_with(nouser, ALL);
        assert!(r.unwrap_err().contains("no username"));
        let nousers = r#"QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required; };
                         QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="a" password="b"; };"#;
        let (_d, r) = cfg_with(nousers, ALL);
        assert!(r.unwrap().unwrap().warnings[0].contains("no user_NAME"));
    }
}
