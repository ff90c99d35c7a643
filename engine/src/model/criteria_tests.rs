use super::*;

#[test]
fn parses_criteria_as_plans_write_them() {
    let e = parse("L1.p95_ms < 2000").unwrap();
    assert_eq!((e.test.as_str(), e.metric.as_str()), ("L1", "p95_ms"));
    assert_eq!((e.op, e.value), (Op::Lt, Operand::Number(2000.0)));
    assert_eq!(parse("C1.stuck==0").unwrap().op, Op::Eq);
    assert_eq!(parse("L1.fail <= 3").unwrap().op, Op::Le);
    assert_eq!(parse("G1.ok == true").unwrap().value, Operand::Number(1.0));
    let windowed = parse("C1.during.error_rate < 0.01").unwrap();
    assert_eq!(
        (windowed.test.as_str(), windowed.metric.as_str()),
        ("C1", "during.error_rate")
    );
}

#[test]
fn a_criterion_names_its_test() {
    assert_eq!(parse("L1.p95_ms < 2000").unwrap().test_id(), "L1");
    let criterion = |expr: &str| Criterion {
        expr: expr.to_owned(),
        group: None,
        label: None,
        warn: None,
        level: None,
    };
    assert_eq!(criterion(" C2.stuck == 0").test_id().as_deref(), Some("C2"));
    assert_eq!(criterion("C2.stuck").test_id(), None);
}

#[test]
fn rejects_what_is_not_one_comparison() {
    assert!(parse("L1.fail").is_err());
    assert!(parse("fail == 0").is_err());
    assert!(parse("C1.during. == 0").is_err());
    assert!(parse("C1..p95_ms == 0").is_err());
    assert!(parse("L1.fail == zero").is_err());
    assert!(parse("L1.fail == 0 && L2.fail == 0").is_err());
}

#[test]
fn operators_hold_as_written() {
    assert!(Op::Lt.holds(1.0, 2.0));
    assert!(!Op::Lt.holds(2.0, 2.0));
    assert!(Op::Ge.holds(2.0, 2.0));
    assert!(Op::Ne.holds(1.0, 2.0));
}
