//! The comparison of one endpoint: a walker over the JSON form of two [`HostReport`]s and the
//! table of path rules it applies ([`RULES`], then name-based volatility, then the default).
//!
//! Every rule and its direction is documented in `docs/diff.md`; each has a unit test in
//! `super::tests`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{Change, Direction};
use crate::report::schema::{HostReport, Status};

/// What the comparison of one endpoint needs beyond the two records.
pub(super) struct Context<'a> {
    /// `DiffOptions::ignore`.
    pub ignore: &'a [String],
    /// Client profiles evaluated in both scans: only their `compat` cells are compared.
    pub clients: &'a BTreeSet<String>,
}

/// How the values at one path are compared.
#[derive(Clone, Copy)]
enum Rule {
    /// Any difference is `changed`; objects are compared field by field.
    Default,
    /// Never compared (timing, probe cost, free text, clock-dependent values).
    Volatile,
    /// Strings on a scale from worst to best: up is improved, down regressed; a value off the
    /// scale (or absent) on either side makes it `changed`.
    Ordered(&'static [&'static str]),
    /// A boolean: false → true is `gained`, true → false the opposite; null on either side
    /// (not probed) is `changed`.
    Flag { gained: Direction },
    /// A number: up is `higher`, down the opposite; null on either side is `changed`.
    Number { higher: Direction },
    /// A trust verdict: `trusted` above `untrusted: <reason>`; two different reasons, or null
    /// (not checked), are `changed`.
    Trust,
    /// The endpoint status (see [`status_direction`]).
    Status,
    /// An object whose keys are names (client profiles): children are shown as `[key]`.
    Map,
    /// A list of objects identified by one field: compared element by element as `[key]`.
    KeyedList(&'static str),
    /// Reported only together with a change at the given path (a value derived from it: a
    /// rename in rdpsweep's own tables is not a change of the host).
    Companion(&'static str),
    /// Not reported when the given path changed (another name of the same identity).
    Alias(&'static str),
    /// Compared by a function that sees both parent objects (the path is the child's).
    Custom(CustomRule),
}

type CustomRule = fn(&mut Walker<'_>, &mut Path, &Map<String, Value>, &Map<String, Value>);

const NLA_SCALE: &[&str] = &["not_supported", "supported", "required"];
const TLS_SCALE: &[&str] = &["ssl2", "ssl3", "1.0", "1.1", "1.2", "1.3"];
/// Standard RDP Security encryption levels (MS-RDPBCGR 2.2.1.4.3), weakest first.
const RDP_LEVEL_SCALE: &[&str] = &["none", "low", "client_compatible", "high", "fips"];
const ORACLE_SCALE: &[&str] = &["missing", "fixed"];
const SEVERITY_SCALE: &[&str] = &["info", "low", "medium", "high"];
/// Compatibility outcomes from best to worst (`unknown` is off the scale: not knowing is not
/// an outcome).
const OUTCOME_SCALE: &[&str] = &["ok", "warn", "exposed", "depends", "blocked"];

const CERT_SHA256: &str = "tls.certificate.sha256";

/// Path patterns (map and list keys as `[*]`) and their rules. A pattern not listed here
/// falls to [`volatile_by_name`] and then [`Rule::Default`].
const RULES: &[(&str, Rule)] = &[
    // Probe cost and timing.
    ("connections", Rule::Volatile),
    ("elapsed_ms", Rule::Volatile),
    ("schema_version", Rule::Volatile),
    ("status", Rule::Status),
    ("error.message", Rule::Volatile),
    // Security layer (MS-RDPBCGR 2.2.1.1.1, 2.2.1.2).
    ("security.nla", Rule::Ordered(NLA_SCALE)),
    ("security.nla_reason", Rule::Volatile),
    ("security.probes", Rule::Volatile),
    (
        "security.protocols.rdp",
        Rule::Flag {
            gained: Direction::Regressed,
        },
    ),
    (
        "security.protocols.tls",
        Rule::Flag {
            gained: Direction::Regressed,
        },
    ),
    (
        "security.protocols.credssp",
        Rule::Flag {
            gained: Direction::Improved,
        },
    ),
    (
        "security.protocols.credssp_early_auth",
        Rule::Flag {
            gained: Direction::Improved,
        },
    ),
    // TLS (RFC 8996 deprecates 1.0 and 1.1).
    ("tls.version", Rule::Ordered(TLS_SCALE)),
    ("tls.versions", Rule::Custom(tls_versions)),
    ("tls.versions_probed", Rule::Volatile), // read by the tls.versions rule
    ("tls.versions_undecided", Rule::Volatile), // what the tls.versions rule calls undecided
    ("tls.error", Rule::Volatile),
    ("tls.certificate.days_left", Rule::Volatile),
    ("tls.certificate.sha1", Rule::Alias(CERT_SHA256)),
    ("tls.certificate.serial", Rule::Alias(CERT_SHA256)),
    ("tls.certificate.not_before", Rule::Alias(CERT_SHA256)),
    ("tls.trust.platform", Rule::Trust),
    ("tls.trust.ca_file", Rule::Trust),
    ("tls.trust.name", Rule::Trust),
    ("tls.trust.name_checked", Rule::Companion("tls.trust.name")),
    // Server implementation: the verdict and version; the evidence is free text.
    ("server.evidence", Rule::Volatile),
    (
        "server.rdp_version_raw",
        Rule::Companion("server.rdp_version"),
    ),
    // Standard RDP Security (MS-RDPBCGR 5.3); its server version is `server.rdp_version`.
    (
        "rdp_security.encryption_level",
        Rule::Ordered(RDP_LEVEL_SCALE),
    ),
    ("rdp_security.methods_enumerated", Rule::Volatile), // how it was probed (--deep)
    ("rdp_security.server_version", Rule::Volatile),
    ("rdp_security.server_version_raw", Rule::Volatile),
    // CredSSP (MS-CSSP 2.2.1; version 5 and 6 carry the CVE-2018-0886 fix).
    (
        "credssp.version",
        Rule::Number {
            higher: Direction::Improved,
        },
    ),
    ("credssp.cve_2018_0886", Rule::Ordered(ORACLE_SCALE)),
    ("credssp.error_name", Rule::Companion("credssp.error_code")),
    ("credssp.emulated", Rule::KeyedList("client_version")),
    // NTLM identity (MS-NLMP 2.2.1.2).
    ("ntlm.os_version", Rule::Companion("ntlm.os_build")),
    ("ntlm.os_name", Rule::Companion("ntlm.os_build")),
    ("ntlm.server_time", Rule::Volatile),
    ("ntlm.clock_skew_s", Rule::Volatile),
    ("findings", Rule::Custom(findings)),
    ("compat", Rule::Map),
    ("compat[*]", Rule::Custom(compat_cell)),
];

/// Volatile by field name, so that new fields of these kinds need no rule: free text (`note`,
/// `notes`, `*_note`, `*_reason`, `message`, `remediation`) and timing (`*_ms`, `*_us`, `*_ns`,
/// `*_time`, `elapsed*`).
fn volatile_by_name(field: &str) -> bool {
    matches!(field, "note" | "notes" | "message" | "remediation")
        || field.starts_with("elapsed")
        || ["_note", "_reason", "_ms", "_us", "_ns", "_time"]
            .iter()
            .any(|s| field.ends_with(s))
}

fn rule_for(pattern: &str, field: Option<&str>) -> Rule {
    if let Some((_, rule)) = RULES.iter().find(|(p, _)| *p == pattern) {
        return *rule;
    }
    match field {
        Some(f) if volatile_by_name(f) => Rule::Volatile,
        _ => Rule::Default,
    }
}

/// Top-level fields in the order their changes are listed; other fields follow by name.
const TOP_ORDER: &[&str] = &[
    "status",
    "error",
    "target",
    "ip",
    "port",
    "security",
    "server",
    "tls",
    "rdp_security",
    "credssp",
    "ntlm",
    "findings",
    "compat",
];

/// The fields compared when RDP appears at or vanishes from an endpoint (`status` moves to or
/// from `rdp`); `findings` only when RDP appeared (see `docs/diff.md`).
const TRANSITION_FIELDS: &[&str] = &["status", "error", "target", "ip", "port", "findings"];

#[derive(Clone)]
enum Seg {
    Field(String),
    Key(String),
}

/// A path in the host object: fields and `[key]`s.
#[derive(Clone, Default)]
pub(super) struct Path(Vec<Seg>);

impl Path {
    fn render(&self, wildcard: bool) -> String {
        let mut s = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Field(f) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(f);
                }
                Seg::Key(k) => {
                    s.push('[');
                    s.push_str(if wildcard { "*" } else { k });
                    s.push(']');
                }
            }
        }
        s
    }

    fn text(&self) -> String {
        self.render(false)
    }

    fn pattern(&self) -> String {
        self.render(true)
    }

    fn last(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Field(f) | Seg::Key(f)) => Some(f.as_str()),
            None => None,
        }
    }

    fn last_field(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Field(f)) => Some(f.as_str()),
            _ => None,
        }
    }
}

