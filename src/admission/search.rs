//! Search queries (REST `GET /search/*?q=` and GraphQL `search(query:)`), read as GitHub reads them.
//!
//! Owns: the one `q` of a search's query string, the tokenizer of GitHub's search syntax (terms,
//! phrases, `name:value` qualifiers, regexes, `AND`/`OR`/`NOT`, parentheses) and the rule that a
//! query is confined only when every way it can match is bounded by a positive `repo:`, `org:` or
//! `user:` qualifier naming allowed owners. Pure, and linear in the query.
//! Must never: credit a qualifier GitHub could read differently (another case, a quote, an escape, a
//! regex or a precedence that swallows it); let a qualifier that is not surely negated name an owner
//! outside the allowlist; or read on past anything it cannot tokenize one way only.

use std::collections::BTreeSet;

/// Bounds that keep the reading cheap and the recursion shallow; GitHub's own are similar.
const MAX_BYTES: usize = 4096;
const MAX_TERMS: usize = 64;
const MAX_DEPTH: usize = 16;

/// Why a search is refused: `Malformed` and `QParameter` are a client's 400, the others a 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchRefusal {
    #[error(
        "ghpool: the search must be confined with positive repo:, org: or user: qualifiers naming allowed owners, \
         in every branch and under either precedence of AND and OR (`-org:` and NOT exclude, they do not confine)"
    )]
    Unscoped,
    #[error("ghpool: the search names owner `{0}`, which is not in this proxy's allowlist")]
    NotAllowed(String),
    #[error("ghpool: the search query cannot be read unambiguously: {0}")]
    Malformed(String),
    #[error("ghpool: a search needs exactly one `q` parameter: {0}")]
    QParameter(String),
}

/// What a `repo:`, `org:` or `user:` qualifier names: an owner (lower-cased), and with `repo:` one
/// of its repositories (lower-cased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'a> {
    pub owner: &'a str,
    pub repo: Option<&'a str>,
}

/// The owners a confined query is scoped to (lower-cased, deduplicated, sorted), or why it is refused.
pub fn confine(query: &str, allowed: impl Fn(&str) -> bool) -> Result<BTreeSet<String>, SearchRefusal> {
    let (readings, owners) = evaluate(query, &|named| allowed(named.owner), false)?;
    confined(readings, owners)
}

/// [`confine`], where `allowed` judges each qualifier's owner and repository (an agent's policy
/// reaches repositories, not only owners). A refused one is named `owner` or `owner/repo`.
pub fn confine_named(query: &str, allowed: impl Fn(Named<'_>) -> bool) -> Result<BTreeSet<String>, SearchRefusal> {
    let (readings, owners) = evaluate(query, &allowed, true)?;
    confined(readings, owners)
}

fn confined(readings: Readings, owners: BTreeSet<String>) -> Result<BTreeSet<String>, SearchRefusal> {
    if readings.and_first && readings.or_first {
        Ok(owners)
    } else {
        Err(SearchRefusal::Unscoped)
    }
}

/// The single `q` value of a raw URL query string (form-urlencoded, `&`-separated, `+` is space).
pub fn q_parameter(query_string: Option<&str>) -> Result<String, SearchRefusal> {
    single_parameter(query_string, "q")
}

/// The one value of parameter `name`, read as strictly as [`q_parameter`] reads `q`.
pub fn single(query_string: Option<&str>, name: &str) -> Result<String, SearchRefusal> {
    single_parameter(query_string, name)
}

/// The one `repository_id` parameter of a label search (`/search/labels`), a repository id.
pub fn repository_id(query_string: Option<&str>) -> Result<u64, SearchRefusal> {
    // Any other name holding `repository_id` is refused too, not only bracketed spellings.
    let other_spelling = url::form_urlencoded::parse(query_string.unwrap_or_default().as_bytes())
        .any(|(name, _)| name != "repository_id" && name.contains("repository_id"));
    if other_spelling {
        return Err(SearchRefusal::QParameter("`repository_id` is spelled more than one way".into()));
    }
    let id = single_parameter(query_string, "repository_id")?;
    let valid = !id.is_empty() && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit());
    id.parse().ok().filter(|_| valid).ok_or_else(|| SearchRefusal::QParameter("`repository_id` is not an id".into()))
}

