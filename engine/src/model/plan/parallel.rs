//! Tests that run together: a test with `alongside = "L1"` starts together
//! with test `L1` and runs concurrently with it. Tests joined that way,
//! directly or through one another (`L2` alongside `L1`, `C1` alongside
//! `L2`), form a group; the members of a group are consecutive in the plan
//! (the checks in `validate` refuse anything else), so groups run one after
//! another in plan order, and a group ends when all of its members have
//! finished. A test without `alongside` is a group of its own: a plan
//! without the field runs its tests one at a time, in order, as it always
//! did.

use super::TestSpec;
use std::ops::Range;

/// The plan's tests as groups that run one after another: the positions of
/// each group's members, consecutive and in plan order. A test whose
/// `alongside` names no test of its group's run so far (a test left out of
/// the run, or a plan that was not validated) starts a group of its own.
pub fn groups(tests: &[TestSpec]) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (i, test) in tests.iter().enumerate() {
        let joins = match (test.alongside.as_deref(), groups.last()) {
            (Some(id), Some(last)) => tests[last.clone()].iter().any(|t| t.id == id),
            _ => false,
        };
        match groups.last_mut() {
            Some(last) if joins => last.end = i + 1,
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// Keeps only the tests `keep` accepts (a run of some of the plan's
/// tests). The tests kept of a group still run together: each one's
/// `alongside` is pointed at the first kept member of its group, and the
/// first kept member, when it was not the first of the group, runs
/// alongside nothing (it leads what is left of the group).
pub fn keep_only(tests: &mut Vec<TestSpec>, keep: impl Fn(&TestSpec) -> bool) {
    let mut kept = Vec::with_capacity(tests.len());
    for range in groups(tests) {
        let mut leader: Option<String> = None;
        for test in &tests[range] {
            if !keep(test) {
                continue;
            }
            let mut test = test.clone();
            match &leader {
                Some(id) => test.alongside = Some(id.clone()),
                None => {
                    test.alongside = None;
                    leader = Some(test.id.clone());
                }
            }
            kept.push(test);
        }
    }
    *tests = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Vec<TestSpec> {
        #[derive(serde::Deserialize)]
        struct Tests {
            tests: Vec<TestSpec>,
        }
        toml::from_str::<Tests>(text).expect("tests").tests
    }

    const TESTS: &str = r#"
[[tests]]
id = "A"
health = {}
[[tests]]
id = "L1"
health = {}
[[tests]]
id = "L2"
alongside = "L1"
health = {}
[[tests]]
id = "C1"
alongside = "L2"
health = {}
[[tests]]
id = "Z"
health = {}
"#;

    fn ids(tests: &[TestSpec]) -> Vec<(String, Option<String>)> {
        tests
            .iter()
            .map(|t| (t.id.clone(), t.alongside.clone()))
            .collect()
    }

    #[test]
    fn alongside_joins_tests_into_consecutive_groups() {
        let tests = plan(TESTS);
        assert_eq!(groups(&tests), vec![0..1, 1..4, 4..5]);
        assert_eq!(groups(&plan(&TESTS.replace("alongside", "title"))).len(), 5);
        assert!(groups(&[]).is_empty());
    }

    #[test]
    fn a_test_alongside_a_test_outside_its_run_leads_a_group() {
        // Z names A, which is not in the group just before it.
        let tests = plan(&format!("{TESTS}alongside = \"A\"\n"));
        assert_eq!(groups(&tests), vec![0..1, 1..4, 4..5]);
    }

    #[test]
    fn leaving_out_a_groups_first_test_keeps_the_rest_together() {
        let mut tests = plan(TESTS);
        keep_only(&mut tests, |t| t.id != "L1");
        assert_eq!(
            ids(&tests),
            [
                ("A".to_owned(), None),
                ("L2".to_owned(), None),
                ("C1".to_owned(), Some("L2".to_owned())),
                ("Z".to_owned(), None),
            ]
        );
        assert_eq!(groups(&tests), vec![0..1, 1..3, 3..4]);

        let mut tests = plan(TESTS);
        keep_only(&mut tests, |t| t.id != "L2");
        assert_eq!(
            ids(&tests)[1..3],
            [
                ("L1".to_owned(), None),
                ("C1".to_owned(), Some("L1".to_owned())),
            ]
        );
        assert_eq!(groups(&tests), vec![0..1, 1..3, 3..4]);
    }
}
