//! The test suite's fake GitHub as a standalone server, for trying ghpool by hand without GitHub:
//!
//! ```sh
//! cargo run --example fake_github -- ghp_tokenA:alice ghp_tokenB:bob
//! ```
//! prints its base URL, serves repository `acme/widgets` (with 45 issues) and the given
//! `token:login` pairs, and runs until interrupted.

#[allow(dead_code)]
#[path = "../tests/support/fake_github.rs"]
mod fake_github;

fn main() {
    let fake = fake_github::FakeGithub::start();
    for pair in std::env::args().skip(1) {
        match pair.split_once(':') {
            Some((token, login)) => fake.add_token(token, login),
            None => eprintln!("ignoring `{pair}`: expected token:login"),
        }
    }
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 45);
    println!("{}", fake.base_url());
    loop {
        std::thread::park();
    }
}