/// The single value of parameter `wanted`, read as strictly as any server could read it: no `;`
/// separators, no repeats, no bracketed spellings, no doubtful percent-encoding.
fn single_parameter(query_string: Option<&str>, wanted: &str) -> Result<String, SearchRefusal> {
    let refuse = |why: String| SearchRefusal::QParameter(why);
    let raw = query_string.ok_or_else(|| refuse("the request has no query string".into()))?;
    // Some servers split parameters on `;` too, and would then see a value we did not.
    if raw.contains(';') {
        return Err(refuse("`;` is refused in a search's query string".into()));
    }
    let mut found = None;
    for pair in raw.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name =
            form_decode(name).ok_or_else(|| refuse("a parameter name is not valid percent-encoded UTF-8".into()))?;
        if name == wanted {
            let value =
                form_decode(value).ok_or_else(|| refuse("its value is not valid percent-encoded UTF-8".into()))?;
            if found.replace(value).is_some() {
                return Err(refuse(format!("`{wanted}` is repeated")));
            }
        } else if is_bracketed(&name, wanted) {
            // Rack drops leading brackets and reads `q[]=` / `q[x]=` as a structured `q`: GitHub
            // might read that one instead of ours.
            return Err(refuse(format!("`{wanted}` spelled with brackets is refused")));
        }
    }
    found.ok_or_else(|| refuse(format!("`{wanted}` is missing")))
}

fn is_bracketed(name: &str, wanted: &str) -> bool {
    let bare = name.trim_start_matches(['[', ']']);
    bare.strip_prefix(wanted).is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', ']']))
}

/// `application/x-www-form-urlencoded` decoding that refuses what a server could decode differently.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = rest.next().and_then(|h| char::from(h).to_digit(16))?;
                let lo = rest.next().and_then(|l| char::from(l).to_digit(16))?;
                u8::try_from(hi * 16 + lo).ok()?
            }
            _ => b,
        });
    }
    String::from_utf8(bytes).ok()
}

/// Whether a group is confined when AND binds tighter than OR, and when OR binds tighter than AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Readings {
    and_first: bool,
    or_first: bool,
}

impl Readings {
    const NONE: Readings = Readings { and_first: false, or_first: false };
}

/// `name_repos`: a refused `repo:` qualifier is named `owner/repo` (else by its owner).
fn evaluate(
    query: &str,
    allowed: &dyn Fn(Named<'_>) -> bool,
    name_repos: bool,
) -> Result<(Readings, BTreeSet<String>), SearchRefusal> {
    let mut reader = Reader { tokens: tokenize(query)?.into_iter(), allowed, name_repos, owners: BTreeSet::new() };
    let readings = reader.group(Negation::default(), true)?;
    Ok((readings, reader.owners))
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    /// Free text, a phrase, a regex: none of them confines.
    Text,
    /// `name:value`, `dashes` leading `-` excluded from `name`, the value unquoted.
    Qualifier {
        dashes: usize,
        name: String,
        value: String,
    },
}

fn malformed(why: impl Into<String>) -> SearchRefusal {
    SearchRefusal::Malformed(why.into())
}

/// Only these separate terms: GitHub splits on them for sure, and on nothing that we keep.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Invisible (default-ignorable) and full-width characters, which a normalizing reader could drop or
/// fold so that a term we read as text (`o\u{200b}rg:evil`, `ｏｒｇ：evil`) becomes a qualifier.
fn is_foldable(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ff01}'..='\u{ff5e}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fff8}' | '\u{1bca0}'..='\u{1bca3}' | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

