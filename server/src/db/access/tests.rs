//! Unit tests of the access tables on SQLite and PostgreSQL: users,
//! sessions, API tokens, sign-offs, share links and the audit log.

use super::*;
use crate::db::testing;
use engine::access::Decision;

async fn exercise(db: Db) {
    let user = db
        .add_user("ann", Role::Approver, "$argon2id$x", 5)
        .await
        .unwrap();
    assert_eq!(user.role, Role::Approver);
    let again = db.add_user("ann", Role::Viewer, "h", 6).await.unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    let creds = db.credentials("ann").await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "$argon2id$x");
    assert!(db.credentials("nobody").await.unwrap().is_none());

    db.add_session("s1", "ann", 10, 100).await.unwrap();
    assert_eq!(
        db.session_user("s1", 50).await.unwrap().unwrap().name,
        "ann"
    );
    assert!(
        db.session_user("s1", 100).await.unwrap().is_none(),
        "expired"
    );
    assert!(db.session_user("s2", 50).await.unwrap().is_none());
    db.update_user("ann", None, None, Some(true)).await.unwrap();
    assert!(
        db.session_user("s1", 50).await.unwrap().is_none(),
        "ended by the change"
    );
    db.add_session("s3", "ann", 10, 100).await.unwrap();
    assert!(
        db.session_user("s3", 50).await.unwrap().is_none(),
        "disabled user"
    );
    let ann = db
        .update_user("ann", Some(Role::Admin), None, Some(false))
        .await
        .unwrap();
    assert_eq!(ann.role, Role::Admin);
    assert!(!ann.disabled);

    db.add_api_token("t1", "ann", "ci", 10, 1000).await.unwrap();
    assert_eq!(
        db.api_token_user("t1", 20).await.unwrap().unwrap().name,
        "ann"
    );
    assert!(db
        .add_api_token("t2", "ghost", "ci", 10, 1000)
        .await
        .is_err());
    api_tokens(&db).await;

    let run = testing::new_run(&db, "p", "e").await;
    for (decision, comment) in [(Decision::NoGo, "first"), (Decision::Go, "second")] {
        db.add_signoff(NewSignOff {
            run_id: run.id.clone(),
            approver: "ann".into(),
            decision,
            comment: comment.into(),
            override_reason: None,
            evidence_version: 1,
            manifest_sha256: "abc".into(),
            at_ms: 30,
        })
        .await
        .unwrap();
    }
    let all = db.signoffs(&run.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id < all[1].id);
    assert_eq!(all[1].decision, Decision::Go);

    let link = db.add_share(&run.id, "h1", "ann", 1, 500).await.unwrap();
    assert_eq!(db.share_by_token("h1").await.unwrap().unwrap().id, link.id);
    let revoked = db.revoke_share(&run.id, link.id, 7).await.unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(7));
    assert!(db.revoke_share("other", link.id, 8).await.is_err());
    assert_eq!(db.shares(&run.id).await.unwrap().len(), 1);

    db.audit("ann", "login", "ann", "", 1).await.unwrap();
    db.audit("ann", "signoff", &run.id, "go", 2).await.unwrap();
    let log = db.audit_log(10).await.unwrap();
    assert_eq!(log[0].action, "signoff");
    assert_eq!(log[1].action, "login");
}

/// Tokens are listed by id (never the token), revoked by id, and end
/// with a new password or disabling, not with a role change.
async fn api_tokens(db: &Db) {
    db.add_user("tia", Role::Operator, "$argon2id$x", 5)
        .await
        .unwrap();
    let digests = [
        "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111",
        "aaaaaaaaaaaa2222222222222222222222222222222222222222222222222222",
        "bbbbbbbbbbbb3333333333333333333333333333333333333333333333333333",
    ];
    for (i, d) in digests.iter().enumerate() {
        db.add_api_token(d, "tia", &format!("label{i}"), 10 + i as i64, 1000)
            .await
            .unwrap();
    }
    let mine = db.api_tokens(Some("tia")).await.unwrap();
    assert_eq!(mine.len(), 3);
    assert_eq!(mine[0].id, "aaaaaaaaaaaa");
    assert_eq!(mine[0].label, "label0");
    assert_eq!(db.api_tokens(None).await.unwrap().len(), 4, "ann's too");
    assert!(db.api_tokens(Some("nobody")).await.unwrap().is_empty());
    let ambiguous = db.revoke_api_token("aaaaaaaaaaaa").await.unwrap_err();
    assert!(
        ambiguous.to_string().contains("more than one"),
        "{ambiguous}"
    );
    assert!(db.revoke_api_token("aaaa").await.is_err(), "too short");
    assert!(db.revoke_api_token("aaaaaaaa%").await.is_err(), "not hex");
    assert!(db.revoke_api_token("cccccccccccc").await.is_err());
    let gone = db.revoke_api_token("BBBBBBBBBBBB").await.unwrap();
    assert_eq!(gone.label, "label2");
    assert!(db.api_token_user(digests[2], 20).await.unwrap().is_none());
    db.revoke_api_token("aaaaaaaaaaaa2").await.unwrap();
    assert!(db.api_token_user(digests[0], 20).await.unwrap().is_some());
    // A role change keeps tokens; a new password ends them.
    db.update_user("tia", Some(Role::Approver), None, None)
        .await
        .unwrap();
    assert!(db.api_token_user(digests[0], 20).await.unwrap().is_some());
    db.update_user("tia", None, Some("$argon2id$y"), None)
        .await
        .unwrap();
    assert!(db.api_token_user(digests[0], 20).await.unwrap().is_none());
    assert!(db.api_tokens(Some("tia")).await.unwrap().is_empty());
    // Disabling ends them too, for good.
    db.add_api_token(digests[1], "tia", "again", 30, 1000)
        .await
        .unwrap();
    db.update_user("tia", None, None, Some(true)).await.unwrap();
    db.update_user("tia", None, None, Some(false))
        .await
        .unwrap();
    assert!(db.api_token_user(digests[1], 40).await.unwrap().is_none());
}

#[tokio::test]
async fn access_on_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    exercise(db).await;
}

#[tokio::test]
async fn access_on_postgres() {
    if let Some(db) = testing::postgres().await {
        exercise(db).await;
    }
}
