//! Every metric family Java 3.9.5's `ServerMetrics` (and `QuorumPeer`/`Leader`) register
//! with `PrometheusMetricsProvider`, other than the gauges (which `render` writes from the
//! scraped server state, present only in the roles Java registers them in). Java
//! registers all of these at start, so a scrape lists each one (a summary with NaN
//! quantiles, a counter at 0, a labelled set with only its HELP/TYPE lines) whether
//! ferrokeeper measures it or not: `metrics::measured_counter` / `measured_summary` say
//! which ones it does.

/// simpleclient's summary detail (ZooKeeper's `DetailLevel`): which quantiles it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// 0.5
    Basic,
    /// 0.5, 0.9, 0.99
    Advanced,
}

impl Detail {
    pub fn quantiles(self) -> &'static [f64] {
        match self {
            Detail::Basic => &[0.5],
            Detail::Advanced => &[0.5, 0.9, 0.99],
        }
    }
}

/// A family's Prometheus type and label set (sets have one label, `key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Summary(Detail),
    CounterSet,
    GaugeSet,
    SummarySet(Detail),
}

use Detail::*;
use Kind::*;

/// (name, kind), by name.
pub const FAMILIES: &[(&str, Kind)] = &[
    ("ack_latency", SummarySet(Advanced)),
    ("add_dead_watcher_stall_time", Counter),
    ("bytes_received_count", Counter),
    ("close_session_prep_time", Summary(Advanced)),
    ("cnxn_closed_without_zk_server_running", Counter),
    ("commit_commit_proc_req_queued", Summary(Basic)),
    ("commit_count", Counter),
    ("commit_process_time", Summary(Basic)),
    ("commit_propagation_latency", Summary(Advanced)),
    (
        "concurrent_request_processing_in_commit_processor",
        Summary(Basic),
    ),
    ("connection_drop_count", Counter),
    ("connection_rejected", Counter),
    ("connection_request_count", Counter),
    ("connection_revalidate_count", Counter),
    ("connection_token_deficit", Summary(Basic)),
    ("dbinittime", Summary(Basic)),
    ("dead_watchers_cleaner_latency", Summary(Advanced)),
    ("dead_watchers_cleared", Counter),
    ("dead_watchers_queued", Counter),
    ("diff_count", Counter),
    ("digest_mismatches_count", Counter),
    ("election_time", Summary(Basic)),
    ("ensemble_auth_fail", Counter),
    ("ensemble_auth_skip", Counter),
    ("ensemble_auth_success", Counter),
    ("follower_sync_time", Summary(Basic)),
    ("fsynctime", Summary(Basic)),
    ("inflight_diff_count", Summary(Basic)),
    ("inflight_snap_count", Summary(Basic)),
    ("insecure_admin_count", Counter),
    ("large_requests_rejected", Counter),
    ("leader_unavailable_time", Summary(Basic)),
    ("learner_commit_received_count", Counter),
    ("learner_handler_qp_size", SummarySet(Basic)),
    ("learner_handler_qp_time_ms", SummarySet(Advanced)),
    ("learner_proposal_received_count", Counter),
    ("learner_request_processor_queue_size", Summary(Basic)),
    ("local_write_committed_time_ms", Summary(Advanced)),
    ("looking_count", Counter),
    ("netty_queued_buffer_capacity", Summary(Basic)),
    ("node_changed_watch_count", Summary(Basic)),
    ("node_children_watch_count", Summary(Basic)),
    ("node_created_watch_count", Summary(Basic)),
    ("node_deleted_watch_count", Summary(Basic)),
    ("observer_sync_time", Summary(Basic)),
    ("om_commit_process_time_ms", Summary(Advanced)),
    ("om_proposal_process_time_ms", Summary(Advanced)),
    ("outstanding_changes_queued", Counter),
    ("outstanding_changes_removed", Counter),
    ("pending_session_queue_size", Summary(Basic)),
    ("prep_process_time", Summary(Basic)),
    ("prep_processor_queue_size", Summary(Basic)),
    ("prep_processor_queue_time_ms", Summary(Advanced)),
    ("prep_processor_request_queued", Counter),
    ("propagation_latency", Summary(Advanced)),
    ("proposal_ack_creation_latency", Summary(Advanced)),
    ("proposal_count", Counter),
    ("proposal_latency", Summary(Advanced)),
    ("proposal_process_time", Summary(Basic)),
    ("quit_leading_due_to_disloyal_voter", Counter),
    ("quorum_ack_latency", Summary(Advanced)),
    ("quota_bytes_limit_per_namespace", GaugeSet),
    ("quota_bytes_usage_per_namespace", GaugeSet),
    ("quota_count_limit_per_namespace", GaugeSet),
    ("quota_count_usage_per_namespace", GaugeSet),
    ("quota_exceeded_error_per_namespace", CounterSet),
    ("read_commit_proc_issued", Summary(Basic)),
    ("read_commit_proc_req_queued", Summary(Basic)),
    ("read_commitproc_time_ms", Summary(Advanced)),
    ("read_final_proc_time_ms", Summary(Advanced)),
    ("read_per_namespace", SummarySet(Basic)),
    ("readlatency", Summary(Advanced)),
    ("reads_after_write_in_session_queue", Summary(Basic)),
    ("reads_issued_from_session_queue", Summary(Basic)),
    ("request_commit_queued", Counter),
    ("request_throttle_queue_time_ms", Summary(Advanced)),
    ("request_throttle_wait_count", Counter),
    ("requests_in_session_queue", Summary(Basic)),
    ("requests_not_forwarded_to_commit_processor", Counter),
    ("response_bytes", Counter),
    ("response_packet_cache_hits", Counter),
    ("response_packet_cache_misses", Counter),
    ("response_packet_get_children_cache_hits", Counter),
    ("response_packet_get_children_cache_misses", Counter),
    ("restore_error_count", Counter),
    ("restore_rate_limited_count", Counter),
    ("restore_time", Summary(Basic)),
    ("revalidate_count", Counter),
    ("server_write_committed_time_ms", Summary(Advanced)),
    ("session_queues_drained", Summary(Basic)),
    ("sessionless_connections_expired", Counter),
    ("skip_learner_request_to_next_processor_count", Counter),
    ("snap_count", Counter),
    ("snapshot_error_count", Counter),
    ("snapshot_rate_limited_count", Counter),
    ("snapshottime", Summary(Basic)),
    ("socket_closing_time", Summary(Basic)),
    ("stale_replies", Counter),
    ("stale_requests", Counter),
    ("stale_requests_dropped", Counter),
    ("stale_sessions_expired", Counter),
    ("startup_snap_load_time", Summary(Basic)),
    ("startup_txns_load_time", Summary(Basic)),
    ("startup_txns_loaded", Summary(Basic)),
    ("sync_process_time", Summary(Basic)),
    ("sync_processor_batch_size", Summary(Basic)),
    ("sync_processor_queue_and_flush_time_ms", Summary(Advanced)),
    ("sync_processor_queue_flush_time_ms", Summary(Advanced)),
    ("sync_processor_queue_size", Summary(Basic)),
    ("sync_processor_queue_time_ms", Summary(Advanced)),
    ("sync_processor_request_queued", Counter),
    ("throttled_ops", Counter),
    (
        "time_waiting_empty_pool_in_commit_processor_read_ms",
        Summary(Basic),
    ),
    ("tls_handshake_exceeded", Counter),
    ("unavailable_time", Summary(Basic)),
    ("unrecoverable_error_count", Counter),
    ("unsuccessful_handshake", Counter),
    ("updatelatency", Summary(Advanced)),
    ("watch_bytes", Counter),
    ("write_batch_time_in_commit_processor", Summary(Basic)),
    ("write_commit_proc_issued", Summary(Basic)),
    ("write_commit_proc_req_queued", Summary(Basic)),
    ("write_commitproc_time_ms", Summary(Advanced)),
    ("write_final_proc_time_ms", Summary(Advanced)),
    ("write_per_namespace", SummarySet(Basic)),
];