fn tokenize(query: &str) -> Result<Vec<Token>, SearchRefusal> {
    if query.len() > MAX_BYTES {
        return Err(malformed(format!("it is longer than {MAX_BYTES} bytes")));
    }
    let odd = |c: char| !u8::try_from(c).is_ok_and(is_separator) && (c.is_control() || c.is_whitespace());
    if let Some(c) = query.chars().find(|&c| odd(c) || is_foldable(c)) {
        return Err(malformed(format!("U+{:04X} could be read as a separator or dropped", u32::from(c))));
    }
    let mut lexer = Lexer { q: query, pos: 0, depth: 0, terms: 0, tokens: Vec::new() };
    while let Some(b) = lexer.peek() {
        match b {
            _ if is_separator(b) => lexer.pos += 1,
            b'(' => {
                lexer.depth += 1;
                if lexer.depth > MAX_DEPTH {
                    return Err(malformed(format!("parentheses nest deeper than {MAX_DEPTH}")));
                }
                lexer.push(Token::Open, 1);
            }
            b')' => {
                lexer.depth = lexer.depth.checked_sub(1).ok_or_else(|| malformed("a `)` closes nothing"))?;
                lexer.push(Token::Close, 1);
                lexer.end_of_term()?;
            }
            _ => lexer.term()?,
        }
    }
    if lexer.depth != 0 {
        return Err(malformed("a `(` is not closed"));
    }
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    q: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.q.as_bytes().get(self.pos).copied()
    }

    fn push(&mut self, token: Token, width: usize) {
        self.tokens.push(token);
        self.pos += width;
    }

    /// Every cut is at an ASCII byte, so this never fails; a failure is still refused, not panicked on.
    fn slice(&self, from: usize, to: usize) -> Result<String, SearchRefusal> {
        self.q.get(from..to).map(str::to_string).ok_or_else(|| malformed("a term is cut inside a character"))
    }

    /// After a `)`, a closing quote or a regex, GitHub may glue what follows; we refuse to guess how.
    fn end_of_term(&self) -> Result<(), SearchRefusal> {
        match self.peek() {
            None | Some(b')') => Ok(()),
            Some(b) if is_separator(b) => Ok(()),
            Some(_) => Err(malformed("a closing `)`, `\"` or `/` is glued to the next term")),
        }
    }

    fn term(&mut self) -> Result<(), SearchRefusal> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(malformed(format!("it has more than {MAX_TERMS} terms")));
        }
        let start = self.pos;
        while self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let dashes = self.pos - start;
        // A regex may hold spaces (`/ repo:acme/x /`), so it must close, unescaped, within the term.
        if matches!(self.peek(), Some(b'"' | b'/')) {
            self.enclosed()?;
            self.tokens.push(Token::Text);
            return Ok(());
        }
        let name_start = self.pos;
        self.plain(true)?;
        let name = self.slice(name_start, self.pos)?;
        if self.peek() != Some(b':') || name.is_empty() {
            self.plain(false)?;
            let word = self.slice(start, self.pos)?;
            let token = match word.to_ascii_uppercase().as_str() {
                "AND" => Token::And,
                "OR" => Token::Or,
                "NOT" => Token::Not,
                _ if word.len() == dashes => return Err(malformed("a lone `-` could negate the next term or group")),
                _ => Token::Text,
            };
            self.tokens.push(token);
            return Ok(());
        }
        self.pos += 1;
        let value_start = self.pos;
        let value = if matches!(self.peek(), Some(b'"' | b'/')) {
            let quoted = self.peek() == Some(b'"');
            self.enclosed()?;
            let strip = usize::from(quoted);
            self.slice(value_start + strip, self.pos - strip)?
        } else {
            self.plain(false)?;
            self.slice(value_start, self.pos)?
        };
        self.tokens.push(Token::Qualifier { dashes, name, value });
        Ok(())
    }

    /// Bytes of an unquoted term, up to a separator, a `)` or (for a name) a `:`.
    fn plain(&mut self, stop_at_colon: bool) -> Result<(), SearchRefusal> {
        while let Some(b) = self.peek() {
            match b {
                b')' => break,
                b':' if stop_at_colon => break,
                _ if is_separator(b) => break,
                b'(' => return Err(malformed("a `(` inside a term could be text or open a group")),
                b'"' => return Err(malformed("a `\"` must wrap a whole term or a whole qualifier value")),
                b'\\'
                    if self.q.as_bytes().get(self.pos + 1).is_none_or(|&n| is_separator(n) || b"()\"".contains(&n)) =>
                {
                    return Err(malformed("a `\\` could escape the separator, quote or parenthesis after it"))
                }
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// A quoted phrase or value (`"…"`, no backslash) or a regex (`/…/`, no quote, no separator,
    /// closed by the first unescaped `/`), which must end its term.
    fn enclosed(&mut self) -> Result<(), SearchRefusal> {
        let quote = self.peek() == Some(b'"');
        let unclosed =
            if quote { "a quote is not closed" } else { "a regex must close with an unescaped `/` in its term" };
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(malformed(unclosed)),
                Some(b'"') if quote => break,
                Some(b'\\') if quote => return Err(malformed("a `\\` inside quotes may be read as an escape")),
                Some(b'"') => return Err(malformed("a regex cannot hold a `\"`")),
                Some(b'/') if !quote => break,
                Some(b) if !quote && is_separator(b) => return Err(malformed(unclosed)),
                Some(b'\\') => match self.q.as_bytes().get(self.pos + 1) {
                    Some(&next) if !is_separator(next) && next != b'"' => self.pos += 2,
                    _ => return Err(malformed(unclosed)),
                },
                Some(_) => self.pos += 1,
            }
        }
        self.pos += 1;
        self.end_of_term()
    }
}