/// A change waiting for the companion/alias filter.
struct Pending {
    change: Change,
    companion_of: Option<&'static str>,
    alias_of: Option<&'static str>,
}

pub(super) struct Walker<'a> {
    ctx: &'a Context<'a>,
    out: Vec<Pending>,
}

static NULL: Value = Value::Null;

/// Null, `[]` and `{}` all mean "nothing here".
fn nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    (nothing(a) && nothing(b)) || a == b
}

/// A JSON object, or nothing (null / absent / empty).
fn objectish(v: &Value) -> bool {
    v.is_object() || nothing(v)
}

fn rank(scale: &[&str], v: &Value) -> Option<usize> {
    let s = v.as_str()?;
    scale.iter().position(|x| *x == s)
}

/// Up the scale is `up`, down the opposite, off the scale `changed`.
fn by_rank(o: Option<usize>, n: Option<usize>, up: Direction) -> Direction {
    match (o, n) {
        (Some(o), Some(n)) if n > o => up,
        (Some(o), Some(n)) if n < o => up.flip(),
        _ => Direction::Changed,
    }
}

fn trust_rank(v: &Value) -> Option<usize> {
    match v.as_str()? {
        "trusted" => Some(1),
        s if s.starts_with("untrusted") => Some(0),
        _ => None,
    }
}

