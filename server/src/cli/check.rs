//! `shakedown check PLAN`: validates a plan without sending anything.

use engine::plan::{load_file, LoadedPlan, TestKind};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `shakedown check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The plan file.
    pub plan: PathBuf,
}

/// Prints `OK` and a summary, or every problem with its position (exit 2).
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    match load_file(&args.plan) {
        Ok(loaded) => {
            print!("{}", summary(&loaded));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// What a valid plan holds, in a few lines.
pub fn summary(loaded: &LoadedPlan) -> String {
    let plan = &loaded.plan;
    let mut out = format!(
        "OK {}: plan {:?} (sha256 {})\n",
        loaded.file, plan.plan.name, loaded.sha256
    );
    for (name, env) in &plan.environments {
        out.push_str(&format!("  environment {name}: {}\n", env.base_url));
    }
    for (name, service) in &plan.services {
        let method = match &service.restart {
            engine::plan::RestartMethod::Process(_) => "process",
            engine::plan::RestartMethod::Command(_) => "command",
            engine::plan::RestartMethod::Http(_) => "http",
            engine::plan::RestartMethod::Railway(_) => "railway",
        };
        out.push_str(&format!("  service {name}: restart by {method}\n"));
    }
    for test in &plan.tests {
        let alongside = test
            .alongside
            .as_deref()
            .map(|other| format!(", alongside {other}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  test {} ({}{alongside}): {}\n",
            test.id,
            test.kind.name(),
            describe(&test.kind)
        ));
    }
    out.push_str(&format!("  {} criteria\n", plan.criteria.len()));
    out
}

fn describe(kind: &TestKind) -> String {
    match kind {
        TestKind::HttpLoad(spec) => {
            let what = format!("{} {}", spec.method.as_str(), spec.path);
            let c = spec.concurrency.map_or(0, |c| c.get());
            match (spec.rate, spec.rounds, spec.duration_s) {
                (Some(rate), _, Some(d)) => format!("{what}, open model {rate}/s for {d} s"),
                (None, Some(rounds), _) => format!("{what}, closed model {c} × {rounds} rounds"),
                (None, None, Some(d)) => format!("{what}, closed model {c} workers for {d} s"),
                _ => what,
            }
        }
        TestKind::JobWorkload(spec) => spec
            .mix
            .iter()
            .map(|m| match (m.count, m.weight) {
                (Some(n), _) => format!("{n} {}", m.kind),
                (None, Some(w)) => format!("{} (weight {w})", m.kind),
                (None, None) => m.kind.clone(),
            })
            .collect::<Vec<_>>()
            .join(" + "),
        TestKind::Stream(spec) => {
            let exports = spec
                .exports
                .as_ref()
                .and_then(|e| e.count)
                .map_or(0, |c| c.get());
            format!("{} SSE sessions + {exports} exports", spec.sessions)
        }
        TestKind::Assert(spec) => format!(
            "{} {} with {} checks",
            spec.method.as_str(),
            spec.path,
            spec.checks.len()
        ),
        TestKind::Chaos(spec) => format!(
            "{} during {} runs + {} SSE sessions",
            match &spec.fault {
                Some(engine::plan::ChaosFault::Network(n)) =>
                    format!("{} on link {} {}", n.toxic.name(), n.link, n.held()),
                None => format!("restart {}", spec.service.as_deref().unwrap_or("?")),
            },
            spec.jobs
                .as_ref()
                .and_then(|j| j.count)
                .map_or(0, |c| c.get()),
            spec.streams.as_ref().map_or(0, |s| s.sessions.get())
        ),
        TestKind::StorageProbe(_) => {
            "write, read back and delete an object in the bucket".to_owned()
        }
        TestKind::Health(_) => "readiness dependencies and bucket isolation".to_owned(),
    }
}
