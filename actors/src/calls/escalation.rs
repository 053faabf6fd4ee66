//! The Escalation leg: performs a call's hand-back the way its trunk's profile says, then tells
//! the call it is done. For `zoom-cc` (and for a bot hang-up on any profile) that is one BYE
//! carrying the reason header (`kore-reason` by default), the trunk's configured extra headers
//! and the headers the bot gave; the leg waits for the BYE's final response (or its transaction
//! timeout) so the outcome can be recorded.
//!
//! `refer` transfers the caller with an in-dialog REFER first and sends that BYE after the
//! transfer succeeded, or as its fallback ([`refer`], given by [`EscalationLeg::with_refer`]).
//!
//! `amazon-connect` sends the same BYE, but first stores the call's metadata under the Connect
//! contact id ([`ConnectMetadata`], given by [`EscalationLeg::with_connect`]) so that the flow
//! resuming after the disconnect can read it from `GET /metadata/{contactId}`. The BYE waits for
//! that write at most a few seconds and goes out whatever its outcome; a failed write is counted
//! and retried in the background ([`connect`]).

mod connect;
mod refer;

use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, Recipient,
    WrapFuture,
};
use voxgate_engine::config::{Profile, TrunkConfig};
use voxgate_engine::sip::dialog::DialogId;
use voxgate_engine::sip::message::{HeaderName, Method};

pub use self::connect::ConnectMetadata;
use self::connect::{Handoff, RetryPolicy};
pub(crate) use self::refer::resolve_target;
pub use self::refer::{
    caller_notify, uri_host, CallerSubscription, ReferAnswered, ReferNotified, ReferOutcome,
    ReferPlan, ReferReport, ReferRequest,
};
use self::refer::{ReferProgress, ReferRun};
use super::call::Call;
use super::messages::{ExitCause, LegExited, LegKind, StopLeg};
use crate::sip::endpoint::{SendInDialog, SipEndpoint};
use crate::state::NodeState;

/// How long to wait for the BYE's final response before recording the hand-back as sent.
const BYE_ANSWER_TIMEOUT: Duration = Duration::from_secs(40);

/// How long the `amazon-connect` BYE waits for the metadata write (a Redis connect timeout plus
/// a write); past it the BYE goes out and the write finishes or retries on its own.
const STORE_BEFORE_BYE_WAIT: Duration = Duration::from_secs(3);

/// What to hand back.
#[derive(Debug, Clone)]
pub struct HandBack {
    /// The reason header value (`TransferToAgent`, `HangUp`, `BotFailure`…).
    pub reason: String,
    /// Headers the bot asked for.
    pub headers: Vec<(String, String)>,
}

/// The outcome the leg reports to its call before it stops.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct HandBackDone {
    /// The profile used.
    pub profile: &'static str,
    /// `Ok` when the peer accepted (2xx to the BYE, or a successful REFER), `Err(cause)`
    /// otherwise.
    pub result: Result<(), String>,
    /// `refer`: the target, the peer's status and whether the BYE was the fallback.
    pub refer: ReferOutcome,
}

/// A response to the leg's BYE, forwarded by the call.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ByeAnswered {
    /// Final status, or `None` when the transaction timed out.
    pub status: Option<u16>,
}

/// The escalation leg of one call.
pub struct EscalationLeg {
    trunk: TrunkConfig,
    dialog: DialogId,
    sip: Recipient<SendInDialog>,
    /// Where the endpoint forwards the BYE's response (the call, which passes it on here).
    reply_to: Option<Addr<Call>>,
    done: Recipient<HandBackDone>,
    /// `refer`: where the transfer's progress goes (the call).
    refer_report: Option<Recipient<ReferReport>>,
    exited: Recipient<LegExited>,
    hand_back: HandBack,
    /// `amazon-connect`: the metadata write that precedes the BYE.
    handoff: Option<Handoff>,
    /// `refer`: the transfer to run before the BYE.
    refer: Option<ReferRun>,
    refer_outcome: ReferOutcome,
    finished: bool,
}

