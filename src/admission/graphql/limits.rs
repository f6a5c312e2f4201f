//! The bounds every GraphQL document is held to before anything else looks at it: size, tokens,
//! nesting, aliases, fragments, and the number and depth of fields once fragments are expanded.
//!
//! Owns: [`Limits`] and [`check`]. Expansion is computed, never performed: each fragment's cost
//! (fields, depth) is memoized, so a document of `n` tokens is checked in O(n) however its
//! fragments spread each other (`fragment F_i on Query { ...F_i+1 ...F_i+1 }` forty levels deep
//! expands to 2^40 fields, and is refused after one walk of each fragment). A fragment cycle is
//! refused here too.
//! Must never: walk a fragment's body more than once, or let a document past whose expansion it
//! has not bounded.

use std::collections::HashMap;

use apollo_compiler::ast::{Definition, Document, Selection};
use apollo_compiler::Name;

/// What a document may hold. The defaults are far above what gh, Octokit or PyGithub send (gh's
/// largest query, `pr view --json` with every field, is about 300 fields and 12 levels deep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the document (the `query` string).
    pub document: usize,
    /// Lexical tokens (apollo-parser stops at this many).
    pub tokens: usize,
    /// Syntactic nesting (apollo-parser's recursion limit: protects its stack).
    pub nesting: usize,
    /// Field depth once fragments are expanded.
    pub depth: usize,
    /// Aliases written in the document.
    pub aliases: usize,
    /// Fields once fragments are expanded, per operation or fragment.
    pub fields: usize,
    /// Fragment definitions.
    pub fragments: usize,
    /// Operation definitions.
    pub operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            document: 64 * 1024,
            tokens: 20_000,
            nesting: 64,
            depth: 32,
            aliases: 500,
            fields: 10_000,
            fragments: 200,
            operations: 50,
        }
    }
}

/// A limit a document went past: the message names it and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the GraphQL document is {0} bytes; ghpool reads documents of at most {1} bytes")]
    Document(usize, usize),
    #[error("the GraphQL document nests fields {0} levels deep once fragments are expanded; ghpool's limit is {1}")]
    Depth(usize, usize),
    #[error("the GraphQL document selects more than {0} fields once fragments are expanded (ghpool's limit)")]
    Fields(usize),
    #[error("the GraphQL document has {0} aliases; ghpool's limit is {1}")]
    Aliases(usize, usize),
    #[error("the GraphQL document has {0} fragments; ghpool's limit is {1}")]
    Fragments(usize, usize),
    #[error("the GraphQL document has {0} operations; ghpool's limit is {1}")]
    Operations(usize, usize),
    #[error("the fragment {0} spreads itself")]
    Cycle(String),
}

/// A fragment's expanded cost, or that it is being computed (meeting it again is a cycle).
#[derive(Clone, Copy)]
enum Cost {
    InProgress,
    Done { fields: usize, depth: usize },
}

struct Walker<'d> {
    limits: Limits,
    /// Selections visited: the work done, linear in the document by construction (tested).
    visits: usize,
    fragments: HashMap<&'d Name, &'d [Selection]>,
    memo: HashMap<&'d Name, Cost>,
}

/// Check a parsed document against `limits` (its size and tokens were checked by the parser).
/// Returns how many selections were visited: never more than the document holds, twice over.
pub fn check(document: &Document, limits: &Limits) -> Result<usize, LimitError> {
    let mut visits = 0;
    check_counting(document, limits, &mut visits).map(|()| visits)
}

/// The selections [`check`] visits for `document`, whether it passes or not: the measure of its
/// work that the property tests bound by the document's size.
pub fn work(document: &Document, limits: &Limits) -> usize {
    let mut visits = 0;
    let _ = check_counting(document, limits, &mut visits);
    visits
}

fn check_counting(document: &Document, limits: &Limits, visits: &mut usize) -> Result<(), LimitError> {
    let mut operations = 0;
    let mut fragments = HashMap::new();
    for definition in &document.definitions {
        match definition {
            Definition::OperationDefinition(_) => operations += 1,
            Definition::FragmentDefinition(f) => {
                // A duplicate name is a validation error later; the first one is costed here.
                fragments.entry(&f.name).or_insert(f.selection_set.as_slice());
            }
            _ => {}
        }
    }
    if operations > limits.operations {
        return Err(LimitError::Operations(operations, limits.operations));
    }
    if fragments.len() > limits.fragments {
        return Err(LimitError::Fragments(fragments.len(), limits.fragments));
    }
    let mut aliases = 0;
    for definition in &document.definitions {
        let set = match definition {
            Definition::OperationDefinition(op) => &op.selection_set,
            Definition::FragmentDefinition(f) => &f.selection_set,
            _ => continue,
        };
        aliases += count_aliases(set, 0, limits.nesting);
    }
    if aliases > limits.aliases {
        return Err(LimitError::Aliases(aliases, limits.aliases));
    }
    let mut walker = Walker { limits: *limits, visits: 0, memo: HashMap::new(), fragments };
    let walked = walk_all(document, limits, &mut walker);
    *visits = walker.visits;
    walked
}

fn walk_all<'d>(document: &'d Document, limits: &Limits, walker: &mut Walker<'d>) -> Result<(), LimitError> {
    for definition in &document.definitions {
        let (fields, depth) = match definition {
            Definition::OperationDefinition(op) => walker.cost(&op.selection_set, 0)?,
            Definition::FragmentDefinition(f) => walker.fragment(&f.name)?,
            _ => continue,
        };
        if fields > limits.fields {
            return Err(LimitError::Fields(limits.fields));
        }
        if depth > limits.depth {
            return Err(LimitError::Depth(depth, limits.depth));
        }
    }
    Ok(())
}