/// `rdp` → `not_rdp` or `error`: the port still answers but RDP can no longer be probed (a
/// broken service, another service on the RDP port): regressed. Everything else, including
/// `rdp` → `closed`/`filtered` (decommissioned or firewalled: nothing got weaker) and any
/// status → `rdp` (its findings say whether that is worse), is `changed`.
fn status_direction(o: &Value, n: &Value) -> Direction {
    let rdp = Status::Rdp.as_str();
    let was_rdp = o.as_str() == Some(rdp);
    match n.as_str() {
        Some(s) if was_rdp && (s == Status::NotRdp.as_str() || s == Status::Error.as_str()) => {
            Direction::Regressed
        }
        _ => Direction::Changed,
    }
}

fn direction(rule: Rule, o: &Value, n: &Value) -> Direction {
    match rule {
        Rule::Ordered(scale) => by_rank(rank(scale, o), rank(scale, n), Direction::Improved),
        Rule::Flag { gained } => match (o.as_bool(), n.as_bool()) {
            (Some(false), Some(true)) => gained,
            (Some(true), Some(false)) => gained.flip(),
            _ => Direction::Changed,
        },
        Rule::Number { higher } => match (o.as_f64(), n.as_f64()) {
            (Some(a), Some(b)) if b > a => higher,
            (Some(a), Some(b)) if b < a => higher.flip(),
            _ => Direction::Changed,
        },
        Rule::Trust => by_rank(trust_rank(o), trust_rank(n), Direction::Improved),
        Rule::Status => status_direction(o, n),
        _ => Direction::Changed,
    }
}