impl EscalationLeg {
    /// A leg that will hand the call back over `dialog`.
    pub fn new(
        trunk: TrunkConfig,
        dialog: DialogId,
        sip: Addr<SipEndpoint>,
        call: Addr<Call>,
        hand_back: HandBack,
    ) -> EscalationLeg {
        EscalationLeg {
            trunk,
            dialog,
            sip: sip.recipient(),
            done: call.clone().recipient(),
            refer_report: Some(call.clone().recipient()),
            exited: call.clone().recipient(),
            reply_to: Some(call),
            hand_back,
            handoff: None,
            refer: None,
            refer_outcome: ReferOutcome::default(),
            finished: false,
        }
    }

    /// For a `refer` trunk: transfer by REFER along `plan` before the BYE (`Err`: no REFER is
    /// possible, fall back to BYE at once); `caller` when the caller's own REFER asked for it.
    /// Ignored on other profiles.
    pub fn with_refer(
        mut self,
        plan: Result<ReferPlan, String>,
        caller: Option<CallerSubscription>,
    ) -> EscalationLeg {
        if !self.trunk.transfers_by_refer() {
            tracing::debug!(profile = self.profile_name(), "REFER plan ignored");
            return self;
        }
        let norefersub = plan.as_ref().is_ok_and(|p| p.norefersub);
        self.refer = Some(ReferRun {
            plan,
            progress: ReferProgress::new(norefersub),
            caller,
            timer: None,
        });
        self
    }

    /// For an `amazon-connect` trunk: store `data` under its contact id (with the node's
    /// `[api] metadata_ttl_secs`) before the BYE. Ignored on other profiles.
    pub fn with_connect(mut self, data: ConnectMetadata, node: &NodeState) -> EscalationLeg {
        if self.trunk.profile != Profile::AmazonConnect {
            tracing::debug!(profile = self.profile_name(), "Connect metadata ignored");
            return self;
        }
        self.handoff = Some(Handoff {
            data,
            store: std::sync::Arc::clone(&node.store),
            ttl: node.config.api.metadata_ttl(),
            retry: RetryPolicy::default(),
            wait: STORE_BEFORE_BYE_WAIT,
        });
        self
    }

    fn profile_name(&self) -> &'static str {
        profile_name(self.trunk.profile)
    }

    /// The BYE's headers: reason first, then the trunk's configured ones, then the bot's.
    fn bye_headers(&self) -> Vec<(HeaderName, String)> {
        let mut headers = vec![(
            HeaderName::from_wire(&self.trunk.headers.reason),
            self.hand_back.reason.clone(),
        )];
        for (name, value) in &self.trunk.bye_headers {
            headers.push((HeaderName::from_wire(name), value.clone()));
        }
        for (name, value) in &self.hand_back.headers {
            if is_safe_extension_header(name, value) {
                headers.push((HeaderName::from_wire(name), value.clone()));
            }
        }
        headers
    }

    fn finish(&mut self, result: Result<(), String>, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.done.do_send(HandBackDone {
            profile: self.profile_name(),
            result,
            refer: self.refer_outcome.clone(),
        });
        self.exited.do_send(LegExited {
            leg: LegKind::Escalation,
            cause: ExitCause::Normal("hand-back done".into()),
        });
        ctx.stop();
    }
}

/// The profile's name in logs and session records.
pub fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::ZoomCc => "zoom-cc",
        Profile::AmazonConnect => "amazon-connect",
        Profile::Refer => "refer",
        Profile::Invite => "invite",
    }
}