/// How many `NOT`s may apply to a term (its group's and those before it in every enclosing group:
/// GitHub does not document how far `NOT` reaches) and how many surely do (the ones right before it).
#[derive(Debug, Clone, Copy, Default)]
struct Negation {
    reach: usize,
    sure: usize,
}

/// A group's confinement folded operand by operand, under both precedences at once.
#[derive(Default)]
struct Fold {
    started: bool,
    /// AND first: an OR of AND-runs, confined when every run has a confined operand.
    and_first_done: bool,
    and_first_run: bool,
    /// OR first: an AND of OR-runs, confined when some run is confined throughout.
    or_first_done: bool,
    or_first_run: bool,
}

impl Fold {
    fn push(&mut self, or: bool, v: Readings) {
        if !self.started {
            *self = Fold {
                started: true,
                and_first_done: true,
                and_first_run: v.and_first,
                or_first_done: false,
                or_first_run: v.or_first,
            };
        } else if or {
            self.and_first_done &= self.and_first_run;
            self.and_first_run = v.and_first;
            self.or_first_run &= v.or_first;
        } else {
            self.and_first_run |= v.and_first;
            self.or_first_done |= self.or_first_run;
            self.or_first_run = v.or_first;
        }
    }

    fn finish(&self) -> Readings {
        Readings {
            and_first: self.and_first_done && self.and_first_run,
            or_first: self.or_first_done || self.or_first_run,
        }
    }
}

struct Reader<'a> {
    tokens: std::vec::IntoIter<Token>,
    allowed: &'a dyn Fn(Named<'_>) -> bool,
    name_repos: bool,
    owners: BTreeSet<String>,
}

