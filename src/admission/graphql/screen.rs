//! Screening GitHub's answer to a probed query: every object that carries a probe is kept only when
//! the owner its probe names is allowed; anything else becomes `null` with a `FORBIDDEN` error at its
//! path (GitHub's own shape for an object the caller may not see), and its subtree goes with it.
//!
//! Owns: reading probes back (`ghpool_t` names the concrete type, whose [`OwnerPath`] says which
//! probe field holds the owner), the verdict per object, removing every probe field, and the
//! errors. A contained object (no owner of its own) in an unanchored set (`ghpool_u`) is dropped; a
//! user or organization probed for its login must be an allowed owner, one selected for its public
//! profile only carries no probe and is kept.
//! Must never: keep an object whose probe is missing or unreadable, or pass an answer it could not
//! read (it is replaced whole by a `FORBIDDEN` error).

use serde_json::{json, Map, Value};

use super::probe::{LOGIN, MAX_VIA, NAME_WITH_OWNER, TYPE, UNANCHORED};
use super::{GithubSchema, OwnerPath, RESERVED_PREFIX};

/// JSON nesting screened; serde_json refuses deeper documents anyway (128), and ghpool's document
/// limits keep answers far shallower.
const MAX_DEPTH: usize = 256;

/// A screened answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened {
    pub body: Vec<u8>,
    /// Objects replaced by `null`.
    pub withheld: usize,
}

/// Why an object is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Withhold {
    Foreign,
    Unreadable,
    Unowned,
}

impl Withhold {
    fn message(self) -> &'static str {
        match self {
            Withhold::Foreign => "ghpool: this object does not belong to an allowed owner",
            Withhold::Unreadable => "ghpool: GitHub's answer does not say which owner this object belongs to",
            Withhold::Unowned => "ghpool: this object cannot be tied to an allowed owner",
        }
    }
}

struct Screen<'a, F> {
    schema: &'a GithubSchema,
    allowed: F,
    errors: Vec<Value>,
    withheld: usize,
}

/// Screen the answer to a probed query. An answer that is not a JSON object is replaced whole.
pub fn screen(answer: &[u8], schema: &GithubSchema, allowed: impl Fn(&str) -> bool) -> Screened {
    screen_repositories(answer, schema, |owner, _| allowed(owner))
}

/// [`screen`], judging each probed object by what its probe names: a repository (`allowed(owner,
/// Some(name))`, from `nameWithOwner`) or an owner as a whole (`allowed(login, None)`): an agent's
/// policy (issue #16) reaches some of an owner's repositories only. Names are lower-cased.
pub fn screen_repositories(
    answer: &[u8],
    schema: &GithubSchema,
    allowed: impl Fn(&str, Option<&str>) -> bool,
) -> Screened {
    let unreadable = || {
        let message = "ghpool could not read GitHub's answer to tell which owners its objects belong to";
        Screened {
            body: json!({"data": null, "errors": [{"type": "FORBIDDEN", "message": message}]}).to_string().into_bytes(),
            withheld: 1,
        }
    };
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(answer) else { return unreadable() };
    let mut screen = Screen { schema, allowed, errors: Vec::new(), withheld: 0 };
    if let Some(data) = answer.get_mut("data") {
        if screen.walk(data, &mut Vec::new(), 0).is_err() {
            return unreadable();
        }
    }
    // GitHub's own errors about ghpool's probe fields say nothing the client asked about.
    if let Some(Value::Array(errors)) = answer.get_mut("errors") {
        errors.retain(|e| !mentions_probe(e));
    }
    if !screen.errors.is_empty() {
        match answer.entry("errors").or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.append(&mut screen.errors),
            _ => return unreadable(),
        }
    }
    match serde_json::to_vec(&answer) {
        Ok(body) => Screened { body, withheld: screen.withheld },
        Err(_) => unreadable(),
    }
}

fn mentions_probe(error: &Value) -> bool {
    error["path"]
        .as_array()
        .is_some_and(|p| p.iter().any(|k| k.as_str().is_some_and(|k| k.starts_with(RESERVED_PREFIX))))
}

impl<F: Fn(&str, Option<&str>) -> bool> Screen<'_, F> {
    fn walk(&mut self, value: &mut Value, path: &mut Vec<Value>, depth: usize) -> Result<(), ()> {
        if depth > MAX_DEPTH {
            return Err(());
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Value::from(i));
                    self.walk(item, path, depth + 1)?;
                    path.pop();
                }
            }
            Value::Object(fields) => {
                let verdict = fields.contains_key(TYPE).then(|| self.judge(fields));
                fields.retain(|k, _| !k.starts_with(RESERVED_PREFIX));
                if let Some(Err(why)) = verdict {
                    *value = Value::Null;
                    self.withheld += 1;
                    self.errors.push(json!({"type": "FORBIDDEN", "path": path.clone(), "message": why.message()}));
                    return Ok(());
                }
                for (key, item) in fields.iter_mut() {
                    path.push(Value::from(key.as_str()));
                    self.walk(item, path, depth + 1)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An object that carries a probe: keep it, or why not.
    fn judge(&self, object: &Map<String, Value>) -> Result<(), Withhold> {
        let ty = object.get(TYPE).and_then(Value::as_str).ok_or(Withhold::Unreadable)?;
        match self.schema.owner_path(ty) {
            // A public profile carries no login probe: nothing to check.
            Some(OwnerPath::Login) if !object.contains_key(LOGIN) => Ok(()),
            Some(path) => {
                let (owner, name) = self.owner(object, path, 0).ok_or(Withhold::Unreadable)?;
                let name = name.map(str::to_ascii_lowercase);
                match (self.allowed)(&owner.to_ascii_lowercase(), name.as_deref()) {
                    true => Ok(()),
                    false => Err(Withhold::Foreign),
                }
            }
            None if object.contains_key(UNANCHORED) => Err(Withhold::Unowned),
            None => Ok(()),
        }
    }

    /// The owner an object's probe names along `path`, and the repository when the probe names one.
    fn owner<'v>(
        &self,
        object: &'v Map<String, Value>,
        path: &OwnerPath,
        depth: usize,
    ) -> Option<(&'v str, Option<&'v str>)> {
        let (owner, name) = match path {
            OwnerPath::NameWithOwner => {
                let (owner, name) = object.get(NAME_WITH_OWNER)?.as_str()?.split_once('/')?;
                if name.is_empty() || name.contains('/') {
                    return None;
                }
                (owner, Some(name))
            }
            OwnerPath::Login => (object.get(LOGIN)?.as_str()?, None),
            OwnerPath::Via { .. } if depth >= MAX_VIA => return None,
            OwnerPath::Via { alias, .. } => {
                let inner = object.get(alias)?.as_object()?;
                let ty = inner.get(TYPE)?.as_str()?;
                self.owner(inner, self.schema.owner_path(ty)?, depth + 1)?
            }
        };
        (!owner.is_empty()).then_some((owner, name))
    }
}