/// Bot-given headers must not rewrite the dialog: only extension headers with printable
/// values pass (no CR/LF injection, no Via/From/To/Call-ID/CSeq/Route/Contact/Content-*).
pub(crate) fn is_safe_extension_header(name: &str, value: &str) -> bool {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!%*+`'~".contains(&b));
    let printable = value.chars().all(|c| !c.is_control() || c == '\t');
    token && printable && matches!(HeaderName::from_wire(name), HeaderName::Other(_))
}

impl Actor for EscalationLeg {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.refer.is_some() {
            self.start_refer(ctx);
            return;
        }
        let Some(handoff) = self.handoff.take() else {
            if self.trunk.profile == Profile::AmazonConnect {
                tracing::warn!(call_id = %self.dialog.call_id, "amazon-connect hand-back without a contact id: no metadata stored");
            }
            self.send_bye(ctx);
            return;
        };
        let value = handoff.data.to_json(&self.hand_back.reason, unix_ms());
        let first_write = handoff.start(value);
        let contact_id = handoff.data.contact_id.clone();
        // `wait`: nothing else is handled until the write is done or the wait is over, so the
        // BYE cannot overtake the record.
        ctx.wait(
            actix_rt::time::timeout(handoff.wait, first_write)
                .into_actor(self)
                .map(move |outcome, leg, ctx| {
                    match outcome {
                        Ok(Ok(Ok(()))) => {
                            tracing::debug!(%contact_id, "Connect metadata stored before BYE");
                        }
                        Ok(Ok(Err(e))) => {
                            tracing::warn!(%contact_id, error = %e, "BYE without stored metadata; retrying the write in the background");
                        }
                        Ok(Err(_)) => {
                            tracing::warn!(%contact_id, "metadata write task vanished; BYE anyway");
                        }
                        Err(_) => {
                            tracing::warn!(%contact_id, "metadata write still running; BYE anyway");
                        }
                    }
                    leg.send_bye(ctx);
                }),
        );
    }
}

impl EscalationLeg {
    fn send_bye(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(call_id = %self.dialog.call_id, reason = %self.hand_back.reason, profile = self.profile_name(), "hand-back by BYE");
        self.sip.do_send(SendInDialog {
            dialog: self.dialog.clone(),
            method: Method::Bye,
            headers: self.bye_headers(),
            body: None,
            reply_to: self.reply_to.clone(),
        });
        ctx.run_later(BYE_ANSWER_TIMEOUT, |leg, ctx| {
            leg.finish(Err("no answer to BYE".into()), ctx);
        });
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The call ended without waiting for the hand-back (the caller hung up): nothing is left to
/// hand back, and nobody to report to.
impl Handler<StopLeg> for EscalationLeg {
    type Result = ();
    fn handle(&mut self, _: StopLeg, ctx: &mut Context<Self>) {
        self.finished = true;
        ctx.stop();
    }
}

impl Handler<ByeAnswered> for EscalationLeg {
    type Result = ();
    fn handle(&mut self, msg: ByeAnswered, ctx: &mut Context<Self>) {
        let result = match msg.status {
            // The caller is with the target: how the BYE went no longer matters.
            _ if self.refer_outcome.succeeded => Ok(()),
            Some(s) if (200..300).contains(&s) => Ok(()),
            // 481: the peer already forgot the dialog; the caller is gone either way.
            Some(s) => Err(format!("BYE answered {s}")),
            None => Err("BYE timed out".into()),
        };
        self.finish(result, ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use serde_json::{json, Value};
    use voxgate_engine::config::Config;
    use voxgate_engine::store::{
        Conversation, ConversationMessage, CredentialInfo, NewCredential, SessionRecord, Store,
        StoreError,
    };

    use super::*;

    type Log = Arc<Mutex<Vec<String>>>;

    fn push(log: &Log, entry: impl Into<String>) {
        log.lock().unwrap().push(entry.into());
    }

    /// A store whose metadata writes fail `failures` times (or always), optionally slowly,
    /// logging each attempt; everything else is unsupported.
    struct TestStore {
        log: Log,
        failures: AtomicU32,
        delay: Duration,
        attempts: AtomicU32,
        saved: Mutex<Option<(String, Value, Duration)>>,
    }

    impl TestStore {
        fn new(log: &Log, failures: u32, delay: Duration) -> Arc<TestStore> {
            Arc::new(TestStore {
                log: Arc::clone(log),
                failures: AtomicU32::new(failures),
                delay,
                attempts: AtomicU32::new(0),
                saved: Mutex::new(None),
            })
        }
    }

    fn unsupported<T>() -> Result<T, StoreError> {
        Err(StoreError::Invalid("not in this test".into()))
    }

    impl Store for TestStore {
        fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        fn put_session(&self, _: &SessionRecord) -> Result<(), StoreError> {
            unsupported()
        }
        fn get_session(&self, _: &str) -> Result<Option<SessionRecord>, StoreError> {
            unsupported()
        }
        fn find_session_by_call_id(&self, _: &str) -> Result<Option<SessionRecord>, StoreError> {
            unsupported()
        }
        fn list_sessions(
            &self,
            _: &str,
            _: usize,
            _: usize,
        ) -> Result<Vec<SessionRecord>, StoreError> {
            unsupported()
        }
        fn put_metadata(
            &self,
            contact_id: &str,
            value: &Value,
            ttl: Duration,
        ) -> Result<(), StoreError> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            // A slow backend, not a test wait: the leg must not hold the BYE for it.
            std::thread::sleep(self.delay);
            let failing = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                push(&self.log, "store failed");
                return Err(StoreError::Invalid("backend down".into()));
            }
            push(&self.log, "stored");
            *self.saved.lock().unwrap() = Some((contact_id.into(), value.clone(), ttl));
            Ok(())
        }
        fn get_metadata(&self, _: &str) -> Result<Option<Value>, StoreError> {
            unsupported()
        }
        fn put_conversation(&self, _: &Conversation) -> Result<(), StoreError> {
            unsupported()
        }
        fn append_message(&self, _: &str, _: &ConversationMessage) -> Result<bool, StoreError> {
            unsupported()
        }
        fn get_conversation(&self, _: &str) -> Result<Option<Conversation>, StoreError> {
            unsupported()
        }
        fn find_conversation_by_interaction(&self, _: &str) -> Result<Option<String>, StoreError> {
            unsupported()
        }
        fn add_credential(&self, _: &str) -> Result<NewCredential, StoreError> {
            unsupported()
        }
        fn verify_credential(&self, _: &str, _: &str) -> Result<bool, StoreError> {
            unsupported()
        }
        fn revoke_credential(&self, _: &str) -> Result<bool, StoreError> {
            unsupported()
        }
        fn list_credentials(&self) -> Result<Vec<CredentialInfo>, StoreError> {
            unsupported()
        }
        fn put_token(&self, _: &str, _: &str, _: i64) -> Result<(), StoreError> {
            unsupported()
        }
        fn check_token(&self, _: &str, _: i64) -> Result<Option<String>, StoreError> {
            unsupported()
        }
    }

    /// Stands in for the endpoint and the call: logs the BYE and the leg's reports.
    struct Probe {
        log: Log,
    }

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<SendInDialog> for Probe {
        type Result = ();
        fn handle(&mut self, msg: SendInDialog, _: &mut Context<Self>) {
            let reason = msg
                .headers
                .iter()
                .find(|(name, _)| name.eq_name("kore-reason"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let body = msg
                .body
                .map(|(_, b)| format!(" | {}", String::from_utf8_lossy(&b).trim_end()))
                .unwrap_or_default();
            push(&self.log, format!("{} {reason}{body}", msg.method));
        }
    }

    impl Handler<HandBackDone> for Probe {
        type Result = ();
        fn handle(&mut self, msg: HandBackDone, _: &mut Context<Self>) {
            let fell_back = msg
                .refer
                .fell_back
                .map(|cause| format!(" fell back: {cause}"))
                .unwrap_or_default();
            push(
                &self.log,
                format!("done {} {:?}{fell_back}", msg.profile, msg.result),
            );
        }
    }

    impl Handler<LegExited> for Probe {
        type Result = ();
        fn handle(&mut self, _: LegExited, _: &mut Context<Self>) {}
    }

    fn connect_trunk() -> TrunkConfig {
        let mut trunk = Config::embedded_default().trunks[0].clone();
        trunk.profile = Profile::AmazonConnect;
        trunk
    }

    fn data() -> ConnectMetadata {
        ConnectMetadata {
            contact_id: "contact-7".into(),
            session_id: "session-7".into(),
            variables: [("ringGroup".to_owned(), "agents".to_owned())].into(),
            metadata: json!({"x_metadata": "Hello"}),
            transcript_summary: "caller: agent please".into(),
        }
    }

    /// A leg on `trunk` reporting to a fresh probe, with Connect data for `store`.
    fn leg(trunk: TrunkConfig, store: Arc<TestStore>, log: &Log) -> EscalationLeg {
        let probe = Probe {
            log: Arc::clone(log),
        }
        .start();
        let node = NodeState::new(Config::embedded_default(), store);
        EscalationLeg {
            trunk,
            dialog: DialogId {
                call_id: "call-7".into(),
                local_tag: "l".into(),
                remote_tag: "r".into(),
            },
            sip: probe.clone().recipient(),
            reply_to: None,
            done: probe.clone().recipient(),
            refer_report: None,
            exited: probe.recipient(),
            hand_back: HandBack {
                reason: "TransferToAgent".into(),
                headers: Vec::new(),
            },
            handoff: None,
            refer: None,
            refer_outcome: ReferOutcome::default(),
            finished: false,
        }
        .with_connect(data(), &node)
    }

    fn fast_retries(mut leg: EscalationLeg, wait: Duration) -> EscalationLeg {
        if let Some(h) = leg.handoff.as_mut() {
            h.retry = RetryPolicy {
                retries: 3,
                first_backoff: Duration::from_millis(50),
            };
            h.wait = wait;
        }
        leg
    }

    /// Polls `cond` on the actix runtime until it holds or 10 s pass.
    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn entries(log: &Log) -> Vec<String> {
        log.lock().unwrap().clone()
    }

    #[actix_rt::test]
    async fn connect_metadata_is_stored_before_the_bye() {
        let log = Log::default();
        let store = TestStore::new(&log, 0, Duration::ZERO);
        let addr = leg(connect_trunk(), Arc::clone(&store), &log).start();
        eventually("the BYE", || {
            entries(&log).iter().any(|e| e.starts_with("BYE"))
        })
        .await;
        assert_eq!(entries(&log), ["stored", "BYE TransferToAgent"]);

        let (contact, value, ttl) = store.saved.lock().unwrap().clone().unwrap();
        assert_eq!(contact, "contact-7");
        assert_eq!(ttl, Duration::from_secs(86_400));
        assert_eq!(value["kore-instanceSessionId"], "session-7");
        assert_eq!(value["reason"], "TransferToAgent");
        assert_eq!(value["variables"]["ringGroup"], "agents");
        assert_eq!(value["metadata"]["x_metadata"], "Hello");
        assert_eq!(value["transcriptSummary"], "caller: agent please");

        addr.do_send(ByeAnswered { status: Some(200) });
        eventually("the report", || entries(&log).len() == 3).await;
        assert_eq!(entries(&log)[2], "done amazon-connect Ok(())");
    }

    #[actix_rt::test]
    async fn a_failing_store_does_not_hold_the_bye_and_is_retried() {
        let log = Log::default();
        let store = TestStore::new(&log, 2, Duration::ZERO);
        let leg = fast_retries(
            leg(connect_trunk(), Arc::clone(&store), &log),
            Duration::from_secs(5),
        );
        let _addr = leg.start();
        eventually("the retried write", || {
            entries(&log).iter().any(|e| e == "stored")
        })
        .await;
        // First attempt fails, the BYE goes out, two background retries later the write lands.
        assert_eq!(
            entries(&log),
            [
                "store failed",
                "BYE TransferToAgent",
                "store failed",
                "stored"
            ]
        );
        assert_eq!(store.attempts.load(Ordering::SeqCst), 3);
    }

    #[actix_rt::test]
    async fn retries_give_up_after_the_policy() {
        let log = Log::default();
        let store = TestStore::new(&log, u32::MAX, Duration::ZERO);
        let leg = fast_retries(
            leg(connect_trunk(), Arc::clone(&store), &log),
            Duration::from_secs(5),
        );
        let _addr = leg.start();
        eventually("all attempts", || {
            store.attempts.load(Ordering::SeqCst) == 4
        })
        .await;
        eventually("the BYE", || {
            entries(&log).iter().any(|e| e.starts_with("BYE"))
        })
        .await;
        assert_eq!(entries(&log)[1], "BYE TransferToAgent");
        assert!(store.saved.lock().unwrap().is_none());
    }

    #[actix_rt::test]
    async fn a_slow_store_does_not_hold_the_bye_past_the_wait() {
        let log = Log::default();
        let store = TestStore::new(&log, 0, Duration::from_millis(300));
        let leg = fast_retries(
            leg(connect_trunk(), Arc::clone(&store), &log),
            Duration::from_millis(20),
        );
        let _addr = leg.start();
        eventually("the late write", || {
            entries(&log).iter().any(|e| e == "stored")
        })
        .await;
        assert_eq!(entries(&log), ["BYE TransferToAgent", "stored"]);
    }

    #[actix_rt::test]
    async fn other_profiles_ignore_connect_data() {
        let log = Log::default();
        let store = TestStore::new(&log, 0, Duration::ZERO);
        let zoom = Config::embedded_default().trunks[0].clone();
        let leg = leg(zoom, Arc::clone(&store), &log);
        assert!(leg.handoff.is_none());
        let _addr = leg.start();
        eventually("the BYE", || !entries(&log).is_empty()).await;
        assert_eq!(entries(&log), ["BYE TransferToAgent"]);
        assert_eq!(store.attempts.load(Ordering::SeqCst), 0);
    }

    #[actix_rt::test]
    async fn a_failed_caller_refer_is_notified_before_the_fallback_bye() {
        let log = Log::default();
        let store = TestStore::new(&log, 0, Duration::ZERO);
        let mut trunk = connect_trunk();
        trunk.profile = Profile::Refer;
        trunk.refer.default_target = "sip:agents@cc.example".into();
        let plan = ReferPlan::new(
            &trunk,
            &ReferRequest {
                referred_by: "<sip:voxgate@192.0.2.1>".into(),
                ..ReferRequest::default()
            },
        );
        let caller = CallerSubscription {
            event: "refer;id=2".into(),
        };
        let addr = leg(trunk, store, &log)
            .with_refer(plan, Some(caller))
            .start();
        eventually("the REFER", || entries(&log).len() == 1).await;
        addr.do_send(ReferAnswered { status: Some(202) });
        addr.do_send(ReferNotified(
            voxgate_engine::sip::refer_notify::ReferNotify {
                status: 486,
                reason: "Busy Here".into(),
                terminated: true,
                id: None,
            },
        ));
        eventually("the BYE", || entries(&log).len() == 3).await;
        assert_eq!(
            entries(&log),
            [
                "REFER ",
                "NOTIFY  | SIP/2.0 486 Transfer Failed",
                "BYE TransferToAgent"
            ]
        );
        // Late news changes nothing once decided.
        addr.do_send(ReferAnswered { status: Some(603) });
        addr.do_send(ByeAnswered { status: Some(200) });
        eventually("the report", || entries(&log).len() == 4).await;
        assert_eq!(
            entries(&log)[3],
            "done refer Ok(()) fell back: final NOTIFY 486 Busy Here"
        );
    }

    #[actix_rt::test]
    async fn refer_without_a_target_falls_back_at_once() {
        let log = Log::default();
        let store = TestStore::new(&log, 0, Duration::ZERO);
        let mut trunk = connect_trunk();
        trunk.profile = Profile::Refer;
        let plan = ReferPlan::new(&trunk, &ReferRequest::default());
        let addr = leg(trunk, store, &log).with_refer(plan, None).start();
        eventually("the BYE", || entries(&log).len() == 1).await;
        assert_eq!(entries(&log), ["BYE TransferToAgent"]);
        addr.do_send(ByeAnswered { status: Some(200) });
        eventually("the report", || entries(&log).len() == 2).await;
        assert!(
            entries(&log)[1].starts_with("done refer Ok(()) fell back: no REFER target"),
            "{:?}",
            entries(&log)
        );
    }

    #[test]
    fn only_extension_headers_from_the_bot_pass() {
        assert!(is_safe_extension_header("X-Agent-Queue", "sales"));
        assert!(is_safe_extension_header(
            "kore-summary",
            "caller wants a refund"
        ));
        assert!(!is_safe_extension_header("Via", "SIP/2.0/UDP evil"));
        assert!(!is_safe_extension_header("Call-ID", "x"));
        assert!(!is_safe_extension_header("X-Bad", "a\r\nVia: injected"));
        assert!(!is_safe_extension_header("Bad Name", "x"));
    }
}
