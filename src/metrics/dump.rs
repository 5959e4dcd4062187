//! The metrics as Java's default metrics provider dumps them into `mntr` and the
//! AdminServer's `monitor` (`DefaultMetricsProvider.dump`): a counter as `name`, a
//! summary as `avg_` `min_` `max_` `cnt_` `sum_` + name (an ADVANCED one adds `p50_`
//! `p95_` `p99_` `p999_`), a keyed set's member as those with `<key>_<name>`. Every
//! family of the catalog is there, measured or not, as Java registers them all at start.
//!
//! Owns: those keys and their values. Must never: take locks or allocate per observation
//! (it only reads the registry, once per `mntr`).
//!
//! Differences: `min_`/`max_`/`avg_`/`cnt_`/`sum_` are exact since the start or `srst`,
//! as Java's; the percentiles come from the same 10-minute window `/metrics` serves
//! (Java's default provider keeps a uniform sample since the start instead).

use super::catalog::{Detail, FAMILIES, Kind};
use super::render::counter_value;
use super::{Summary, measured_summary, measured_summary_set};

/// One dumped value: Java prints integers as such and other numbers as doubles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Double(f64),
}

/// count, sum, min, max, and the p50/p95/p99/p999 (None: no observations in window).
struct Figures {
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    percentiles: [f64; 4],
}

const PERCENTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

fn figures(s: &Summary) -> Figures {
    Figures {
        count: s.count(),
        sum: s.sum(),
        min: s.min().unwrap_or(0),
        max: s.max().unwrap_or(0),
        percentiles: s.quantiles(PERCENTILES),
    }
}

/// `readlatency` with the reads connection tasks answered themselves (0 ms each).
fn read_latency_figures() -> Figures {
    let (count, sum, percentiles) = super::read_latency(PERCENTILES);
    let own = &super::READ_LATENCY;
    let local = count > own.count();
    Figures {
        count,
        sum,
        min: if local { 0 } else { own.min().unwrap_or(0) },
        max: own.max().unwrap_or(0),
        percentiles,
    }
}

fn push_summary(out: &mut Vec<(String, Value)>, name: &str, detail: Detail, f: &Figures) {
    let avg = if f.count == 0 {
        0.0
    } else {
        f.sum as f64 / f.count as f64
    };
    out.push((format!("avg_{name}"), Value::Double(avg)));
    out.push((format!("min_{name}"), Value::Int(f.min as i64)));
    out.push((format!("max_{name}"), Value::Int(f.max as i64)));
    out.push((format!("cnt_{name}"), Value::Int(f.count as i64)));
    out.push((format!("sum_{name}"), Value::Int(f.sum as i64)));
    if detail == Detail::Advanced {
        for (p, v) in ["p50", "p95", "p99", "p999"].iter().zip(f.percentiles) {
            let v = if v.is_nan() { 0 } else { v.round() as i64 };
            out.push((format!("{p}_{name}"), Value::Int(v)));
        }
    }
}

/// Every catalog family's keys and values, in catalog order.
pub fn values() -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(FAMILIES.len() * 6);
    for &(name, kind) in FAMILIES {
        match kind {
            Kind::Counter => out.push((name.to_string(), Value::Int(counter_value(name) as i64))),
            Kind::Summary(detail) => {
                let f = match measured_summary(name) {
                    Some(_) if name == "readlatency" => read_latency_figures(),
                    Some(s) => figures(s),
                    None => figures(&Summary::new()),
                };
                push_summary(&mut out, name, detail, &f);
            }
            // Sets have a member per key seen; ferrokeeper keys none of these.
            Kind::CounterSet | Kind::GaugeSet => {}
            Kind::SummarySet(detail) => {
                if let Some(set) = measured_summary_set(name) {
                    for (key, s) in set.entries() {
                        push_summary(&mut out, &format!("{key}_{name}"), detail, &figures(s));
                    }
                }
            }
        }
    }
    out
}

/// `srst` under the default provider (Java's `resetAllValues`; the Prometheus provider's
/// values cannot be reset, so `srst` leaves them alone there).
pub fn reset_all() {
    for &(name, kind) in FAMILIES {
        match kind {
            Kind::Counter => {
                if let Some(c) = super::measured_counter(name) {
                    c.reset();
                }
            }
            Kind::Summary(_) => {
                if let Some(s) = measured_summary(name) {
                    s.reset();
                }
            }
            Kind::SummarySet(_) => {
                if let Some(set) = measured_summary_set(name) {
                    for (_, s) in set.entries() {
                        s.reset();
                    }
                }
            }
            Kind::CounterSet | Kind::GaugeSet => {}
        }
    }
    super::LOCAL_READS.reset();
    super::BYTES_RECEIVED_COUNT.reset();
    super::RESPONSE_BYTES.reset();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_dump_as_javas_avg_min_max_counter() {
        let s = Summary::new();
        let mut out = Vec::new();
        push_summary(&mut out, "x", Detail::Basic, &figures(&s));
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["avg_x", "min_x", "max_x", "cnt_x", "sum_x"]);
        assert_eq!(out[0].1, Value::Double(0.0));
        assert_eq!(out[1].1, Value::Int(0), "no observation: min 0 as Java");
        for v in [7, 3, 11] {
            s.observe(v);
        }
        out.clear();
        push_summary(&mut out, "x", Detail::Advanced, &figures(&s));
        let v: Vec<Value> = out.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            v[..5],
            [
                Value::Double(7.0),
                Value::Int(3),
                Value::Int(11),
                Value::Int(3),
                Value::Int(21)
            ]
        );
        assert_eq!(out[5], ("p50_x".to_string(), Value::Int(7)));
        assert_eq!(out.len(), 9);
        s.reset();
        assert_eq!((s.count(), s.sum(), s.min(), s.max()), (0, 0, None, None));
        assert!(s.quantiles([0.5])[0].is_nan());
    }

    #[test]
    fn every_family_is_dumped() {
        let v = values();
        let has = |k: &str| v.iter().any(|(n, _)| n == k);
        assert!(has("digest_mismatches_count") && has("stale_requests"));
        assert!(has("avg_fsynctime") && has("sum_fsynctime") && !has("p50_fsynctime"));
        assert!(has("p999_readlatency") && has("cnt_updatelatency"));
    }
}