/// Aliases in a selection set, as written (not expanded). `nesting` is bounded by the parser.
fn count_aliases(set: &[Selection], level: usize, nesting: usize) -> usize {
    if level > nesting {
        return 0;
    }
    set.iter()
        .map(|s| match s {
            Selection::Field(f) => usize::from(f.alias.is_some()) + count_aliases(&f.selection_set, level + 1, nesting),
            Selection::InlineFragment(i) => count_aliases(&i.selection_set, level + 1, nesting),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

impl<'d> Walker<'d> {
    /// Expanded (fields, depth) of a selection set at `depth`, saturating just past the limits.
    fn cost(&mut self, set: &'d [Selection], depth: usize) -> Result<(usize, usize), LimitError> {
        let mut fields = 0usize;
        let mut deepest = 0usize;
        for selection in set {
            self.visits += 1;
            let (f, d) = match selection {
                Selection::Field(field) => {
                    if depth + 1 > self.limits.depth {
                        return Err(LimitError::Depth(depth + 1, self.limits.depth));
                    }
                    let (f, d) = self.cost(&field.selection_set, depth + 1)?;
                    (f.saturating_add(1), d + 1)
                }
                Selection::InlineFragment(inline) => self.cost(&inline.selection_set, depth)?,
                Selection::FragmentSpread(spread) => self.fragment(&spread.fragment_name)?,
            };
            fields = fields.saturating_add(f);
            deepest = deepest.max(d);
            if fields > self.limits.fields {
                return Err(LimitError::Fields(self.limits.fields));
            }
            if depth + deepest > self.limits.depth {
                return Err(LimitError::Depth(depth + deepest, self.limits.depth));
            }
        }
        Ok((fields, deepest))
    }

    /// A fragment's expanded cost measured from its own root, computed once.
    fn fragment(&mut self, name: &'d Name) -> Result<(usize, usize), LimitError> {
        match self.memo.get(name) {
            Some(Cost::Done { fields, depth }) => return Ok((*fields, *depth)),
            Some(Cost::InProgress) => return Err(LimitError::Cycle(name.to_string())),
            None => {}
        }
        // An undefined fragment costs nothing here; validation refuses it.
        let Some(&set) = self.fragments.get(name) else { return Ok((0, 0)) };
        self.memo.insert(name, Cost::InProgress);
        let (fields, depth) = self.cost(set, 0)?;
        self.memo.insert(name, Cost::Done { fields, depth });
        Ok((fields, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Document {
        Document::parse(doc, "t.graphql").unwrap_or_else(|e| e.partial)
    }

    fn small() -> Limits {
        Limits { depth: 4, aliases: 3, fields: 20, fragments: 5, operations: 2, ..Limits::default() }
    }

    #[test]
    fn limits_table() {
        let rows: &[(&str, &str, Result<(), LimitError>)] = &[
            ("plain", "{ a { b c } d }", Ok(())),
            ("depth at the limit", "{ a { b { c { d } } } }", Ok(())),
            ("too deep", "{ a { b { c { d { e } } } } }", Err(LimitError::Depth(5, 4))),
            ("too deep through a fragment", "{ a { ...F } } fragment F on T { b { c { d { e } } } }", Err(LimitError::Depth(5, 4))),
            ("aliases", "{ a: x b: x c: x d: x }", Err(LimitError::Aliases(4, 3))),
            ("fields", &format!("{{ {} }}", "x ".repeat(21)), Err(LimitError::Fields(20))),
            (
                "fields multiplied by spreads",
                "{ ...A ...A } fragment A on Q { ...B ...B } fragment B on Q { x y z w v u }",
                Err(LimitError::Fields(20)),
            ),
            ("cycle", "{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }", Err(LimitError::Cycle("A".into()))),
            ("operations", "query A { a } query B { a } query C { a }", Err(LimitError::Operations(3, 2))),
            (
                "fragments",
                "{ a } fragment A on Q { a } fragment B on Q { a } fragment C on Q { a } fragment D on Q { a } fragment E on Q { a } fragment F on Q { a }",
                Err(LimitError::Fragments(6, 5)),
            ),
            ("undefined fragment is left to validation", "{ ...Nope }", Ok(())),
        ];
        for (name, doc, want) in rows {
            assert_eq!(&check(&parse(doc), &small()).map(|_| ()), want, "{name}");
        }
    }

    /// Issue #20, item 3: forty levels of fragments that each spread the next twice expand to 2^40
    /// fields; the check walks each fragment once and refuses.
    #[test]
    fn exponential_fragment_expansion_is_refused_in_linear_time_20() {
        let mut doc = String::from("query { ...F0 }\n");
        for i in 0..40 {
            doc.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} }}\n", n = i + 1));
        }
        doc.push_str("fragment F40 on Query { rateLimit { remaining } }\n");
        let err = check(&parse(&doc), &Limits::default()).unwrap_err();
        assert_eq!(err, LimitError::Fields(Limits::default().fields));
        // The same shape within the limits: each fragment body is visited once.
        let doc = doc.replace("F40 on Query { rateLimit { remaining } }", "F40 on Query { __typename }");
        let shallow: String =
            doc.lines().take(12).collect::<Vec<_>>().join("\n") + "\nfragment F11 on Query { __typename }";
        let visits = check(&parse(&shallow), &Limits::default()).unwrap();
        assert_eq!(visits, 1 + 2 * 11 + 1, "one visit per written selection");
    }
}
