//! Metric names (Prometheus) and the recorder. Names are constants so a dashboard and the code
//! cannot drift apart.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Gauge: calls alive now.
pub const ACTIVE_CALLS: &str = "voxgate_active_calls";
/// Counter: calls ended, label `outcome`.
pub const CALLS_ENDED: &str = "voxgate_calls_ended_total";
/// Histogram: seconds from INVITE to 200 OK sent.
pub const SETUP_SECONDS: &str = "voxgate_call_setup_seconds";
/// Counter: SIP messages received, label `kind` (request/response).
pub const SIP_RECEIVED: &str = "voxgate_sip_messages_received_total";
/// Counter: SIP messages that did not parse or validate, label `status` answered (or `dropped`).
pub const SIP_REJECTED: &str = "voxgate_sip_messages_rejected_total";
/// Counter: requests refused by node policy, label `status` (403, 404, 481, 503…).
pub const SIP_REFUSED: &str = "voxgate_sip_requests_refused_total";
/// Counter: media frames dropped because a mailbox was full, label `leg`.
pub const FRAMES_DROPPED: &str = "voxgate_media_frames_dropped_total";
/// Counter: RTP packets of finished calls, label `direction` (received/sent).
pub const RTP_PACKETS: &str = "voxgate_rtp_packets_total";
/// Counter: RTP packets lost (RFC 3550 cumulative loss) on finished calls.
pub const RTP_LOST: &str = "voxgate_rtp_packets_lost_total";
/// Histogram: the largest interarrival jitter of each finished call, ms.
pub const RTP_JITTER_MS: &str = "voxgate_rtp_jitter_max_ms";
/// Counter: SRTP/SRTCP packets dropped, label `direction`: `received` (failed authentication
/// or replay check, or malformed) or `sent` (could not be protected).
pub const SRTP_REJECTED: &str = "voxgate_srtp_packets_rejected_total";
/// Counter: frames the transcoder could not convert, label `direction`.
pub const TRANSCODE_ERRORS: &str = "voxgate_media_transcode_errors_total";
/// Counter: outgoing datagrams the socket would not take.
pub const SEND_ERRORS: &str = "voxgate_transport_send_errors_total";
/// Counter: store writes that failed, label `what`.
pub const STORE_ERRORS: &str = "voxgate_store_errors_total";
/// Counter: call handlers that panicked (each ended its call cleanly).
pub const CALL_PANICS: &str = "voxgate_call_panics_total";
/// Counter: TCP connections refused at the connection cap.
pub const TCP_REFUSED: &str = "voxgate_tcp_connections_refused_total";
/// Counter: bot WebSocket messages ignored because they were malformed.
pub const WS_BOT_BAD_MESSAGES: &str = "voxgate_ws_bot_bad_messages_total";
/// Counter: bot legs restarted after a failure.
pub const BOT_RESTARTS: &str = "voxgate_bot_restarts_total";
/// Counter: calls handed back because their bot kept failing (reason `BotFailure`).
pub const BOT_FAILURES: &str = "voxgate_bot_failures_total";
/// Counter: REFER transfers decided, label `outcome` (`completed`, `fell_back`).
pub const REFER_TRANSFERS: &str = "voxgate_refer_transfers_total";
/// Counter: `invite` hand-backs, label `outcome` (`started`, `answered`, `failed`: every target
/// failed and the fallback ran).
pub const AGENT_CALLS: &str = "voxgate_agent_calls_total";

/// Counter: Digital Connect events received, labelled by `action` and `result` (`applied`,
/// `duplicate`, `refused`, `invalid`).
pub const DC_EVENTS: &str = "voxgate_dc_events_total";
/// Counter: webhook deliveries of `message_created`, labelled by `result` (`delivered`, `retry`,
/// `dead_letter`).
pub const DC_WEBHOOK: &str = "voxgate_dc_webhook_deliveries_total";
/// Counter: Talkdesk stream requests refused before the upgrade, label `status`.
pub const TALKDESK_REFUSED: &str = "voxgate_talkdesk_refused_total";
/// Counter: Talkdesk frames that were not protocol events, label `kind` (`malformed`,
/// `unknown_event`, `binary`, `oversized`, `payload`, …).
pub const TALKDESK_BAD_FRAMES: &str = "voxgate_talkdesk_bad_frames_total";

/// Installs the process-wide Prometheus recorder once and returns a handle to render it.
/// Later calls (tests starting several nodes in one process) reuse the first recorder.
pub fn install() -> PrometheusHandle {
    use std::sync::OnceLock;
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(SETUP_SECONDS.into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                // The matcher is a literal full name; building buckets for it cannot fail.
                .expect("valid bucket list");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (embedding process): render our own view.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}
