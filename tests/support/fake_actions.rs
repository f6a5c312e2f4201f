//! The fake's GitHub Actions runs (issue #7: `gh run list` and `gh run view` read them over REST):
//! every repository has workflow `CI` (id 7) with one successful push run (id 700).

use serde_json::{json, Value};

use super::{Reply, Repo};

const WORKFLOW_ID: u64 = 7;
const RUN_ID: u64 = 700;

/// The answer to `GET /repos/{o}/{r}/actions/…` (`rest` after `actions`), if the fake models it.
pub(super) fn answer(base: &str, repo: &Repo, rest: &[&str]) -> Option<Reply> {
    let run = run(base, repo);
    let value = match rest {
        ["runs"] => json!({ "total_count": 1, "workflow_runs": [run] }),
        ["runs", id] if *id == RUN_ID.to_string() => run,
        ["runs", id, "jobs"] if *id == RUN_ID.to_string() => json!({ "total_count": 0, "jobs": [] }),
        ["runs", id, "artifacts"] if *id == RUN_ID.to_string() => json!({ "total_count": 0, "artifacts": [] }),
        ["workflows"] => json!({ "total_count": 1, "workflows": [workflow(base, repo)] }),
        ["workflows", id] if *id == WORKFLOW_ID.to_string() => workflow(base, repo),
        _ => return None,
    };
    Some(Reply::json(200, &value))
}

fn workflow(base: &str, repo: &Repo) -> Value {
    let (owner, name) = (&repo.owner, &repo.name);
    json!({
        "id": WORKFLOW_ID, "node_id": "W_fake7", "name": "CI", "path": ".github/workflows/ci.yml", "state": "active",
        "url": format!("{base}/repos/{owner}/{name}/actions/workflows/{WORKFLOW_ID}"),
        "html_url": format!("https://github.com/{owner}/{name}/actions/workflows/ci.yml"),
    })
}

fn run(base: &str, repo: &Repo) -> Value {
    let (owner, name) = (&repo.owner, &repo.name);
    let api = format!("{base}/repos/{owner}/{name}/actions/runs/{RUN_ID}");
    json!({
        "id": RUN_ID, "name": "CI", "display_title": "Make widgets faster", "run_number": 12, "run_attempt": 1,
        "event": "push", "status": "completed", "conclusion": "success", "workflow_id": WORKFLOW_ID,
        "head_branch": "main", "head_sha": "0123456789abcdef0123456789abcdef01234567",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:01:30Z",
        "run_started_at": "2024-01-01T00:00:00Z",
        "url": api, "jobs_url": format!("{api}/jobs"), "artifacts_url": format!("{api}/artifacts"),
        "html_url": format!("https://github.com/{owner}/{name}/actions/runs/{RUN_ID}"),
        "head_repository": { "full_name": format!("{owner}/{name}"), "owner": { "login": owner } },
    })
}
