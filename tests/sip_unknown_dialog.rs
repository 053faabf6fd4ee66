//! A BYE for a dialog the node does not have gets 481.

mod common;
use common::{Node, Sipp};

#[test]
fn bye_to_unknown_dialog_gets_481() {
    let node = Node::start_default();
    Sipp::new("bye_unknown.xml", node.sip).run_ok();
    Sipp::new("bye_unknown.xml", node.sip).tcp().run_ok();
    assert_eq!(
        node.metric("voxgate_sip_requests_refused_total{status=\"481\"}"),
        2.0
    );
}
