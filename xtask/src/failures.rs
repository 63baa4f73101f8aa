//! The names of the tests that failed, read from what the runners print, so that the closing summary
//! of `cargo xtask test` names them (and why, where the runner says) instead of only counting them.

/// Longest reason kept for one failure in the summary.
const REASON_CHARS: usize = 300;

/// `test NAME ... FAILED` lines of cargo's test harness (and wasm-bindgen-test-runner's).
pub fn cargo(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("test ")?;
            let name = rest.strip_suffix(" ... FAILED")?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// The `not ok N - NAME` lines of a TAP report (node:test's reporter, subtests indented), each with
/// the first line of its YAML block's `error:` when there is one.
pub fn tap(report: &str) -> Vec<String> {
    let lines: Vec<&str> = report.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("not ok ") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let name = rest
            .split_once(" - ")
            .map(|(_, n)| n)
            .unwrap_or(rest)
            .trim();
        // The YAML block: the lines after, more indented than the `not ok` line, up to its `...`.
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| {
                let t = l.trim_start();
                l.len() - t.len() > indent && t != "..."
            })
            .copied()
            .collect();
        // Its `error:` value, on that line or on the deeper-indented lines under it.
        let reason = block
            .iter()
            .position(|l| l.trim_start().starts_with("error:"))
            .map(|at| {
                let key = &block[at];
                let key_indent = key.len() - key.trim_start().len();
                let first = key.trim_start().trim_start_matches("error:").trim();
                let first = if first == "|-" || first == ">-" {
                    ""
                } else {
                    first
                };
                std::iter::once(first)
                    .chain(
                        block[at + 1..]
                            .iter()
                            .take_while(|l| {
                                l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent
                            })
                            .map(|l| l.trim()),
                    )
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let reason: String = reason.chars().take(REASON_CHARS).collect();
        found.push(if reason.is_empty() {
            name.to_string()
        } else {
            format!("{name}: {reason}")
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_names_each_failed_test_and_nothing_else() {
        let lines: Vec<String> = [
            "running 3 tests",
            "test a::passes ... ok",
            "test a::breaks ... FAILED",
            "test b::also_breaks ... FAILED",
            "test result: FAILED. 1 passed; 2 failed",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(cargo(&lines), ["a::breaks", "b::also_breaks"]);
    }

    #[test]
    fn tap_names_each_failed_test_with_its_error() {
        let report = "TAP version 13\n\
# Subtest: fine\n\
ok 1 - fine\n  ---\n  duration_ms: 3\n  ...\n\
# Subtest: breaks\n\
not ok 2 - breaks\n  ---\n  duration_ms: 9\n  failureType: 'testCodeFailure'\n  error: |-\n    expected completed\n    \n    got retrying\n  code: 'ERR_ASSERTION'\n  ...\n\
not ok 3 - no block\n\
# fail 2\n";
        assert_eq!(
            tap(report),
            ["breaks: expected completed got retrying", "no block"]
        );
    }

    #[test]
    fn tap_keeps_a_one_line_error() {
        let report =
            "not ok 1 - times out\n  ---\n  error: 'test timed out after 30000ms'\n  ...\n";
        assert_eq!(tap(report), ["times out: 'test timed out after 30000ms'"]);
    }

    /// What node 20's TAP reporter printed for a failed assertion and a test cancelled by its end.
    #[test]
    fn tap_reads_node_reports() {
        let report = r#"TAP version 13
# Subtest: fine
ok 1 - fine
  ---
  duration_ms: 0.954233
  ...
# Subtest: breaks
not ok 2 - breaks
  ---
  duration_ms: 1.127509
  location: '/app/tests/upload.test.mjs:3:1'
  failureType: 'testCodeFailure'
  error: |-
    the upload should complete
    + actual - expected
    
    + 'retrying'
    - 'completed'
  code: 'ERR_ASSERTION'
  name: 'AssertionError'
  expected: 'completed'
  actual: 'retrying'
  operator: 'strictEqual'
  stack: |-
    TestContext.<anonymous> (file:///app/tests/upload.test.mjs:3:31)
    Test.runInAsyncScope (node:async_hooks:206:9)
    Test.run (node:internal/test_runner/test:796:25)
    Test.processPendingSubtests (node:internal/test_runner/test:526:18)
    Test.postRun (node:internal/test_runner/test:889:19)
    Test.run (node:internal/test_runner/test:835:12)
    async Test.processPendingSubtests (node:internal/test_runner/test:526:7)
  ...
# Subtest: times
not ok 3 - times
  ---
  duration_ms: 10.308024
  location: '/app/tests/upload.test.mjs:4:1'
  failureType: 'cancelledByParent'
  error: 'Promise resolution is still pending but the event loop has already resolved'
  code: 'ERR_TEST_FAILURE'
  stack: |-
    process.emit (node:events:524:28)
  ...
1..3
# tests 3
# suites 0
# pass 1
# fail 1
# cancelled 1
# skipped 0
# todo 0
# duration_ms 161.554595
"#;
        assert_eq!(
            tap(report),
            [
                "breaks: the upload should complete + actual - expected + 'retrying' - 'completed'",
                "times: 'Promise resolution is still pending but the event loop has already resolved'",
            ]
        );
    }
}
