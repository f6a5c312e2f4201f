//! The fake GitHub's GraphQL endpoint answers as GitHub does (issue #7): what gh, PyGithub and
//! Octokit rely on when they go through ghpool to it.

mod support;

use serde_json::{json, Value};
use support::fake_github::FakeGithub;
use support::ghpool::client;

const TOKEN: &str = "ghp_fakeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn fake() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN, "alice");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 45);
    fake
}

fn graphql(fake: &FakeGithub, body: Value) -> Value {
    let resp = client().post(format!("{}/graphql", fake.base_url())).bearer_auth(TOKEN).json(&body).send().unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

#[test]
fn connections_page_with_cursors_and_filter_by_state() {
    let fake = fake();
    let query = "query($after: String) { repository(owner: \"ACME\", name: \"widgets\") {
        issues(first: 20, after: $after, states: [OPEN]) { totalCount nodes { number } pageInfo { hasNextPage endCursor } } } }";
    let mut numbers = Vec::new();
    let mut after = Value::Null;
    for _ in 0..3 {
        let answer = graphql(&fake, json!({ "query": query, "variables": { "after": after } }));
        let issues = &answer["data"]["repository"]["issues"];
        assert_eq!(issues["totalCount"], 41, "45 issues, every tenth closed");
        numbers.extend(issues["nodes"].as_array().unwrap().iter().map(|n| n["number"].as_u64().unwrap()));
        after = issues["pageInfo"]["endCursor"].clone();
        if issues["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    assert_eq!(numbers, (1..=45).rev().filter(|n| n % 10 != 0).collect::<Vec<_>>());
}

#[test]
fn fragments_aliases_and_type_conditions_shape_the_answer() {
    let fake = fake();
    let pull = fake.add_pull_request("acme", "widgets", "Faster");
    let query = "fragment who on Actor { login }
        query Q($n: Int!, $p: Int!) { repository(owner: \"acme\", name: \"widgets\") {
            first: issueOrPullRequest(number: $n) { __typename ...on Issue { title author { ...who } } ...on PullRequest { headRefName } }
            second: issueOrPullRequest(number: $p) { __typename ...on Issue { title } ...on PullRequest { headRefName } }
        } }";
    let answer = graphql(&fake, json!({ "query": query, "variables": { "n": 3, "p": pull }, "operationName": "Q" }));
    assert_eq!(
        answer["data"]["repository"],
        json!({
            "first": { "__typename": "Issue", "title": "Issue 3", "author": { "login": "octocat" } },
            "second": { "__typename": "PullRequest", "headRefName": format!("feature-{pull}") },
        })
    );
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[test]
fn unknown_objects_are_graphql_not_found_errors() {
    let fake = fake();
    let answer = graphql(&fake, json!({ "query": "{ repository(owner: \"acme\", name: \"nope\") { id } }" }));
    assert_eq!(answer["data"]["repository"], Value::Null);
    assert_eq!(answer["errors"][0]["type"], "NOT_FOUND");
    assert_eq!(answer["errors"][0]["path"], json!(["repository"]));
}

#[test]
fn add_comment_is_a_mutation_the_fake_remembers() {
    let fake = fake();
    let mutation = "mutation CommentCreate($input: AddCommentInput!) { addComment(input: $input) { commentEdge { node { url } } } }";
    let input = json!({ "subjectId": "I_fake1000_3", "body": "hi" });
    let answer = graphql(&fake, json!({ "query": mutation, "variables": { "input": input } }));
    let url = &answer["data"]["addComment"]["commentEdge"]["node"]["url"];
    assert!(url.as_str().unwrap().starts_with("https://github.com/acme/widgets/issues/3#issuecomment-"), "{answer}");
    assert_eq!(fake.comments_on("acme", "widgets", 3), [("alice".to_string(), "hi".to_string())]);
    let calls = fake.graphql_calls();
    assert_eq!((calls[0].operation.as_deref(), calls[0].kind), (Some("CommentCreate"), "mutation"));
    let count = graphql(
        &fake,
        json!({ "query": "{ repository(owner: \"acme\", name: \"widgets\") { issue(number: 3) { comments { totalCount } } } }" }),
    );
    assert_eq!(count["data"]["repository"]["issue"]["comments"]["totalCount"], 1);
}
