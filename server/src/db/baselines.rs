//! Baselines pinned by approvers: for a plan and an environment, the run
//! relative criteria (`baseline.L1.p95_ms`) compare with instead of the
//! last GO run. Pinning again replaces the pin; every pin is audit-logged
//! by the API that made it.

use super::{column, db_error, now_ms, Db};
use engine::access::BaselinePin;
use engine::run::RunStatus;
use engine::store::{RunStore, StoreError};

impl Db {
    /// Pins `run_id` as the baseline of its plan in its environment (the
    /// run's own plan and environment); the run must be finished.
    pub async fn pin_baseline(&self, run_id: &str, actor: &str) -> Result<BaselinePin, StoreError> {
        let run = self.get_run(run_id).await?;
        if run.status != RunStatus::Finished {
            return Err(StoreError::Conflict(format!(
                "run {run_id} is {}; only a finished run can be a baseline",
                run.status.as_str()
            )));
        }
        let pin = BaselinePin {
            plan: run.plan,
            environment: run.environment,
            run_id: run_id.to_owned(),
            pinned_by: actor.to_owned(),
            pinned_at_ms: now_ms(),
        };
        sqlx::query(
            "INSERT INTO baseline_pins (plan, environment, run_id, pinned_by, pinned_at_ms) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (plan, environment) DO UPDATE SET run_id = excluded.run_id, \
             pinned_by = excluded.pinned_by, pinned_at_ms = excluded.pinned_at_ms",
        )
        .bind(&pin.plan)
        .bind(&pin.environment)
        .bind(&pin.run_id)
        .bind(&pin.pinned_by)
        .bind(pin.pinned_at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(pin)
    }

    /// The pinned baseline of a plan in an environment, if any.
    pub async fn baseline_pin(
        &self,
        plan: &str,
        environment: &str,
    ) -> Result<Option<BaselinePin>, StoreError> {
        let row = sqlx::query(
            "SELECT plan, environment, run_id, pinned_by, pinned_at_ms FROM baseline_pins \
             WHERE plan = $1 AND environment = $2",
        )
        .bind(plan)
        .bind(environment)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| {
            Ok(BaselinePin {
                plan: column(&row, "plan")?,
                environment: column(&row, "environment")?,
                run_id: column(&row, "run_id")?,
                pinned_by: column(&row, "pinned_by")?,
                pinned_at_ms: column(&row, "pinned_at_ms")?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use engine::run::Verdict;

    async fn exercise(db: &Db) {
        let a = testing::new_run(db, "p", "staging").await;
        let b = testing::new_run(db, "p", "staging").await;
        assert_eq!(db.baseline_pin("p", "staging").await.unwrap(), None);
        // Only a finished run can be pinned.
        let refused = db.pin_baseline(&a.id, "alice").await.unwrap_err();
        assert!(
            refused.to_string().contains("only a finished run"),
            "{refused}"
        );
        for run in [&a, &b] {
            db.set_status(&run.id, RunStatus::Finished, Some(Verdict::NoGo))
                .await
                .unwrap();
        }
        let pin = db.pin_baseline(&a.id, "alice").await.unwrap();
        assert_eq!(
            (pin.plan.as_str(), pin.environment.as_str()),
            ("p", "staging")
        );
        // Pinning again replaces the pin.
        db.pin_baseline(&b.id, "bob").await.unwrap();
        let now = db.baseline_pin("p", "staging").await.unwrap().unwrap();
        assert_eq!(
            (now.run_id.as_str(), now.pinned_by.as_str()),
            (b.id.as_str(), "bob")
        );
        let pinned = db.pinned_baseline("p", "staging").await.unwrap();
        assert_eq!(pinned, Some((b.id.clone(), "bob".to_owned())));
        // Another environment has none.
        assert_eq!(db.pinned_baseline("p", "prod").await.unwrap(), None);
        let missing = db.pin_baseline("no-such-run", "alice").await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
    }

    #[tokio::test]
    async fn baselines_are_pinned_in_sqlite() {
        let (db, _dir) = testing::sqlite().await;
        exercise(&db).await;
    }

    #[tokio::test]
    async fn baselines_are_pinned_in_postgres() {
        if let Some(db) = testing::postgres().await {
            exercise(&db).await;
        }
    }
}