impl<'a> Walker<'a> {
    fn ignored(&self, path: &Path) -> bool {
        if self.ctx.ignore.is_empty() {
            return false;
        }
        let (text, pattern) = (path.text(), path.pattern());
        self.ctx.ignore.iter().any(|prefix| {
            [&text, &pattern].iter().any(|p| {
                p.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
        })
    }

    fn push(&mut self, path: &Path, rule: Rule, old: &Value, new: &Value, direction: Direction) {
        if self.ignored(path) {
            return;
        }
        self.out.push(Pending {
            change: Change {
                path: path.text(),
                old: old.clone(),
                new: new.clone(),
                direction,
            },
            companion_of: match rule {
                Rule::Companion(of) => Some(of),
                _ => None,
            },
            alias_of: match rule {
                Rule::Alias(of) => Some(of),
                _ => None,
            },
        });
    }

    /// Compares field (or key) `seg` of two parent objects.
    fn child(
        &mut self,
        path: &mut Path,
        seg: Seg,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) {
        let name = match &seg {
            Seg::Field(f) | Seg::Key(f) => f.clone(),
        };
        let o = old.get(&name).unwrap_or(&NULL);
        let n = new.get(&name).unwrap_or(&NULL);
        // Equal values hold no change under any rule (custom rules that read the parents only
        // list what differs in their own field): skip the subtree.
        if o == n {
            return;
        }
        path.0.push(seg);
        if !self.ignored(path) {
            let rule = rule_for(&path.pattern(), path.last_field());
            self.apply(path, rule, o, n, old, new);
        }
        path.0.pop();
    }

    fn apply(
        &mut self,
        path: &mut Path,
        rule: Rule,
        o: &Value,
        n: &Value,
        old_parent: &Map<String, Value>,
        new_parent: &Map<String, Value>,
    ) {
        let empty = Map::new();
        match rule {
            Rule::Volatile => {}
            Rule::Custom(f) => f(self, path, old_parent, new_parent),
            Rule::Map if objectish(o) && objectish(n) => self.object(
                path,
                o.as_object().unwrap_or(&empty),
                n.as_object().unwrap_or(&empty),
                true,
            ),
            Rule::KeyedList(field) => {
                let (ko, kn) = (keyed(o, field), keyed(n, field));
                self.object(path, &ko, &kn, true)
            }
            Rule::Default if objectish(o) && objectish(n) && !(nothing(o) && nothing(n)) => self
                .object(
                    path,
                    o.as_object().unwrap_or(&empty),
                    n.as_object().unwrap_or(&empty),
                    false,
                ),
            _ => {
                if !same(o, n) {
                    self.push(path, rule, o, n, direction(rule, o, n));
                }
            }
        }
    }

    /// Compares two objects key by key (sorted by name).
    fn object(
        &mut self,
        path: &mut Path,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
        keyed: bool,
    ) {
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for k in keys {
            let seg = if keyed {
                Seg::Key(k.clone())
            } else {
                Seg::Field(k.clone())
            };
            self.child(path, seg, old, new);
        }
    }

    /// Drops companions whose source did not change and aliases whose source did.
    fn finish(self) -> Vec<Change> {
        let changed: BTreeSet<String> = self.out.iter().map(|p| p.change.path.clone()).collect();
        self.out
            .into_iter()
            .filter(|p| p.companion_of.is_none_or(|of| changed.contains(of)))
            .filter(|p| p.alias_of.is_none_or(|of| !changed.contains(of)))
            .map(|p| p.change)
            .collect()
    }
}

/// A list of objects as a map from the text of `field` (`#index` when it is missing); the
/// later element wins on a repeated key.
fn keyed(list: &Value, field: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for (i, item) in list.as_array().into_iter().flatten().enumerate() {
        let key = match item.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => format!("#{i}"),
        };
        map.insert(key, item.clone());
    }
    map
}

/// Compares two host records (see the module documentation of `super`).
pub(super) fn compare(old: &HostReport, new: &HostReport, ctx: &Context<'_>) -> Vec<Change> {
    // Serialising a HostReport cannot fail (string keys only); a failure would compare empty.
    let o = serde_json::to_value(old).unwrap_or(Value::Null);
    let n = serde_json::to_value(new).unwrap_or(Value::Null);
    compare_values(&o, &n, ctx)
}

/// [`compare`] over the JSON forms (also what the tests use to add fields the schema does not
/// have yet).
pub(super) fn compare_values(old: &Value, new: &Value, ctx: &Context<'_>) -> Vec<Change> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let rdp = Value::String(Status::Rdp.as_str().into());
    let (was_rdp, is_rdp) = (o.get("status") == Some(&rdp), n.get("status") == Some(&rdp));
    let transition = was_rdp != is_rdp;

    let mut keys: Vec<&String> = o
        .keys()
        .chain(n.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by_key(|k| {
        (
            TOP_ORDER
                .iter()
                .position(|t| *t == k.as_str())
                .unwrap_or(TOP_ORDER.len()),
            (*k).clone(),
        )
    });

    let mut w = Walker {
        ctx,
        out: Vec::new(),
    };
    let mut path = Path::default();
    for k in keys {
        if transition && (!TRANSITION_FIELDS.contains(&k.as_str()) || (k == "findings" && !is_rdp))
        {
            continue;
        }
        w.child(&mut path, Seg::Field(k.clone()), o, n);
    }
    w.finish()
}

/// `tls.versions` with `tls.versions_probed`: per version, `accepted` (in `versions`),
/// `refused` (probed, not accepted) or `undecided`. Gaining SSL 3.0, TLS 1.0 or 1.1 is
/// regressed (RFC 8996), gaining 1.3 improved, losing them the opposite; 1.2 and unknown
/// versions are `changed`; a side that did not decide the version makes it `changed`, and
/// refused ↔ undecided is not listed (nothing was learnt).
fn tls_versions(
    w: &mut Walker<'_>,
    path: &mut Path,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) {
    let strings = |parent: &Map<String, Value>, field: &str| -> BTreeSet<String> {
        parent
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (oa, op) = (strings(old, "versions"), strings(old, "versions_probed"));
    let (na, np) = (strings(new, "versions"), strings(new, "versions_probed"));
    let state = |accepted: &BTreeSet<String>, probed: &BTreeSet<String>, v: &str| {
        if accepted.contains(v) {
            "accepted"
        } else if probed.contains(v) {
            "refused"
        } else {
            "undecided"
        }
    };
    let mut all: Vec<&String> = oa.iter().chain(&op).chain(&na).chain(&np).collect();
    all.sort_by_key(|v| {
        (
            TLS_SCALE
                .iter()
                .position(|s| *s == v.as_str())
                .unwrap_or(TLS_SCALE.len()),
            (*v).clone(),
        )
    });
    all.dedup();
    for v in all {
        let (so, sn) = (state(&oa, &op, v), state(&na, &np, v));
        if so == sn || (so != "accepted" && sn != "accepted") {
            continue;
        }
        let gained = match v.as_str() {
            "ssl2" | "ssl3" | "1.0" | "1.1" => Direction::Regressed,
            "1.3" => Direction::Improved,
            _ => Direction::Changed,
        };
        let direction = match (so, sn) {
            ("refused", "accepted") => gained,
            ("accepted", "refused") => gained.flip(),
            _ => Direction::Changed,
        };
        path.0.push(Seg::Key(v.clone()));
        w.push(
            path,
            Rule::Default,
            &Value::String(so.into()),
            &Value::String(sn.into()),
            direction,
        );
        path.0.pop();
    }
}

/// `findings` as a set keyed by id (the highest severity when an id repeats): a finding that
/// appears is regressed, one that disappears improved, a severity up regressed and down
/// improved; `info` findings appearing or disappearing are `changed` (facts, not
/// weaknesses). The message is free text and never compared. Values are the severity.
fn findings(
    w: &mut Walker<'_>,
    path: &mut Path,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) {
    let by_id = |parent: &Map<String, Value>| -> BTreeMap<String, Value> {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        for f in parent
            .get("findings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = f.get("id").and_then(Value::as_str) else {
                continue;
            };
            let sev = f.get("severity").cloned().unwrap_or(Value::Null);
            let keep = m
                .get(id)
                .is_some_and(|prev| rank(SEVERITY_SCALE, prev) >= rank(SEVERITY_SCALE, &sev));
            if !keep {
                m.insert(id.to_owned(), sev);
            }
        }
        m
    };
    let (o, n) = (by_id(old), by_id(new));
    let ids: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let info = Value::String("info".into());
    for id in ids {
        let (so, sn) = (o.get(id), n.get(id));
        let direction = match (so, sn) {
            (Some(a), Some(b)) if a == b => continue,
            (None, Some(s)) => {
                if *s == info {
                    Direction::Changed
                } else {
                    Direction::Regressed
                }
            }
            (Some(s), None) => {
                if *s == info {
                    Direction::Changed
                } else {
                    Direction::Improved
                }
            }
            (Some(a), Some(b)) => by_rank(
                rank(SEVERITY_SCALE, a),
                rank(SEVERITY_SCALE, b),
                Direction::Regressed,
            ),
            (None, None) => continue,
        };
        path.0.push(Seg::Key(id.clone()));
        w.push(
            path,
            Rule::Default,
            so.unwrap_or(&NULL),
            sn.unwrap_or(&NULL),
            direction,
        );
        path.0.pop();
    }
}

/// `outcome` or `outcome:reason`, as `docs/compat.md` writes a cell.
fn cell_text(cell: &Value) -> Value {
    match (
        cell.get("outcome").and_then(Value::as_str),
        cell.get("reason").and_then(Value::as_str),
    ) {
        (Some(o), Some(r)) => Value::String(format!("{o}:{r}")),
        (Some(o), None) => Value::String(o.into()),
        _ => Value::Null,
    }
}

/// One `compat[client]` cell, listed as `compat[client].outcome` with `outcome:reason`
/// values: a worse outcome (ok < warn < exposed < depends < blocked) is regressed, a better
/// one improved; the same outcome for another reason, or `unknown` on either side, is
/// `changed`. The remediation is free text and never compared. Clients evaluated in only one
/// scan are skipped.
fn compat_cell(
    w: &mut Walker<'_>,
    path: &mut Path,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) {
    let Some(client) = path.last().map(str::to_owned) else {
        return;
    };
    if !w.ctx.clients.contains(&client) {
        return;
    }
    let o = old.get(&client).unwrap_or(&NULL);
    let n = new.get(&client).unwrap_or(&NULL);
    let (to, tn) = (cell_text(o), cell_text(n));
    if to == tn {
        return;
    }
    let outcome = |c: &Value| rank(OUTCOME_SCALE, c.get("outcome").unwrap_or(&NULL));
    let direction = by_rank(outcome(o), outcome(n), Direction::Regressed);
    path.0.push(Seg::Field("outcome".into()));
    w.push(path, Rule::Default, &to, &tn, direction);
    path.0.pop();
}
