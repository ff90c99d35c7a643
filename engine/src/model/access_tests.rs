use super::*;

#[test]
fn a_new_share_link_does_not_print_its_token() {
    let link: ShareLink = serde_json::from_value(serde_json::json!({
        "id": 1, "run_id": "r", "created_by": "ann", "created_at_ms": 0,
        "expires_at_ms": 1, "revoked_at_ms": null
    }))
    .expect("a link");
    let share = NewShare {
        link,
        path: "/share/s3cr3t-token".to_owned(),
    };
    assert!(!format!("{share:?}").contains("s3cr3t-token"));
}

fn signoff(id: i64, who: &str, decision: Decision, digest: &str) -> SignOff {
    SignOff {
        id,
        run_id: "r".into(),
        approver: who.into(),
        decision,
        comment: String::new(),
        override_reason: None,
        evidence_version: 1,
        manifest_sha256: digest.into(),
        at_ms: id,
    }
}

#[test]
fn roles_include_the_weaker_ones() {
    assert!(Role::Admin.allows(Role::Approver));
    assert!(Role::Approver.allows(Role::Operator));
    assert!(!Role::Operator.allows(Role::Approver));
    assert!(!Role::Viewer.allows(Role::Operator));
    assert_eq!("approver".parse::<Role>(), Ok(Role::Approver));
    assert!("root".parse::<Role>().is_err());
}

#[test]
fn every_role_an_account_holds_is_choosable_and_agent_reads_nothing() {
    // The exhaustive match makes a new role fail to compile here until it
    // is listed.
    let every = |r: Role| match r {
        Role::Agent | Role::Viewer | Role::Operator | Role::Approver | Role::Admin => r,
    };
    for role in [
        Role::Agent,
        Role::Viewer,
        Role::Operator,
        Role::Approver,
        Role::Admin,
    ] {
        let role = every(role);
        assert!(Role::CHOOSABLE.contains(&role), "{role} cannot be chosen");
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
    }
    assert!(!Role::ALL.contains(&Role::Agent));
    assert!(!Role::Agent.allows(Role::Viewer));
    assert!(Role::Agent.drives_agents() && !Role::Viewer.drives_agents());
}

#[test]
fn one_go_is_enough_by_default_and_a_no_go_blocks() {
    let (_, d) = tally(&[signoff(1, "ann", Decision::Go, "d")], Some("d"), 1);
    assert_eq!(d, FinalDecision::Go { go: 1, required: 1 });
    let (_, d) = tally(
        &[
            signoff(1, "ann", Decision::Go, "d"),
            signoff(2, "bob", Decision::NoGo, "d"),
        ],
        Some("d"),
        1,
    );
    assert_eq!(
        d,
        FinalDecision::NoGo {
            by: vec!["bob".into()]
        }
    );
}

#[test]
fn a_later_signoff_supersedes_and_two_approvals_may_be_required() {
    let all = [
        signoff(1, "ann", Decision::NoGo, "d"),
        signoff(2, "ann", Decision::Go, "d"),
    ];
    let (views, d) = tally(&all, Some("d"), 2);
    assert!(views[0].superseded && !views[1].superseded);
    assert_eq!(d, FinalDecision::Pending { go: 1, required: 2 });
    let mut more = all.to_vec();
    more.push(signoff(3, "bob", Decision::Go, "d"));
    let (_, d) = tally(&more, Some("d"), 2);
    assert_eq!(d, FinalDecision::Go { go: 2, required: 2 });
}

#[test]
fn signoffs_on_other_evidence_are_void() {
    let (views, d) = tally(&[signoff(1, "ann", Decision::Go, "old")], Some("new"), 1);
    assert!(views[0].void);
    assert_eq!(d, FinalDecision::Pending { go: 0, required: 1 });
    let (views, _) = tally(&[signoff(1, "ann", Decision::Go, "old")], None, 1);
    assert!(views[0].void);
}

#[test]
fn share_links_expire_and_can_be_revoked() {
    let mut link = ShareLink {
        id: 1,
        run_id: "r".into(),
        created_by: "op".into(),
        created_at_ms: 0,
        expires_at_ms: 100,
        revoked_at_ms: None,
    };
    assert!(link.usable(99));
    assert!(!link.usable(100));
    link.revoked_at_ms = Some(5);
    assert!(!link.usable(10));
}
