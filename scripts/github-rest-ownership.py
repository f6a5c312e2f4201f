#!/usr/bin/env python3
"""Which REST answers carry an owner, and how: derived from GitHub's OpenAPI description.

Usage: github-rest-ownership.py <api.github.com.json> <out.tsv>

ghpool screens every pooled JSON answer (src/admission/rest_screen.rs): an object whose owner marker
names an owner outside the allowlist is withheld. GitHub answers an allowed path with whatever the
pool identity can see (a timeline's cross-referenced issue, a fork, a pull request's head repository,
a search hit), so the walker must recognise every way GitHub's schemas name an owner. This script
reads the description (the non-dereferenced file, whose $refs name the schemas) and writes, for every
schema reachable from the 200 answer of a GET operation, the marker its instances carry, and every
place an owned schema (or an inline owned object) is embedded in another one. A unit test beside the
walker builds an instance per row, so a refresh that brings a new kind of marker fails until the
walker learns it.

Markers, in the walker's order (the first the object has decides):
  full_name       a string `full_name` "owner/name" (repositories)
  repository_url  a string `repository_url` ".../repos/{owner}/{repo}" (issues, deployments, ...)
  repository      a member `repository` that is repository-shaped (search hits, check suites, ...)
  repo            a member `repo` that is repository-shaped (pull request head/base, starred)
  repo-compact    a member `repo` {id, name, url} (events; pull-request-minimal head/base)
Known limits (the walker cannot read an owner from these; it keeps them):
  repository_id   names its repository by id only
  repository_name names its repository by name only (no owner)
  repository-text names its repository by a string `repository`/`repo` only
  url-only        the owner appears only inside a `url`/`html_url` (per the description's examples)
  none            no sign of a repository owner at all

Python 3 standard library only; deterministic output (sorted, no timestamps).
"""

import json
import re
import sys

MARKERS = ("full_name", "repository_url", "repository", "repo", "repo-compact")
REPO_URL = re.compile(r"^https?://[^/]+(/api/v3)?/repos/[^/{}]+/[^/{}]+(/|$)")
# github.com paths whose first segment is not an owner (apps, teams, enterprises, ...).
HTML_URL = re.compile(r"^https?://github\.com/(?!(orgs|organizations|enterprises|apps|users|settings|marketplace|sponsors)/)[^/{}]+/[^/{}]+(/|$)")
SCHEMA_PREFIX = "#/components/schemas/"
RESPONSE_PREFIX = "#/components/responses/"


