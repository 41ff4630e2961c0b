//! `findings-bridge validate` as a user runs it: the real binary on real files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn validate(args: &[&str], env_config: Option<&PathBuf>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_findings-bridge"));
    cmd.arg("validate")
        .args(args)
        .env_remove("FINDINGS_BRIDGE_CONFIG");
    if let Some(path) = env_config {
        cmd.env("FINDINGS_BRIDGE_CONFIG", path);
    }
    cmd.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_file_prints_a_summary_and_exits_0() {
    let path = repo("examples/demo.yaml");
    let out = validate(&["-c", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{}: valid (1 rule, 3 accounts × 2 regions)\n",
            path.display()
        )
    );
}

#[test]
fn config_path_comes_from_the_environment_when_no_flag() {
    let path = repo("examples/seed.yaml");
    let out = validate(&[], Some(&path));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid (1 rule, 1 account × 1 region)"));
}

#[test]
fn broken_file_lists_every_problem_on_stderr_and_exits_1() {
    let path = repo("crates/model/tests/fixtures/broken.yaml");
    let shown = path.to_str().unwrap();
    let out = validate(&["-c", shown], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{shown}:")))
        .collect();
    assert_eq!(
        problems.len(),
        16,
        "15 problems and a summary line:\n{stderr}"
    );
    assert!(stderr.contains(&format!(
        "{shown}:30:11: rules[1].name: duplicate rule name \"guardduty\""
    )));
    assert!(stderr.contains(&format!(
        "{shown}:8:29: accounts.regions[1]: unknown AWS region \"mars-north-1\""
    )));
    assert!(
        stderr.ends_with(&format!("{shown}: invalid, 15 problems\n")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("abcdef0123456789"),
        "the literal secret leaked:\n{stderr}"
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let path = repo("examples/does-not-exist.yaml");
    let out = validate(&["-c", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read the file"),
        "{}",
        text(&out.stderr)
    );
}
