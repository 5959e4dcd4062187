//! The connection throttle of Java's BlueThrottle: a token bucket for new connections'
//! ConnectRequests (`zookeeper.connection_throttle_*`), optionally with BLUE's random early
//! drop once the bucket has run dry, and per-kind weights for global, local and renewed
//! sessions (`connection_throttle_weight_enabled`).
//!
//! Owns: the bucket's state and its arithmetic, exactly as BlueThrottle.checkLimit /
//! checkBlue do it. Time and randomness come from the caller (milliseconds on a monotonic
//! clock, a uniform number in [0, 1)), so the simulator and tests can drive it.
//! Must never: read a clock, block, or allocate.

/// The settings (Java reads them as JVM system properties once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnThrottleConfig {
    /// `connection_throttle_tokens`: bucket size; 0 disables the throttle (default).
    pub max_tokens: i64,
    /// `connection_throttle_fill_time` ms (default 1).
    pub fill_time_ms: i64,
    /// `connection_throttle_fill_count` tokens per fill time (default 1).
    pub fill_count: i64,
    /// `connection_throttle_freeze_time` ms; -1 (default) disables BLUE dropping.
    pub freeze_time_ms: i64,
    /// `connection_throttle_drop_increase` (0.02).
    pub drop_increase: f64,
    /// `connection_throttle_drop_decrease` (0.002).
    pub drop_decrease: f64,
    /// `connection_throttle_decrease_ratio` (0).
    pub decrease_ratio: f64,
    /// Tokens a connection needs: (global session, local session, renewal). All 1 unless
    /// `connection_throttle_weight_enabled` (then 3, 1, 2 or the `*_weight` properties).
    pub weights: (i64, i64, i64),
}

impl Default for ConnThrottleConfig {
    fn default() -> Self {
        ConnThrottleConfig {
            max_tokens: 0,
            fill_time_ms: 1,
            fill_count: 1,
            freeze_time_ms: -1,
            drop_increase: 0.02,
            drop_decrease: 0.002,
            decrease_ratio: 0.0,
            weights: (1, 1, 1),
        }
    }
}

impl ConnThrottleConfig {
    /// BlueThrottle's static initialiser: `prop` answers a property by its name without
    /// `zookeeper.`; unparsable numbers fall back to the default (Integer.getInteger).
    pub fn from_properties(prop: impl Fn(&str) -> Option<String>) -> ConnThrottleConfig {
        let int = |k: &str, d: i64| {
            prop(k)
                .and_then(|v| v.trim().parse::<i32>().ok())
                .map_or(d, i64::from)
        };
        let float = |k: &str, d: f64| {
            prop(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(d)
        };
        let weighted = prop("connection_throttle_weight_enabled")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let local = int("connection_throttle_local_session_weight", 1);
        let local = if local <= 0 { 1 } else { local };
        let global = int("connection_throttle_global_session_weight", 3);
        let global = if global <= 0 { 3 } else { global.max(local) };
        let renew = int("connection_throttle_renew_session_weight", 2);
        let renew = if renew <= 0 { 2 } else { renew.max(local) };
        let tokens = int("connection_throttle_tokens", 0);
        let fill_count = int("connection_throttle_fill_count", 1);
        let scale = if weighted { global } else { 1 };
        ConnThrottleConfig {
            max_tokens: tokens * scale,
            fill_time_ms: int("connection_throttle_fill_time", 1),
            fill_count: fill_count * scale,
            freeze_time_ms: int("connection_throttle_freeze_time", -1),
            drop_increase: float("connection_throttle_drop_increase", 0.02),
            drop_decrease: float("connection_throttle_drop_decrease", 0.002),
            decrease_ratio: float("connection_throttle_decrease_ratio", 0.0),
            weights: if weighted {
                (global, local, renew)
            } else {
                (1, 1, 1)
            },
        }
    }
}

/// What kind of connection asks (its weight when weights are on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectKind {
    NewGlobal,
    NewLocal,
    Renew,
}

#[derive(Debug, Clone)]
pub struct ConnThrottle {
    cfg: ConnThrottleConfig,
    tokens: i64,
    last_time: i64,
    last_freeze: i64,
    drop: f64,
}