class Description:
    def __init__(self, doc):
        self.doc = doc
        self.schemas = doc["components"]["schemas"]
        self.responses = doc["components"].get("responses", {})

    def target(self, node):
        """The component schema name a node refers to, or None when it is inline."""
        ref = node.get("$ref") if isinstance(node, dict) else None
        if ref is None:
            return None
        if not ref.startswith(SCHEMA_PREFIX):
            raise SystemExit(f"unexpected $ref {ref}")
        return ref[len(SCHEMA_PREFIX):]

    def resolve(self, node, hops=0):
        while isinstance(node, dict) and "$ref" in node:
            hops += 1
            if hops > 64:
                raise SystemExit("$ref cycle")
            node = self.schemas[self.target(node)]
        return node if isinstance(node, dict) else {}

    def properties(self, node, depth=0):
        """Properties of an object schema, allOf parts merged (a union's alternatives are not)."""
        node = self.resolve(node)
        if depth > 32:
            raise SystemExit("allOf nesting too deep")
        merged = {}
        for part in node.get("allOf", []):
            merged.update(self.properties(part, depth + 1))
        merged.update(node.get("properties", {}))
        return merged

    def alternatives(self, node):
        """A schema, or each alternative of a union (anyOf/oneOf, as nullable-* members often are)."""
        node = self.resolve(node)
        union = node.get("anyOf", []) + node.get("oneOf", [])
        if not union:
            return [node]
        found = []
        for part in union:
            found.extend(self.alternatives(part))
        return found

    def is_string(self, node):
        return any(alt.get("type") == "string" for alt in self.alternatives(node))

    def repository_shaped(self, node):
        return any("full_name" in self.properties(alt) and self.is_string(self.properties(alt)["full_name"])
                   for alt in self.alternatives(node))

    def compact_repo(self, node):
        return any({"name", "url"} <= self.properties(alt).keys() for alt in self.alternatives(node))

    def marker(self, node):
        """(marker, member schema) the description says instances of an object schema carry."""
        props = self.properties(node)
        if "full_name" in props and self.is_string(props["full_name"]):
            return "full_name", "-"
        if "repository_url" in props and self.is_string(props["repository_url"]):
            return "repository_url", "-"
        for member in ("repository", "repo"):
            if member in props and self.repository_shaped(props[member]):
                return member, self.target(props[member]) or "-"
        if "repo" in props and self.compact_repo(props["repo"]):
            return "repo-compact", self.target(props["repo"]) or "-"
        return self.limit(props), "-"

    def limit(self, props):
        if "repository_id" in props:
            return "repository_id"
        if "repository_name" in props:
            return "repository_name"
        if any(m in props and self.is_string(props[m]) for m in ("repository", "repo")):
            return "repository-text"
        for name in ("url", "html_url"):
            example = self.resolve(props.get(name, {})).get("example")
            if isinstance(example, str) and (REPO_URL.match(example) or HTML_URL.match(example)):
                return "url-only"
        return "none"

    def owned(self, node):
        return self.marker(node)[0] in MARKERS

    def embeds(self, node, path, out, depth=0):
        """Paths under a schema to owned objects: a $ref to an owned schema ends a path (that schema
        has its own rows); an inline owned object is listed and walked on."""
        if depth > 64:
            raise SystemExit(f"inline nesting too deep at {path}")
        if not isinstance(node, dict):
            return
        name = self.target(node)
        if name is not None:
            if path and self.owned(node):
                out.add((path, name, self.marker(node)[0]))
            return
        if path and node.get("properties") and self.owned(node):
            out.add((path, "-", self.marker(node)[0]))
        for key, sub in node.get("properties", {}).items():
            self.embeds(sub, f"{path}.{key}" if path else key, out, depth + 1)
        if isinstance(node.get("items"), dict):
            self.embeds(node["items"], path + "[]", out, depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            self.embeds(node["additionalProperties"], f"{path}.*" if path else "*", out, depth + 1)
        for combinator in ("allOf", "anyOf", "oneOf"):
            for part in node.get(combinator, []):
                self.embeds(part, path, out, depth + 1)

    def get_answers(self):
        """(operation, schema) for every JSON 200 answer of a GET operation."""
        for path, item in self.doc["paths"].items():
            response = item.get("get", {}).get("responses", {}).get("200")
            if response is None:
                continue
            if "$ref" in response:
                response = self.responses[response["$ref"][len(RESPONSE_PREFIX):]]
            for media, content in sorted(response.get("content", {}).items()):
                if "schema" in content and (media == "application/json" or media.endswith("+json")):
                    yield f"GET {path}", content["schema"]

    def reachable(self, roots):
        seen, stack = set(), list(roots)
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                name = self.target(node)
                if name is not None:
                    if name not in seen:
                        seen.add(name)
                        stack.append(self.schemas[name])
                else:
                    stack.extend(v for k, v in node.items() if k != "example" and k != "examples")
        return seen


def rows(doc):
    desc = Description(doc)
    answers = sorted(desc.get_answers(), key=lambda a: a[0])
    out = []
    for name in sorted(desc.reachable([schema for _, schema in answers])):
        marker, member = desc.marker(desc.schemas[name])
        out.append(("schema", name, "-", member, marker))
        found = set()
        desc.embeds(desc.schemas[name], "", found)
        out.extend(("embed", name, path, target, mark) for path, target, mark in found)
    # An answer whose inline schema holds an owned object: which endpoints can carry another owner's.
    for operation, schema in answers:
        found = set()
        if desc.target(schema) is not None:
            if desc.owned(schema):
                found.add(("", desc.target(schema), desc.marker(schema)[0]))
        else:
            desc.embeds(schema, "", found)
            if schema.get("properties") and desc.owned(schema):
                found.add(("", "-", desc.marker(schema)[0]))
        out.extend(("answer", operation, path or "-", target, mark) for path, target, mark in found)
    return sorted(set(out))


def main(argv):
    if len(argv) != 3:
        raise SystemExit(f"usage: {argv[0]} <api.github.com.json> <out.tsv>")
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    found = rows(doc)
    header = (
        f"# Generated by scripts/github-rest-ownership.py from GitHub's OpenAPI description "
        f"({doc['info'].get('title', '?')} {doc['info'].get('version', '?')}); do not edit by hand, "
        f"re-run the script. Columns: kind (schema: the marker a schema's instances carry | embed: an "
        f"owned object inside a schema | answer: an owned object in a GET 200 answer), schema or "
        f"operation, path ('-' for the whole; a.b, [] an array item, * a map value), member or target "
        f"schema ('-' inline), marker (full_name, repository_url, repository, repo, repo-compact; "
        f"limits the walker keeps: repository_id, repository_name, repository-text, url-only, none).\n"
    )
    with open(argv[2], "w", encoding="utf-8", newline="\n") as f:
        f.write(header)
        for row in found:
            f.write("\t".join(row) + "\n")
    counts = {}
    for kind, _, _, _, marker in found:
        if kind == "schema":
            counts[marker] = counts.get(marker, 0) + 1
    summary = ", ".join(f"{m} {counts[m]}" for m in sorted(counts))
    print(f"{argv[2]}: {len(found)} rows; schemas per marker: {summary}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
