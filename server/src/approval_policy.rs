//! How many GO sign-offs a run needs, as the server decides it (separation
//! of duties): `--required-approvals ENV=N` per environment (repeatable, or
//! `SHAKEDOWN_REQUIRED_APPROVALS=staging=2,production=3`) and
//! `--default-required-approvals N` for the environments not named. A
//! plan may ask for more approvals than the server requires, never fewer:
//! a run needs the larger of the two.

use std::collections::BTreeMap;

/// What is wrong with an approvals option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalPolicyError {
    /// An item of `--required-approvals` is not `ENV=N` with N ≥ 1.
    #[error("--required-approvals {item:?}: expected ENV=N with N a positive whole number")]
    BadItem { item: String },
    /// `--default-required-approvals` is not a whole number ≥ 1.
    #[error("--default-required-approvals {value:?}: expected a positive whole number")]
    BadDefault { value: String },
    /// One environment is given two different numbers.
    #[error(
        "--required-approvals names {env:?} twice ({first} and {second}): name each environment once"
    )]
    Conflict {
        env: String,
        first: u32,
        second: u32,
    },
}

/// One `ENV=N` item of `--required-approvals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvApprovals {
    /// The environment's name in plans.
    pub env: String,
    /// GO sign-offs its runs need at least.
    pub required: u32,
}

/// A positive whole number (`1`, `02`), or `None`.
fn positive(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|n| *n >= 1)
}

/// Parses one `ENV=N` item (spaces around either side are ignored).
pub fn parse_item(item: &str) -> Result<EnvApprovals, ApprovalPolicyError> {
    let bad = || ApprovalPolicyError::BadItem {
        item: item.to_owned(),
    };
    let (env, n) = item.split_once('=').ok_or_else(bad)?;
    let env = env.trim();
    if env.is_empty() || env.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(EnvApprovals {
        env: env.to_owned(),
        required: positive(n).ok_or_else(bad)?,
    })
}

/// Parses `--default-required-approvals`.
pub fn parse_default(value: &str) -> Result<u32, ApprovalPolicyError> {
    positive(value).ok_or_else(|| ApprovalPolicyError::BadDefault {
        value: value.to_owned(),
    })
}

/// The approvals options of `shakedown serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ApprovalPolicyArgs {
    /// GO sign-offs the runs on environment ENV need at least (`ENV=N`;
    /// repeatable, or comma-separated). A plan may ask for more, never
    /// fewer.
    #[arg(
        long = "required-approvals",
        value_name = "ENV=N",
        env = "SHAKEDOWN_REQUIRED_APPROVALS",
        value_delimiter = ',',
        value_parser = parse_item
    )]
    pub required_approvals: Vec<EnvApprovals>,
    /// GO sign-offs the runs on environments not named by
    /// `--required-approvals` need at least.
    #[arg(
        long,
        value_name = "N",
        env = "SHAKEDOWN_DEFAULT_REQUIRED_APPROVALS",
        default_value = "1",
        value_parser = parse_default
    )]
    pub default_required_approvals: u32,
}

impl Default for ApprovalPolicyArgs {
    fn default() -> Self {
        ApprovalPolicyArgs {
            required_approvals: Vec::new(),
            default_required_approvals: 1,
        }
    }
}

impl ApprovalPolicyArgs {
    /// The policy, refusing an environment given two different numbers.
    pub fn policy(&self) -> Result<ApprovalPolicy, ApprovalPolicyError> {
        let mut per_env = BTreeMap::new();
        for item in &self.required_approvals {
            match per_env.insert(item.env.clone(), item.required) {
                Some(first) if first != item.required => {
                    return Err(ApprovalPolicyError::Conflict {
                        env: item.env.clone(),
                        first,
                        second: item.required,
                    })
                }
                _ => {}
            }
        }
        Ok(ApprovalPolicy {
            per_env,
            default: self.default_required_approvals.max(1),
        })
    }
}

/// The server's minimum GO sign-offs per environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    per_env: BTreeMap<String, u32>,
    default: u32,
}

impl Default for ApprovalPolicy {
    /// One approval everywhere: what the plan asks decides.
    fn default() -> Self {
        ApprovalPolicy {
            per_env: BTreeMap::new(),
            default: 1,
        }
    }
}

/// A run's effective requirement and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// GO sign-offs needed.
    pub required: u32,
    /// Where that number comes from, in words.
    pub source: String,
}

impl ApprovalPolicy {
    /// The server's minimum for environment `env`, and how to name it.
    fn minimum(&self, env: &str) -> (u32, String) {
        match self.per_env.get(env) {
            Some(n) => (*n, format!("the server's policy for {env}")),
            None => (self.default, "the server's default".to_owned()),
        }
    }

