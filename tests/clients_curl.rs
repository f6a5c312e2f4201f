//! Issue #7: README's curl examples, verbatim, against ghpool and the fake GitHub.
//!
//! Every `curl …` line of README's `sh` blocks runs with `sh -c` as written. The examples name
//! ghpool as `localhost:8080`, `ghpool:8080` or `$GHPOOL_URL`; a `~/.curlrc` with `connect-to`
//! sends them all to the test's ghpool on its ephemeral port, leaving the URL — and so the `Host`
//! header ghpool builds its links from — as README wrote it.

mod support;

use std::process::Command;
use std::time::Duration;

use support::clients::{acme_widgets, on_path, readme_commands, run, skipped, POOL_TOKEN, USER_TOKEN};

/// (a piece of the README command that picks it, what its output must contain).
const EXPECTED: &[(&str, &str)] = &[
    ("localhost:8080/repos/acme/widgets | jq .full_name", "\"acme/widgets\""),
    ("localhost:8080/stats | jq .identities", "\"login\": \"alice\""),
    ("curl -s http://ghpool:8080/repos/acme/widgets", "\"url\":\"http://ghpool:8080/repos/acme/widgets\""),
    ("page=2\" | jq", "35\n34\n33\n32\n31\n30\n29\n28\n27\n26\n"),
    ("grep -i '^link:'", "<http://ghpool:8080/repositories/1000/issues?per_page=10&page=2>; rel=\"next\""),
    ("/graphql", "{\"repository\":{\"issues\":{\"totalCount\":41}}}"),
    ("Authorization: token", "46"),
    ("curl -si localhost:8080/repos/acme/widgets/issues | head -20", "HTTP/1.1 200"),
];

#[test]
fn readme_curl_examples_work_verbatim() {
    for tool in ["curl", "jq"] {
        if on_path(tool).is_none() {
            skipped("readme_curl_examples_work_verbatim", &format!("{tool} is not installed"));
            return;
        }
    }
    let (fake, gp) = acme_widgets();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".curlrc"), format!("connect-to = \"::127.0.0.1:{}\"\n", gp.port())).unwrap();

    let commands = readme_commands("curl ");
    assert!(commands.len() >= EXPECTED.len(), "README's curl examples: {commands:#?}");
    for command in &commands {
        let picked: Vec<&(&str, &str)> = EXPECTED.iter().filter(|(key, _)| command.contains(key)).collect();
        assert_eq!(picked.len(), 1, "README's `{command}` needs exactly one expectation in this test");
        let mut sh = Command::new("sh");
        sh.args(["-c", command])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("GHPOOL_URL", "http://ghpool:8080")
            .env("GITHUB_TOKEN", USER_TOKEN);
        let out = run(&mut sh, Duration::from_secs(30)).ok(command);
        assert!(out.stdout.contains(picked[0].1), "`{command}` printed:\n{}", out.stdout);
        assert!(!out.stdout.contains(POOL_TOKEN), "`{command}` shows a pool token");
    }

    for request in fake.requests().into_iter().filter(|r| r.path != "/user") {
        let want =
            if request.method == "POST" && request.path.starts_with("/repos/") { USER_TOKEN } else { POOL_TOKEN };
        assert_eq!(request.token.as_deref(), Some(want), "{} {}", request.method, request.path);
    }
    assert_eq!(fake.requests_to("/repos/acme/widgets/issues").iter().filter(|r| r.method == "POST").count(), 1);
}
