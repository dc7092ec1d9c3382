//! Garbage collection of siblings: the `gc_max_siblings` rule's validity as on the node, and the
//! oldest siblings deleted by insertion order, silently.

use super::*;

fn gc_rule(max: f64, deleted: f64) -> SimpleOp {
    SimpleOp::set_rule(
        "/apps/demo/jobs/$id",
        json!({".rule": {"state": {"gc_max_siblings": max, "gc_num_siblings_deleted": deleted}}}),
    )
}

fn job_labels(t: &T) -> Vec<String> {
    t.state
        .tree(TreeKind::Values)
        .get(&["apps", "demo", "jobs"])
        .map(|n| n.labels_by_age())
        .unwrap_or_default()
}

#[test]
fn gc_rule_validity_follows_the_node() {
    let mut t = T::new();
    create_app(&mut t);
    // Block 1: `min_gc_num_siblings_deleted` is still genesis's 100 (ain-node-semantics.md §2.1).
    assert_eq!(
        t.run(SK, gc_rule(10.0, 10.0).into(), -1).result["code"],
        10503
    );
    t.block = 2;
    t.ok(SK, gc_rule(10.0, 10.0));
    for bad in [
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 9}),
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 21}),
        json!({"gc_max_siblings": 20}),
        json!({"gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": 0, "gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": "20", "gc_num_siblings_deleted": 10}),
        json!({"gc_max_siblings": 20, "gc_num_siblings_deleted": 10, "keep": 1}),
    ] {
        let op = SimpleOp::set_rule("/apps/demo/jobs/$id", json!({".rule": {"state": bad}}));
        assert_eq!(t.run(SK, op.into(), -1).result["code"], 10503, "{bad}");
    }
}

#[test]
fn gc_deletes_the_oldest_siblings_by_insertion_silently() {
    let mut t = T::new();
    create_app(&mut t);
    t.block = 2;
    t.ok(SK, gc_rule(20.0, 10.0));
    // Labels in descending order, so insertion order is not label order.
    let label = |i: usize| format!("j{:02}", 99 - i);
    for i in 0..20 {
        t.ok(
            SK,
            SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(i)), json!(i)),
        );
    }
    assert_eq!(job_labels(&t).len(), 20, "not over gc_max_siblings yet");
    // A deeper write under an existing job also runs gc, with nothing to do.
    t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/response", label(0)), json!("r")),
    );
    assert_eq!(job_labels(&t).len(), 20);
    // The 21st: 21 > 20, so the 10 oldest go, leaving 20 + 1 - 10 = 11; one event only.
    let e = t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(20)), json!(20)),
    );
    assert_eq!(e.events.len(), 1, "gc deletions fire no VALUE_CHANGED");
    let want: Vec<String> = (10..21).map(label).collect();
    assert_eq!(job_labels(&t), want);
    // A failed tx restores what its gc deleted, with the original order.
    for i in 21..30 {
        t.ok(
            SK,
            SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(i)), json!(i)),
        );
    }
    let before = job_labels(&t);
    assert_eq!(before.len(), 20);
    let failing = Operation::Set(vec![
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(30)), json!(30)),
        SimpleOp::set_value("/nope", json!(1)),
    ]);
    assert!(codes::is_failed_tx(&t.run(SK, failing, -1).result));
    assert_eq!(job_labels(&t), before, "gc undone with the tx");
    t.ok(
        SK,
        SimpleOp::set_value(format!("/apps/demo/jobs/{}/request", label(31)), json!(31)),
    );
    let mut want: Vec<String> = before[10..].to_vec();
    want.push(label(31));
    assert_eq!(job_labels(&t), want);
    // An overwrite keeps a label's age (no re-insertion, no gc deletion).
    t.ok(
        SK,
        SimpleOp::set_value(
            format!("/apps/demo/jobs/{}/request", want[0]),
            json!("again"),
        ),
    );
    assert_eq!(job_labels(&t), want);
}