    /// What a run on `env` whose plan asks `asked` approvals needs: the
    /// larger of the two.
    pub fn requirement(&self, env: &str, asked: u32) -> Requirement {
        let asked = asked.max(1);
        let (minimum, server) = self.minimum(env);
        let (required, source) = match asked.cmp(&minimum) {
            std::cmp::Ordering::Less => (minimum, format!("{server} (the plan asks {asked})")),
            std::cmp::Ordering::Greater => (asked, format!("the plan ({server} is {minimum})")),
            std::cmp::Ordering::Equal => (asked, format!("the plan and {server}")),
        };
        Requirement { required, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        approvals: ApprovalPolicyArgs,
    }

    fn parse(args: &[&str]) -> Result<ApprovalPolicyArgs, String> {
        Cli::try_parse_from(std::iter::once("shakedown").chain(args.iter().copied()))
            .map(|c| c.approvals)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn items_are_env_equals_a_positive_whole_number() {
        assert_eq!(
            parse_item("staging=2"),
            Ok(EnvApprovals {
                env: "staging".into(),
                required: 2
            })
        );
        assert_eq!(parse_item(" production = 3 ").map(|e| e.required), Ok(3));
        for bad in [
            "staging=zero",
            "staging=0",
            "staging=-1",
            "staging=+2",
            "staging=1.5",
            "staging=",
            "=2",
            "staging",
            "",
            "my env=2",
            "staging=99999999999",
        ] {
            let e = parse_item(bad).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "--required-approvals {bad:?}: expected ENV=N with N a positive whole number"
                )
            );
        }
    }

    #[test]
    fn flags_repeat_and_split_on_commas() {
        let args = parse(&[
            "--required-approvals",
            "staging=2",
            "--required-approvals",
            "production=3,qa=1",
            "--default-required-approvals",
            "2",
        ])
        .expect("valid flags");
        let policy = args.policy().expect("no conflict");
        assert_eq!(policy.requirement("staging", 1).required, 2);
        assert_eq!(policy.requirement("production", 1).required, 3);
        assert_eq!(policy.requirement("qa", 1).required, 1);
        assert_eq!(policy.requirement("elsewhere", 1).required, 2);
    }

    #[test]
    fn without_flags_every_environment_needs_one() {
        let args = parse(&[]).expect("no flags");
        assert_eq!(args.default_required_approvals, 1);
        assert_eq!(args.policy(), Ok(ApprovalPolicy::default()));
        assert_eq!(
            ApprovalPolicyArgs::default().policy(),
            Ok(ApprovalPolicy::default())
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_the_item() {
        let e = parse(&["--required-approvals", "staging=2,staging=zero"]).expect_err("bad");
        assert!(
            e.contains(
                "--required-approvals \"staging=zero\": expected ENV=N with N a positive whole number"
            ),
            "{e}"
        );
        for bad in ["0", "two", "-1"] {
            let flag = format!("--default-required-approvals={bad}");
            let e = parse(&[&flag]).expect_err(bad);
            assert!(
                e.contains(&format!(
                    "--default-required-approvals {bad:?}: expected a positive whole number"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn one_environment_with_two_numbers_is_refused() {
        let args = parse(&["--required-approvals", "staging=2,staging=3"]).expect("items parse");
        assert_eq!(
            args.policy().map_err(|e| e.to_string()),
            Err("--required-approvals names \"staging\" twice (2 and 3): name each environment once"
                .to_owned())
        );
        let same = parse(&["--required-approvals", "staging=2,staging=2"]).expect("items parse");
        assert_eq!(
            same.policy().map(|p| p.requirement("staging", 1).required),
            Ok(2)
        );
    }

    #[test]
    fn a_plan_may_ask_for_more_never_fewer() {
        let policy = parse(&["--required-approvals", "staging=2"])
            .and_then(|a| a.policy().map_err(|e| e.to_string()))
            .expect("policy");
        assert_eq!(
            policy.requirement("staging", 1),
            Requirement {
                required: 2,
                source: "the server's policy for staging (the plan asks 1)".into()
            }
        );
        assert_eq!(
            policy.requirement("staging", 3),
            Requirement {
                required: 3,
                source: "the plan (the server's policy for staging is 2)".into()
            }
        );
        assert_eq!(
            policy.requirement("staging", 2).source,
            "the plan and the server's policy for staging"
        );
        assert_eq!(
            policy.requirement("dev", 0),
            Requirement {
                required: 1,
                source: "the plan and the server's default".into()
            }
        );
        // Names are matched exactly, as plans spell them.
        assert_eq!(policy.requirement("Staging", 1).required, 1);
    }
}