impl ConnThrottle {
    pub fn new(cfg: ConnThrottleConfig, now_ms: i64) -> ConnThrottle {
        ConnThrottle {
            cfg,
            tokens: cfg.max_tokens,
            last_time: now_ms,
            last_freeze: now_ms,
            drop: 0.0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.max_tokens != 0
    }

    /// The tokens `kind` needs.
    pub fn need(&self, kind: ConnectKind) -> i64 {
        match kind {
            ConnectKind::NewGlobal => self.cfg.weights.0,
            ConnectKind::NewLocal => self.cfg.weights.1,
            ConnectKind::Renew => self.cfg.weights.2,
        }
    }

    /// BlueThrottle.checkLimit: true = let the connection in (its tokens taken).
    /// `uniform` is a random number in [0, 1) for BLUE's drop.
    pub fn check_limit(&mut self, need: i64, now_ms: i64, uniform: f64) -> bool {
        if self.cfg.max_tokens == 0 {
            return true;
        }
        let diff = now_ms - self.last_time;
        if diff > self.cfg.fill_time_ms && self.cfg.fill_time_ms > 0 {
            let refill = diff.saturating_mul(self.cfg.fill_count) / self.cfg.fill_time_ms;
            self.tokens = self.tokens.saturating_add(refill).min(self.cfg.max_tokens);
            self.last_time = now_ms;
        }
        if self.cfg.freeze_time_ms != -1 && !self.check_blue(now_ms, uniform) {
            return false;
        }
        if self.tokens < need {
            return false;
        }
        self.tokens -= need;
        true
    }

    /// BLUE: the drop chance grows while the bucket is empty and shrinks once it has
    /// refilled past the decrease ratio, changing at most once per freeze time.
    fn check_blue(&mut self, now_ms: i64, uniform: f64) -> bool {
        let length = self.cfg.max_tokens - self.tokens;
        let limit = self.cfg.max_tokens;
        let threshold = (self.cfg.max_tokens as f64 * self.cfg.decrease_ratio).round() as i64;
        if now_ms - self.last_freeze > self.cfg.freeze_time_ms {
            if length == limit && self.drop < 1.0 {
                self.drop = (self.drop + self.cfg.drop_increase).min(1.0);
            } else if length <= threshold && self.drop > 0.0 {
                self.drop = (self.drop - self.cfg.drop_decrease).max(0.0);
            }
            self.last_freeze = now_ms;
        }
        uniform >= self.drop
    }

    /// Tokens taken and not yet refilled (Java's `connection_token_deficit`).
    pub fn deficit(&self) -> i64 {
        self.cfg.max_tokens - self.tokens
    }

    /// BLUE's current drop chance (`connection_drop_probability`).
    pub fn drop_chance(&self) -> f64 {
        self.drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tokens: i64, fill_time: i64, fill_count: i64) -> ConnThrottleConfig {
        ConnThrottleConfig {
            max_tokens: tokens,
            fill_time_ms: fill_time,
            fill_count,
            ..Default::default()
        }
    }

    #[test]
    fn disabled_by_default() {
        let mut t = ConnThrottle::new(ConnThrottleConfig::default(), 0);
        assert!(!t.enabled());
        assert!((0..10_000).all(|_| t.check_limit(1, 0, 0.0)));
    }

    #[test]
    fn bucket_empties_then_refills_with_time() {
        let mut t = ConnThrottle::new(cfg(3, 1000, 2), 0);
        assert!(t.check_limit(1, 0, 0.5));
        assert!(t.check_limit(1, 10, 0.5));
        assert!(t.check_limit(1, 20, 0.5));
        assert!(!t.check_limit(1, 30, 0.5));
        assert_eq!(t.deficit(), 3);
        // 1000 ms is not more than the fill time: nothing yet.
        assert!(!t.check_limit(1, 1000, 0.5));
        // 1001 ms since the last fill: 2 tokens (1001 * 2 / 1000).
        assert!(t.check_limit(1, 1001, 0.5));
        assert!(t.check_limit(1, 1001, 0.5));
        assert!(!t.check_limit(1, 1001, 0.5));
        // A long pause refills to the bucket's size only.
        assert!((0..3).all(|_| t.check_limit(1, 100_000, 0.5)));
        assert!(!t.check_limit(1, 100_000, 0.5));
    }

    #[test]
    fn blue_drops_more_while_empty_and_recovers() {
        let c = ConnThrottleConfig {
            freeze_time_ms: 10,
            drop_increase: 0.5,
            drop_decrease: 0.25,
            ..cfg(1, 1_000_000, 1)
        };
        let mut t = ConnThrottle::new(c, 0);
        assert!(t.check_limit(1, 0, 0.9));
        // Empty bucket, freeze time passed: drop chance 0.5; 0.4 < 0.5 is dropped.
        assert!(!t.check_limit(1, 11, 0.4));
        assert_eq!(t.drop_chance(), 0.5);
        assert!(!t.check_limit(1, 22, 0.99)); // chance 1.0 now
        assert_eq!(t.drop_chance(), 1.0);
    }

    #[test]
    fn weights_follow_java_rules() {
        let props = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = ConnThrottleConfig::from_properties(props(&[
            ("connection_throttle_tokens", "10"),
            ("connection_throttle_weight_enabled", "true"),
        ]));
        assert_eq!(c.max_tokens, 30);
        assert_eq!(c.fill_count, 3);
        assert_eq!(c.weights, (3, 1, 2));
        let c = ConnThrottleConfig::from_properties(props(&[
            ("connection_throttle_tokens", "x"),
            ("connection_throttle_weight_enabled", "true"),
            ("connection_throttle_local_session_weight", "5"),
            ("connection_throttle_global_session_weight", "2"),
            ("connection_throttle_renew_session_weight", "-1"),
        ]));
        assert_eq!(c.max_tokens, 0);
        assert_eq!(c.weights, (5, 5, 2));
    }
}