impl Reader<'_> {
    /// Operands up to the matching `)` (or the end at the top); the tokenizer bounds the nesting.
    fn group(&mut self, outer: Negation, top: bool) -> Result<Readings, SearchRefusal> {
        let (mut fold, mut or, mut op, mut nots, mut chain) = (Fold::default(), false, false, 0, 0);
        while let Some(token) = self.tokens.next() {
            let negation = Negation { reach: outer.reach + nots, sure: outer.sure + chain };
            let value = match token {
                Token::Close => break,
                Token::And | Token::Or if !fold.started || op || chain > 0 => {
                    return Err(malformed("`AND` and `OR` must stand between two terms"))
                }
                Token::And | Token::Or => {
                    (op, or) = (true, token == Token::Or);
                    continue;
                }
                Token::Not => {
                    (nots, chain) = (nots + 1, chain + 1);
                    continue;
                }
                Token::Open => self.group(negation, false)?,
                Token::Text => Readings::NONE,
                Token::Qualifier { dashes, name, value } => self.qualifier(dashes, &name, &value, negation)?,
            };
            // If `NOT` reached to the end of its group, nothing after it could confine the group.
            fold.push(or, if nots > 0 { Readings::NONE } else { value });
            (op, or, chain) = (false, false, 0);
        }
        if op || chain > 0 {
            return Err(malformed("an operator has no term after it"));
        }
        match (fold.started, top) {
            (true, _) => Ok(fold.finish()),
            (false, true) => Err(SearchRefusal::Unscoped),
            (false, false) => Err(malformed("`()` is empty")),
        }
    }

    fn qualifier(&mut self, dashes: usize, name: &str, value: &str, neg: Negation) -> Result<Readings, SearchRefusal> {
        // Denial reads names as loosely as any reader could (`REPO:`, `Owner:`, `uſer:`, long forms)...
        let folded: String = name.chars().flat_map(char::to_uppercase).flat_map(char::to_lowercase).collect();
        let repo = match folded.as_str() {
            "repo" | "repository" => true,
            "org" | "organization" | "user" | "owner" => false,
            _ => return Ok(Readings::NONE),
        };
        // Excluding an owner cannot widen a search, but only a negation every reading agrees on
        // counts — and it is never credited as scope.
        let negated = neg.reach == neg.sure && (neg.reach + dashes) % 2 == 1;
        // GitHub may ignore a qualifier it cannot read and search everything.
        let owners = scope_owners(repo, value).ok_or_else(|| {
            malformed(format!("`{name}:{value}` must name `owner/repo` or a login, or comma lists of them"))
        })?;
        // Every owner named, negated or not, must be allowed: GitHub documents `NOT` for words
        // only, and a reader that ignored it before a qualifier would search that owner.
        for (owner, name) in owners {
            if !(self.allowed)(Named { owner: &owner, repo: name.as_deref() }) {
                return Err(SearchRefusal::NotAllowed(match name {
                    Some(name) if self.name_repos => format!("{owner}/{name}"),
                    _ => owner,
                }));
            }
            if !negated {
                self.owners.insert(owner);
            }
        }
        if negated {
            return Ok(Readings::NONE);
        }
        // ...but credit only the spellings GitHub documents.
        let credited = dashes == 0 && matches!(name, "repo" | "org" | "user");
        Ok(Readings { and_first: credited, or_first: credited })
    }
}

/// The lower-cased owners (and, for `repo:`, repository names) of a `repo:` (`owner/name`) or
/// login value, comma lists included.
fn scope_owners(repo: bool, value: &str) -> Option<Vec<(String, Option<String>)>> {
    value
        .split(',')
        .map(|item| {
            let (owner, name) = match repo {
                true => item.split_once('/').filter(|(_, n)| is_repo_name(n)).map(|(o, n)| (o, Some(n)))?,
                false => (item, None),
            };
            is_login(owner).then(|| (owner.to_ascii_lowercase(), name.map(str::to_ascii_lowercase)))
        })
        .collect()
}

