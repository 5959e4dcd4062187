use super::render::{Scrape, java_double, render};
use super::*;

#[test]
fn java_doubles() {
    for (v, s) in [
        (0.0, "0.0"),
        (44.0, "44.0"),
        (14.0435, "14.0435"),
        (-1.0, "-1.0"),
        (5.3069984e7, "5.3069984E7"),
        (1e7, "1.0E7"),
        (2.68435456e8, "2.68435456E8"),
        (0.0001, "1.0E-4"),
        (0.5, "0.5"),
        (0.99, "0.99"),
        (9999999.0, "9999999.0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
    ] {
        assert_eq!(java_double(v), s, "{v}");
    }
}

#[test]
fn buckets_are_ordered_and_tight() {
    let mut last = 0;
    for v in (0..100_000u64).chain([1 << 39, (1 << 41) - 1, 1 << 41, u64::MAX]) {
        let b = bucket_of(v);
        assert!(b >= last && b < BUCKETS, "{v}");
        last = b;
        if v < (1 << 40) {
            let mid = bucket_value(b);
            assert!(
                (mid - v as f64).abs() <= v as f64 / 16.0 + 0.5,
                "{v} -> {mid}"
            );
        }
    }
}

#[test]
fn summary_quantiles_and_window() {
    let s = Summary::new();
    assert!(s.quantiles([0.5])[0].is_nan());
    for v in 1..=100 {
        s.observe(v);
    }
    let [p50, p90, p99] = s.quantiles([0.5, 0.9, 0.99]);
    assert!((47.0..=53.0).contains(&p50), "{p50}");
    assert!((85.0..=95.0).contains(&p90), "{p90}");
    assert!((95.0..=104.0).contains(&p99), "{p99}");
    assert_eq!((s.count(), s.sum()), (100, 5050));
    s.observe(-5);
    assert_eq!(s.count(), 101);
    // After a full window of rotations the old observations are gone; count/sum stay.
    for _ in 0..AGES {
        s.rotate();
    }
    assert!(s.quantiles([0.5])[0].is_nan());
    assert_eq!(s.count(), 101);
    s.observe(3);
    assert_eq!(s.quantiles([0.99]), [3.0]);
}

#[test]
fn scrape_lists_every_family_once() {
    let text = render(&Scrape {
        server: None,
        fds: (1, 2),
        process: None,
        names: &[],
    });
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    assert_eq!(types.len(), catalog::FAMILIES.len());
    assert!(text.contains("# HELP fsynctime fsynctime\n# TYPE fsynctime summary\n"));
    // fsynctime is BASIC (the median), updatelatency ADVANCED (0.5, 0.9, 0.99)
    assert!(text.contains("fsynctime{quantile=\"0.5\",} "), "{text}");
    assert!(!text.contains("fsynctime{quantile=\"0.9\",}"), "{text}");
    assert!(
        text.contains("updatelatency{quantile=\"0.99\",} "),
        "{text}"
    );
    assert!(!text.contains("\nread_per_namespace_count"));
    // a keyed set with no key yet: HELP and TYPE only
    assert!(text.contains("# TYPE quota_count_limit_per_namespace gauge\n# HELP"));
    let only = render(&Scrape {
        server: None,
        fds: (1, 2),
        process: None,
        names: &["commit_count".to_owned()],
    });
    assert_eq!(
        only,
        "# HELP commit_count commit_count\n# TYPE commit_count counter\ncommit_count ".to_owned()
            + &java_double(COMMIT_COUNT.get() as f64)
            + "\n"
    );
}

#[test]
fn local_reads_count_as_zero_latency_reads() {
    let (c0, s0, _) = read_latency([0.5]);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..1000 {
                    LOCAL_READS.inc();
                }
            });
        }
    });
    let (c1, s1, [p50]) = read_latency([0.5]);
    // (other tests in this process may serve reads at the same time)
    assert!(c1 - c0 >= 4000 && s1 >= s0);
    assert_eq!(p50, 0.0);
}

/// Java's BufferStats: -1 before any size, then the last, smallest and largest; srst
/// brings back -1.
#[test]
fn buffer_stats_keep_last_min_and_max() {
    let b = super::BufferStats::new();
    assert_eq!(b.get(), (-1, -1, -1));
    b.observe(100);
    assert_eq!(b.get(), (100, 100, 100));
    b.observe(16);
    b.observe(250);
    b.observe(40);
    assert_eq!(b.get(), (40, 16, 250));
    b.reset();
    assert_eq!(b.get(), (-1, -1, -1));
    b.observe(0);
    assert_eq!(b.get(), (0, 0, 0));
}
