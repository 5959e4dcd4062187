//! Smoke test of `ferrokeeper-bench`: every workload runs briefly against an in-process
//! ferrokeeper (in-memory) and reports operations without errors as one JSON line.

mod common;

use std::process::Command;

fn field(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + pat.len();
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} not a number in {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs() {
    let (h, addr) = common::start(|_| {}).await;
    let pid = std::process::id().to_string();
    let cases: &[&[&str]] = &[
        &["--workload", "get", "--keys", "50"],
        &["--workload", "set", "--keys", "50"],
        &["--workload", "mixed", "--keys", "50"],
        &["--workload", "create-delete"],
        &["--workload", "children", "--children", "200"],
        &["--workload", "get", "--keys", "50", "--rate", "2000"],
        &["--workload", "watch-fanout", "--sessions", "20"],
        &["--workload", "idle", "--sessions", "20", "--ping-ms", "100"],
        &["--workload", "load", "--keys", "500", "--sessions", "2"],
        &["--workload", "probe"],
    ];
    for args in cases {
        let addr = addr.clone();
        let pid = pid.clone();
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_ferrokeeper-bench"))
                .args(["--addr", &addr, "--duration", "0.4", "--warmup", "0.1"])
                .args(["--sessions", "4", "--depth", "8", "--server-pid", &pid])
                .args(&argv)
                .output()
                .expect("bench runs")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        let line = stdout.lines().last().unwrap_or_default();
        assert!(field(line, "ops") > 0.0, "{args:?}: no ops: {line}");
        assert_eq!(field(line, "errors"), 0.0, "{args:?}: errors: {line}");
        if line.contains("\"failed_sessions\"") {
            assert_eq!(field(line, "failed_sessions"), 0.0, "{args:?}: {line}");
        }
    }
    h.shutdown().await;
}

#[test]
fn refuses_non_loopback_and_unbounded_runs() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferrokeeper-bench"))
            .args(args)
            .output()
            .expect("bench runs")
            .status
            .code()
    };
    assert_eq!(run(&["--addr", "10.0.0.1:2181"]), Some(2));
    assert_eq!(run(&["--duration", "100000"]), Some(2));
}