fn is_login(s: &str) -> bool {
    (1..=39).contains(&s.len()) && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_repo_name(s: &str) -> bool {
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    (1..=100).contains(&s.len()) && s != "." && s != ".." && s.bytes().all(valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Want {
        Confined(&'static [&'static str]),
        Unscoped,
        NotAllowed(&'static str),
        Malformed,
    }
    use Want::*;

    fn allowed(owner: &str) -> bool {
        matches!(owner, "acme" | "acme-labs")
    }

    fn check(name: &str, query: &str, want: &Want) {
        let got = confine(query, allowed);
        let ok = match (want, &got) {
            (Confined(owners), Ok(got)) => got.iter().map(String::as_str).eq(owners.iter().copied()),
            (Unscoped, Err(SearchRefusal::Unscoped)) | (Malformed, Err(SearchRefusal::Malformed(_))) => true,
            (NotAllowed(owner), Err(SearchRefusal::NotAllowed(got))) => owner == got,
            _ => false,
        };
        assert!(ok, "{name}: `{query}` gave {got:?}, want {want:?}");
    }

    const ROWS: &[(&str, &str, Want)] = &[
        ("repo and state", "repo:acme/widgets is:open", Confined(&["acme"])),
        ("org and text", "org:acme bug", Confined(&["acme"])),
        ("user", "user:acme-labs", Confined(&["acme-labs"])),
        ("two repos", "repo:acme/a repo:acme-labs/b", Confined(&["acme", "acme-labs"])),
        ("comma list", "repo:acme/a,acme/b", Confined(&["acme"])),
        ("quoted values", "repo:\"acme/widgets\" label:\"good first issue\"", Confined(&["acme"])),
        ("group of repos", "(repo:acme/a OR repo:acme/b) is:open", Confined(&["acme"])),
        ("exclusion beside scope: refused, NOT is for words only", "org:acme -org:evil", NotAllowed("evil")),
        ("exclusion of an allowed owner beside scope", "org:acme -repo:acme/old", Confined(&["acme"])),
        ("NOT before a qualifier", "org:acme NOT org:evil AKIA", NotAllowed("evil")),
        ("NOT after scope", "org:acme NOT foo", Confined(&["acme"])),
        ("group after scope", "org:acme (foo OR bar)", Confined(&["acme"])),
        ("OR of scopes", "org:acme OR repo:acme/x", Confined(&["acme"])),
        ("regex", "repo:acme/x /regex/", Confined(&["acme"])),
        ("regex with parens and escapes", "repo:acme/x /fn\\/(a|b)\\s/", Confined(&["acme"])),
        ("upper-case name allowed, not credited", "ORG:acme org:acme", Confined(&["acme"])),
        ("owner: named, not credited", "owner:acme-labs org:acme", Confined(&["acme", "acme-labs"])),
        ("tab separates", "org:acme\tfoo", Confined(&["acme"])),
        ("excluded phrase", "org:acme -\"foo bar\"", Confined(&["acme"])),
        ("empty", "", Unscoped),
        ("blank", "  \t ", Unscoped),
        ("private", "is:private", Unscoped),
        ("exclusion only", "-org:openclaw is:private", NotAllowed("openclaw")),
        ("exclusion of an allowed owner only", "-org:acme is:private", Unscoped),
        ("excluded repo and secret", "-repo:openclaw/chi AWS_SECRET_ACCESS_KEY", NotAllowed("openclaw")),
        ("NOT scope", "NOT org:acme", Unscoped),
        ("lower-case not", "not org:acme", Unscoped),
        ("OR unscoped branch", "org:acme OR is:private", Unscoped),
        ("group with text branch", "(org:acme OR foo)", Unscoped),
        ("lower-case or", "org:acme or foo", Unscoped),
        ("owner only", "owner:acme", Unscoped),
        ("upper-case REPO only", "REPO:acme/x", Unscoped),
        ("OR NOT group", "repo:acme/x OR (NOT org:acme)", Unscoped),
        ("phrase is text", "\"repo:acme/x\"", Unscoped),
        ("unscoped AND-first", "a AND b OR org:acme", Unscoped),
        ("unscoped AND-first only", "org:acme foo OR bar", Unscoped),
        ("unscoped both readings", "foo OR org:acme bar OR org:acme", Unscoped),
        ("NOT may reach the scope", "NOT foo org:acme", Unscoped),
        ("double dash is not credited", "--org:acme", Unscoped),
        ("evil repo", "repo:evil/x", NotAllowed("evil")),
        ("evil beside scope", "org:acme repo:evil/x", NotAllowed("evil")),
        ("evil in list", "repo:acme/x,evil/y", NotAllowed("evil")),
        ("evil in OR", "org:acme OR org:evil", NotAllowed("evil")),
        ("mixed-case name", "Org:evil org:acme", NotAllowed("evil")),
        ("owner:", "owner:evil org:acme", NotAllowed("evil")),
        ("evil in group", "(repo:acme/x OR user:evil)", NotAllowed("evil")),
        ("owner lower-cased", "org:EVIL", NotAllowed("evil")),
        ("long form", "org:acme organization:evil", NotAllowed("evil")),
        ("long s folds to user", "u\u{17f}er:evil org:acme", NotAllowed("evil")),
        ("NOT of an exclusion", "org:acme NOT -org:evil", NotAllowed("evil")),
        ("double negation", "org:acme NOT (NOT org:evil)", NotAllowed("evil")),
        ("double dash", "org:acme --org:evil", NotAllowed("evil")),
        ("NOT's reach unsure", "org:acme NOT foo -org:evil", NotAllowed("evil")),
        ("NBSP", "org:acme\u{a0}is:private", Malformed),
        ("ideographic space", "org:acme\u{3000}is:private", Malformed),
        ("zero-width space", "org:acme o\u{200b}rg:evil", Malformed),
        ("NUL", "org:acme\u{0}", Malformed),
        ("form feed", "org:acme\u{c}is:private", Malformed),
        ("regex swallowing spaces", "/ repo:acme/x /", Malformed),
        ("escaped regex close", "/a\\/ repo:acme/x b/", Malformed),
        ("regex value swallowing spaces", "path:/a\\/ repo:acme/x b/", Malformed),
        ("regex glued", "org:acme /a/b/", Malformed),
        ("regex with quote", "org:acme /a\"/", Malformed),
        ("unterminated quote", "org:acme \"unterminated", Malformed),
        ("quote inside a term", "org:acme foo\"bar\"", Malformed),
        ("backslash in quotes", "org:acme \"a\\\"", Malformed),
        ("backslash before space", "foo\\ repo:acme/x", Malformed),
        ("repo without name", "repo:acme", Malformed),
        ("repo too deep", "repo:acme/x/y", Malformed),
        ("bad login", "org:ac!me", Malformed),
        ("trailing comma", "repo:acme/x,", Malformed),
        ("empty value", "org:", Malformed),
        ("special user", "user:@me", Malformed),
        ("paren inside term", "repo:acme/x foo(bar)", Malformed),
        ("glued after paren", "(org:acme)foo", Malformed),
        ("lone dash", "org:acme - (NOT org:evil)", Malformed),
        ("unbalanced open", "(org:acme", Malformed),
        ("unbalanced close", "org:acme)", Malformed),
        ("empty group", "org:acme ()", Malformed),
        ("dangling operator", "org:acme OR", Malformed),
        ("double operator", "org:acme AND OR foo", Malformed),
        ("dangling NOT", "org:acme NOT", Malformed),
    ];

    #[test]
    fn confine_table() {
        for (name, query, want) in ROWS {
            check(name, query, want);
        }
    }

    #[test]
    fn limits_and_linear_time() {
        let nest = |n: usize| format!("{}org:acme{}", "(".repeat(n), ")".repeat(n));
        check("16 levels", &nest(16), &Confined(&["acme"]));
        check("17 levels", &nest(17), &Malformed);
        check("4096 opens", &"(".repeat(4096), &Malformed);
        check("too long", &format!("org:acme {}", "a".repeat(MAX_BYTES)), &Malformed);
        check("64 terms", &format!("org:acme{}", " x".repeat(63)), &Confined(&["acme"]));
        check("65 terms", &format!("org:acme{}", " x".repeat(64)), &Malformed);
        check("many ORs", &"org:acme OR ".repeat(400), &Malformed);
        check("long word", &format!("org:acme {}", "ab".repeat(2000)), &Confined(&["acme"]));
    }

    #[test]
    fn both_readings() {
        let read =
            |q: &str| evaluate(q, &|n: Named<'_>| allowed(n.owner), false).map(|(r, _)| (r.and_first, r.or_first));
        assert_eq!(read("org:acme foo OR bar"), Ok((false, true)));
        assert_eq!(read("foo OR bar org:acme"), Ok((false, true)));
        assert_eq!(read("org:acme OR org:acme foo OR bar"), Ok((false, true)));
        assert_eq!(read("foo OR org:acme bar"), Ok((false, false)));
        assert_eq!(read("org:acme foo OR org:acme bar"), Ok((true, true)));
    }

    /// Both precedence readings, with everything after a `NOT` taken as unconfined, are never looser
    /// than any way of grouping the operands and of reaching with `NOT`: brute force up to 6 operands.
    #[test]
    fn readings_bound_every_grouping() {
        fn all(ops: &[bool], nots: &[bool], c: &[bool], l: usize, r: usize, armed: bool) -> bool {
            let not_here = armed && nots.get(l) == Some(&true);
            if l == r {
                return !not_here && c.get(l) == Some(&true);
            }
            !not_here
                && (l..r).all(|m| {
                    let (a, b) = (all(ops, nots, c, l, m, armed), all(ops, nots, c, m + 1, r, true));
                    if ops.get(m) == Some(&true) {
                        a && b
                    } else {
                        a || b
                    }
                })
        }
        let bits = |mask: usize, n: usize| (0..n).map(|i| mask >> i & 1 == 1).collect::<Vec<_>>();
        for n in 1..=6usize {
            for (o, m, k) in
                (0..1 << (n - 1)).flat_map(|o| (0..1 << n).flat_map(move |m| (0..1 << n).map(move |k| (o, m, k))))
            {
                let (ops, nots, c) = (bits(o, n - 1), bits(m, n), bits(k, n));
                let mut fold = Fold::default();
                let mut seen_not = false;
                for i in 0..n {
                    seen_not |= nots.get(i) == Some(&true);
                    let v = !seen_not && c.get(i) == Some(&true);
                    fold.push(i > 0 && ops.get(i - 1) == Some(&true), Readings { and_first: v, or_first: v });
                }
                let ours = fold.finish();
                // AND-first is the stricter reading (so no query is confined under it alone), and
                // ours may only call a query confined when every grouping is.
                assert!(!ours.and_first || ours.or_first, "{ops:?} {c:?}");
                assert!(
                    !(ours.and_first && ours.or_first) || all(&ops, &nots, &c, 0, n - 1, true),
                    "{ops:?} {nots:?} {c:?}"
                );
            }
        }
    }

    #[test]
    fn q_parameter_table() {
        let ok = |raw: &str, want: &str| assert_eq!(q_parameter(Some(raw)), Ok(want.to_string()), "{raw}");
        ok("q=repo%3Aacme%2Fx+is%3Aopen&per_page=5", "repo:acme/x is:open");
        ok("per_page=5&q=org:acme", "org:acme");
        ok("%71=org%3Aacme", "org:acme");
        ok("q=org:acme&qq=1&[x]=2", "org:acme");
        for raw in [None, Some("q=a&q=b"), Some("per_page=5"), Some("q=a;q=b"), Some("Q=a"), Some("q=a&%71=b")]
            .into_iter()
            .chain([
                Some("q=%zz"),
                Some("q=%ff"),
                Some("q[]=org:evil"),
                Some("[q]=a"),
                Some("[q=a"),
                Some("q]=a&q=b"),
                Some(""),
            ])
        {
            assert!(matches!(q_parameter(raw), Err(SearchRefusal::QParameter(_))), "{raw:?}");
        }
    }

    #[test]
    fn messages_name_the_owner() {
        let refusal = confine("org:acme repo:Evil/x", allowed).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refusal.contains("`evil`") && refusal.starts_with("ghpool:"), "{refusal}");
    }
}
