//! `ferrokeeper`: the server binary. `ferrokeeper [zoo.cfg] [-D key=value ...]`.
//!
//! With no config file it serves on the embedded default (127.0.0.1:2181,
//! dataDir ./ferrokeeper-data). SIGTERM/SIGINT shut down cleanly.

use clap::{Parser, Subcommand};
use ferrokeeper::config::Config;
use ferrokeeper::server::{self, settings::Settings};
use std::process::ExitCode;

/// mimalloc: less fragmentation than glibc malloc under the server's allocation pattern
/// (many small, long-lived znode allocations mixed with short-lived request buffers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3, the crate's default; mimalloc
/// keeps deprecated entries in place so the numbering is stable). The libmimalloc-sys
/// bindings do not name it.
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Return freed memory to the OS after 100 ms instead of mimalloc's default 1 s. Purging
/// only happens while the allocator is in use, so with the default, buffers freed during
/// a burst (snapshot walks, a child list or hash index that outgrew its allocation) stayed
/// resident once the burst was over: 1M znodes of 100 B measured 255–265 MiB right after
/// loading them instead of 235. (mimalloc reads MIMALLOC_* variables before `main`, so
/// this cannot be done through the environment from here.)
fn tune_allocator() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table; it has no
    // preconditions, and this runs before the process starts any other thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
}

#[derive(Parser, Debug)]
#[command(
    name = "ferrokeeper",
    version,
    about = "A ZooKeeper-compatible server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// zoo.cfg to read (the same file a Java ZooKeeper node reads).
    config: Option<std::path::PathBuf>,
    /// System-property style overrides, as Java's -Dzookeeper.K=V (e.g. -D jute.maxbuffer=4194304).
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    props: Vec<String>,
    #[command(subcommand)]
    tool: Option<Tool>,
}

/// Offline tools on a data directory (Java's or ours).
#[derive(Subcommand, Debug)]
enum Tool {
    /// Delete old snapshots and logs, keeping the newest N snapshots (zkCleanup.sh /
    /// PurgeTxnLog): `ferrokeeper purge <dataLogDir> [<snapDir>] -n <N>`.
    Purge {
        data_log_dir: std::path::PathBuf,
        snap_dir: Option<std::path::PathBuf>,
        #[arg(short = 'n', default_value_t = 3)]
        count: usize,
    },
    /// Print a txn log file as zkTxnLogToolkit.sh does.
    TxnlogDump { file: std::path::PathBuf },
    /// Print a snapshot file as zkSnapShotToolkit.sh does (-d: also the data).
    SnapshotDump {
        file: std::path::PathBuf,
        #[arg(short = 'd')]
        data: bool,
    },
}

fn run_tool(tool: Tool) -> ExitCode {
    use ferrokeeper::storage::{dump, purge, version_dir};
    let out = match tool {
        Tool::Purge {
            data_log_dir,
            snap_dir,
            count,
        } => {
            if count < 3 {
                eprintln!("ferrokeeper purge: -n must be at least 3");
                return ExitCode::from(2);
            }
            let snap_dir = snap_dir.unwrap_or_else(|| data_log_dir.clone());
            // Accept both the data dir and its version-2 subdirectory.
            let strip = |p: std::path::PathBuf| {
                if p.ends_with("version-2") {
                    p.parent().map(|x| x.to_path_buf()).unwrap_or(p)
                } else {
                    p
                }
            };
            let (logs, snaps) = (strip(data_log_dir), strip(snap_dir));
            if !version_dir(&snaps).is_dir() {
                eprintln!(
                    "ferrokeeper purge: {} has no version-2 directory",
                    snaps.display()
                );
                return ExitCode::from(2);
            }
            purge::purge(&snaps, &logs, count)
                .map(|p| {
                    format!(
                        "removed {} snapshots and {} logs\n",
                        p.snapshots.len(),
                        p.logs.len()
                    )
                })
                .map_err(|e| e.to_string())
        }
        // Streamed: on an error (e.g. a partial last entry) what came before is printed,
        // as Java's TxnLogToolkit does.
        Tool::TxnlogDump { file } => {
            dump::txnlog_dump_to(&file, &mut std::io::stdout().lock()).map(|()| String::new())
        }
        Tool::SnapshotDump { file, data } => dump::snapshot_dump(&file, data),
    };
    match out {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrokeeper: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERROKEEPER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A panic anywhere is a fault: say so plainly, then (release: panic = "abort") the
    // process ends for a supervisor to restart it.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("fatal: {info}; stopping the server");
        default_hook(info);
    }));
    let cli = Cli::parse();
    if let Some(tool) = cli.tool {
        return run_tool(tool);
    }
    // -D flags of the environment variables zkServer.sh hands to the JVM, then the
    // command line's (a later flag wins, so the command line wins).
    let mut props = ferrokeeper::config::jaas::jvm_flag_props(
        std::env::var("SERVER_JVMFLAGS").ok().as_deref(),
        std::env::var("JVMFLAGS").ok().as_deref(),
    );
    for kv in &cli.props {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("ferrokeeper: -D expects KEY=VALUE, got {kv:?}");
            return ExitCode::from(2);
        };
        props.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let cfg = match &cli.config {
        // As in Java, -D flags exist first and zoo.cfg keys overwrite the same property.
        Some(p) => match Config::load_with_props(p, props) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ferrokeeper: invalid config {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => {
            let mut c = Config::default_embedded();
            for (k, v) in &props {
                c.apply_system_property(k, v);
            }
            c
        }
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let quorum_member = runs_as_quorum_member(&cfg);
    let settings = match Settings::from_config(&cfg) {
        Ok(mut s) => {
            if let Some(p) = &cli.config {
                s.initial_config = std::fs::read_to_string(p).unwrap_or_default();
            }
            s
        }
        Err(e) => {
            eprintln!("ferrokeeper: {e}");
            return ExitCode::from(2);
        }
    };
    let mut settings = settings;
    // ServerCnxnFactory.configureSaslLogin: a JAAS file that is named but missing or
    // malformed stops the start (Java exits with 1).
    match ferrokeeper::config::jaas::server_sasl(&cfg) {
        Ok(None) => {}
        Ok(Some(sasl)) => {
            for w in &sasl.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(
                "SASL DIGEST-MD5 client authentication enabled (JAAS section '{}', {} users)",
                sasl.section,
                sasl.users.users.len()
            );
            settings.sasl = Some(std::sync::Arc::new(sasl.users));
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("ferrokeeper: cannot start: {e}");
            return ExitCode::from(1);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrokeeper: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (serve_plain, secure_addr) = (settings.serve_plain_port, settings.secure_client_addr);
    rt.block_on(async move {
        let started = if quorum_member {
            server::quorum::peer::start(settings, &cfg).await
        } else {
            server::start(settings).await
        };
        let handle = match started {
            Ok(h) => h,
            Err(e) => {
                eprintln!("ferrokeeper: cannot start: {e}");
                // Java's ExitCode.ERROR_STARTING_ADMIN_SERVER.
                let admin = e
                    .get_ref()
                    .is_some_and(|r| r.is::<server::admin_http::AdminStartError>());
                return ExitCode::from(if admin { 4 } else { 1 });
            }
        };
        if serve_plain {
            tracing::info!("ferrokeeper serving clients on {}", handle.local_addr);
        }
        if let Some(secure) = secure_addr {
            tracing::info!("ferrokeeper serving TLS clients on {secure}");
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// The start decision, as Java's `QuorumPeerMain`: a quorum member when
/// `QuorumPeerConfig.isDistributed()` (a `server.N` list and either
/// `standaloneEnabled=false` or more than one voting member — observers do not vote);
/// otherwise standalone. A quorum member never serves clients on its own: only once
/// it leads or follows in a quorum.
fn runs_as_quorum_member(cfg: &Config) -> bool {
    cfg.is_distributed()
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nclientPort=2181\n";

    /// Parse `BASE` + `extra` and apply `myid`, as `Config::load` does.
    fn cfg(extra: &str, myid: Option<i64>) -> Config {
        let mut c = Config::parse_str(&format!("{BASE}{extra}")).unwrap();
        c.apply_myid(myid).unwrap();
        c
    }

    #[test]
    fn quorum_configs_run_as_members_standalone_ones_standalone() {
        let three = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
                     server.3=127.0.0.1:2890:3890\n";
        assert!(runs_as_quorum_member(&cfg(three, Some(2))));
        // one participant with standaloneEnabled=true (the default): standalone, as Java
        let one = "server.1=127.0.0.1:2888:3888\n";
        assert!(!runs_as_quorum_member(&cfg(one, None)));
        assert!(!runs_as_quorum_member(&cfg(one, Some(1))));
        // one participant with standaloneEnabled=false: a one-voter quorum in Java
        assert!(runs_as_quorum_member(&cfg(
            &format!("{one}standaloneEnabled=false\n"),
            Some(1)
        )));
        // no server lines: standalone
        assert!(!runs_as_quorum_member(&cfg("", None)));
        // one participant + two observers: with standaloneEnabled=true Java rejects the
        // file itself; with it false, observer 2 is a quorum member
        let obs = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:observer\n\
                   server.3=127.0.0.1:2890:3890:observer\n";
        let err = Config::parse_str(&format!("{BASE}{obs}")).unwrap_err();
        assert!(err.to_string().contains("Observers w/o quorum"), "{err}");
        assert!(runs_as_quorum_member(&cfg(
            &format!("{obs}standaloneEnabled=false\n"),
            Some(2)
        )));
    }

    /// The option index names the option we mean: before anything sets it, it holds
    /// mimalloc v3's default purge_delay (1000 ms; no other option defaults to 1000).
    #[test]
    fn mimalloc_purge_delay_index() {
        // SAFETY: mi_option_get only reads mimalloc's option table.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
