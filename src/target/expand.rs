//! [`TargetSet`]: lazy expansion of parsed targets into endpoints, with deduplication,
//! exclusions, a seeded spreading permutation and sharding.
//!
//! # How it works
//!
//! Every target is a *block* of `addresses × ports` endpoints (a name is one "address"). The
//! blocks are laid end to end in one index space `0..total`; index `i` decodes to (block,
//! address, port) by a binary search over the block start offsets. Nothing is materialised:
//! the per-block state is a few words.
//!
//! Deduplication and exclusion are decided per endpoint: an endpoint is yielded from block `b`
//! only if `b` is the *first* block containing it and no exclusion covers it. To make that
//! check O(log n) rather than O(blocks), ports are grouped into *classes*: each port given
//! explicitly (a target's own `:PORT`, or an exclusion's) is a class of its own, and all other
//! default ports form one shared class (every block containing one of them contains all of
//! them). For each (family, class) a sorted list of disjoint segments records which block first
//! covers each address (or that an exclusion does), built once by a sweep over the blocks'
//! intervals.
//!
//! # Which index space is permuted
//!
//! When nothing is deduplicated or excluded, the scan order is a seeded [`Permutation`] of
//! `0..total` and shard `I/N` takes positions `I-1, I-1+N, ...` of it.
//!
//! When something is, the segments above already say exactly which addresses of which block
//! survive on which port class: the segments whose priority is the block's own. Those
//! *survivor runs* (block, port class, first address, length) are laid end to end in a second,
//! smaller index space `0..survivors`, and the permutation and the shards are taken over that
//! one instead. Every position then yields an endpoint, so iteration never skips, `len()` is a
//! closed formula, and shards differ in size by at most one even with exclusions. The runs cost
//! 24 bytes each and there are never more of them than segments in the maps (which already
//! hold every target and exclusion interval); past [`MAX_SURVIVOR_RUNS`] runs the set falls
//! back to permuting `0..total` and skipping the positions that are not yielded, which is
//! slow only when few endpoints survive in a huge space.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use super::error::TargetError;
use super::permute::Permutation;
use super::shard::Shard;
use super::spec::{AddrRange, Family, Kind, TargetSpec, from_int, to_int};

/// Default seed of the spreading permutation (the bytes of "rdpsweep"). Sharded scans on
/// several machines must all use the same seed (this one unless they all pass the same other).
pub const DEFAULT_SEED: u64 = 0x7264_7073_7765_6570;

/// Most addresses one target may expand to: 2^32 (an IPv4 `/0` or an IPv6 `/96`). An IPv6
/// `/64` (2^64 addresses) cannot be scanned by enumeration and is rejected by
/// [`TargetSet::new`] with [`TargetError::TooLarge`]. Exclusions have no limit.
pub const MAX_ADDRESSES_PER_TARGET: u64 = 1 << 32;

/// Priority of an exclusion in the first-block maps (blocks are `1..`).
const EXCLUDED: u32 = 0;
/// No block covers this segment.
const GAP: u32 = u32::MAX;
/// The class shared by the default ports that no target or exclusion names explicitly.
const GENERIC_CLASS: u32 = 0;

/// Most survivor runs [`TargetSet::new`] lays out (2^20, 24 MiB); beyond that it permutes the
/// whole index space and skips what is not yielded (see the module docs).
pub(super) const MAX_SURVIVOR_RUNS: usize = 1 << 20;

/// [`Run::ports`] for "every port of the block", in the block's port order.
const ALL_PORTS: u32 = u32::MAX;

/// Consecutive surviving endpoints of one block: addresses `first ..` (offsets in the block) on
/// the ports of one class, address-major like the blocks themselves. The run ends where the
/// next one starts (the last one at the end of the survivor index space).
#[derive(Clone, Copy, Debug)]
struct Run {
    /// First index of the run in the survivor index space.
    base: u64,
    /// Index into [`TargetSet::blocks`].
    block: u32,
    /// Index into [`TargetSet::default_classes`], or [`ALL_PORTS`].
    ports: u32,
    /// Offset of the run's first address in the block (a block has at most 2^32 addresses).
    first: u32,
}

/// The index space the permutation runs over.
#[derive(Clone, Debug)]
enum Layout {
    /// `0..total`, every block whole; positions whose endpoint is not yielded are skipped.
    /// Used when nothing is skipped, and as the fallback past [`MAX_SURVIVOR_RUNS`].
    Whole,
    /// `0..survivors`: only the surviving endpoints, as runs sorted by `base`.
    Survivors(Vec<Run>),
}

/// A host to probe: an address, or a name the scanner resolves.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A host name as written in the target (not resolved, not lowercased).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// One endpoint to probe.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Display form: the host name for names, the address text (`10.0.0.7`, `fd00::7`) for
    /// addresses, including those expanded from a CIDR or range.
    pub target: String,
    /// The host.
    pub host: Host,
    /// The TCP port.
    pub port: u16,
}

/// For each (family, class): which block first covers each address, as disjoint segments
/// covering the whole address line. Segment `k` spans `starts[k] ..= starts[k+1] - 1` (the last
/// one up to `u128::MAX`) and has priority `prios[k]`: [`EXCLUDED`], a block number + 1, or
/// [`GAP`].
#[derive(Clone, Debug, Default)]
struct FirstMap {
    starts: Vec<u128>,
    prios: Vec<u32>,
}

impl FirstMap {
    /// Lower envelope (minimum priority) of inclusive intervals, by a sweep over their ends.
    fn build(intervals: &[(u128, u128, u32)]) -> Self {
        let mut events: Vec<(u128, bool, u32)> = Vec::with_capacity(intervals.len() * 2);
        for &(start, end, prio) in intervals {
            events.push((start, true, prio));
            if let Some(after) = end.checked_add(1) {
                events.push((after, false, prio));
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut map = Self {
            starts: vec![0],
            prios: vec![GAP],
        };
        // Multiset of the priorities of the intervals covering the current point.
        let mut active: BTreeMap<u32, usize> = BTreeMap::new();
        for group in events.chunk_by(|a, b| a.0 == b.0) {
            for &(_, is_start, prio) in group {
                if is_start {
                    *active.entry(prio).or_insert(0) += 1;
                } else if let Some(n) = active.get_mut(&prio) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        active.remove(&prio);
                    }
                }
            }
            let point = group.first().map_or(0, |e| e.0);
            let current = active.first_key_value().map_or(GAP, |(&p, _)| p);
            map.set_from(point, current);
        }
        map
    }

    /// Records that priority `prio` holds from `point` on (points arrive in increasing order).
    fn set_from(&mut self, point: u128, prio: u32) {
        if self.starts.last() == Some(&point) {
            self.starts.pop();
            self.prios.pop();
        }
        if self.prios.last() != Some(&prio) {
            self.starts.push(point);
            self.prios.push(prio);
        }
    }

    fn at(&self, v: u128) -> u32 {
        let k = self.starts.partition_point(|&s| s <= v);
        k.checked_sub(1)
            .and_then(|k| self.prios.get(k))
            .copied()
            .unwrap_or(GAP)
    }

    /// Calls `f(lo, hi, prio)` for each segment clipped to `lo ..= hi`.
    fn for_each_within(&self, lo: u128, hi: u128, mut f: impl FnMut(u128, u128, u32)) {
        let first = self.starts.partition_point(|&s| s <= lo).saturating_sub(1);
        for k in first..self.starts.len() {
            let (Some(&start), Some(&prio)) = (self.starts.get(k), self.prios.get(k)) else {
                break;
            };
            if start > hi {
                break;
            }
            let end = self
                .starts
                .get(k + 1)
                .map_or(u128::MAX, |&next| next.saturating_sub(1));
            let (a, b) = (start.max(lo), end.min(hi));
            if a <= b {
                f(a, b, prio);
            }
        }
    }
}

/// Which ports a block has: the default list or its own one.
#[derive(Clone, Copy, Debug)]
enum Ports {
    Default,
    Own(u16),
}

#[derive(Clone, Debug)]
enum BlockKind {
    Addr {
        family: Family,
        start: u128,
        /// Number of addresses, `1..=MAX_ADDRESSES_PER_TARGET`.
        count: u64,
    },
    Name {
        name: String,
        /// Index of the lowercased name (dedup key) in the set's name table.
        id: u32,
        /// Excluded on every port by an exclusion without a port.
        excluded: bool,
    },
}

#[derive(Clone, Debug)]
struct Block {
    kind: BlockKind,
    ports: Ports,
}

/// Exclusions as given, for [`TargetSet::is_excluded`] (the iteration uses the first maps).
#[derive(Clone, Debug, Default)]
struct Exclusions {
    /// All-port exclusions, sorted by (family, start) and merged.
    all: Vec<AddrRange>,
    /// Exclusions of one port.
    by_port: Vec<(AddrRange, u16)>,
}

impl Exclusions {
    fn new(mut all: Vec<AddrRange>, by_port: Vec<(AddrRange, u16)>) -> Self {
        all.sort_unstable_by_key(|r| (r.family, r.start));
        let mut merged: Vec<AddrRange> = Vec::with_capacity(all.len());
        for r in all {
            match merged.last_mut() {
                Some(last)
                    if last.family == r.family
                        && last.end.checked_add(1).is_none_or(|next| r.start <= next) =>
                {
                    last.end = last.end.max(r.end);
                }
                _ => merged.push(r),
            }
        }
        Self {
            all: merged,
            by_port,
        }
    }

    fn contains(&self, ip: IpAddr, port: u16) -> bool {
        let (family, v) = to_int(ip);
        let k = self
            .all
            .partition_point(|r| (r.family, r.start) <= (family, v));
        let in_all = k
            .checked_sub(1)
            .and_then(|k| self.all.get(k))
            .is_some_and(|r| r.contains(family, v));
        in_all
            || self
                .by_port
                .iter()
                .any(|(r, p)| *p == port && r.contains(family, v))
    }
}

/// The endpoints of a scan: targets × ports, deduplicated, minus exclusions, in a seeded
/// spreading order, optionally one shard of it. Iterates lazily in O(1) memory; see the
/// [module docs](super) for the semantics.
#[derive(Clone, Debug)]
pub struct TargetSet {
    blocks: Vec<Block>,
    /// Start of each block in the index space (parallel to `blocks`, increasing).
    bases: Vec<u64>,
    default_ports: Vec<u16>,
    /// For the default ports: (class, slots of the default list in that class).
    default_classes: Vec<(u32, Vec<u64>)>,
    /// Port -> class; 65536 entries.
    class_of: Vec<u32>,
    class_count: usize,
    /// `maps[family * class_count + class]`.
    maps: Vec<FirstMap>,
    /// (name id, class) -> priority of the first block with that name on that class, or
    /// [`EXCLUDED`].
    name_first: HashMap<(u32, u32), u32>,
    exclusions: Exclusions,
    total: u64,
    layout: Layout,
    /// Size of the permuted index space: `total` ([`Layout::Whole`]) or the number of surviving
    /// endpoints ([`Layout::Survivors`]).
    domain: u64,
    perm: Permutation,
    shard_offset: u64,
    shard_step: u64,
    len: u64,
}

fn family_index(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

fn name_key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Number of positions `p` in `0..total` with `p % step == offset`.
fn positions(total: u64, offset: u64, step: u64) -> u64 {
    if offset >= total || step == 0 {
        0
    } else {
        (total - 1 - offset) / step + 1
    }
}

fn addresses_text(r: &AddrRange) -> String {
    r.count().map_or_else(
        || "340282366920938463463374607431768211456".to_owned(),
        |c| c.to_string(),
    )
}

impl TargetSet {
    /// Builds the set.
    ///
    /// - `specs`: the targets, in order (the order decides which target "owns" a duplicate
    ///   endpoint; it does not decide the scan order, which is the permutation).
    /// - `excludes`: endpoints never yielded. An address exclusion without a port removes the
    ///   addresses on every port, with a port only on that port. A name exclusion matches name
    ///   targets by case-insensitive name (a trailing dot ignored); it does not match addresses
    ///   the name resolves to: the scanner checks those with [`Self::is_excluded`].
    /// - `default_ports`: the ports of targets without their own `:PORT` (duplicates ignored).
    /// - `seed`: the permutation key ([`DEFAULT_SEED`] unless the user gives one).
    /// - `shard`: `Some(I/N)` to keep only shard `I` of `N` of the permuted sequence.
    ///
    /// Errors: an invalid shard, port 0 in `default_ports`, a target without a port when
    /// `default_ports` is empty, a target larger than [`MAX_ADDRESSES_PER_TARGET`], or a total
    /// beyond `u64::MAX` endpoints.
    ///
    /// Cost: O(n log n) in the number of targets and exclusions, plus a pass over the segments
    /// each target overlaps. Memory: the segments, plus at most 2^20 survivor runs of 24 bytes
    /// when something is deduplicated or excluded (see the [module docs](super)). Only past
    /// that many runs, sharding a set with duplicates or exclusions also counts the shard
    /// exactly by checking min(duplicate-or-excluded endpoints, endpoints in the shard)
    /// endpoints, and iteration skips the removed positions.
    pub fn new(
        specs: Vec<TargetSpec>,
        excludes: Vec<TargetSpec>,
        default_ports: &[u16],
        seed: u64,
        shard: Option<Shard>,
    ) -> Result<Self, TargetError> {
        Self::build(
            specs,
            excludes,
            default_ports,
            seed,
            shard,
            MAX_SURVIVOR_RUNS,
        )
    }

    /// [`Self::new`] with another limit on the survivor runs (tests force the fallback with 0).
    pub(super) fn build(
        specs: Vec<TargetSpec>,
        excludes: Vec<TargetSpec>,
        default_ports: &[u16],
        seed: u64,
        shard: Option<Shard>,
        max_runs: usize,
    ) -> Result<Self, TargetError> {
        if let Some(s) = &shard {
            s.validate()?;
        }
        if default_ports.contains(&0) {
            return Err(TargetError::ZeroDefaultPort);
        }
        if specs.len() >= (GAP - 1) as usize {
            return Err(TargetError::TooManyEndpoints);
        }
        let mut seen = HashSet::new();
        let default_ports: Vec<u16> = default_ports
            .iter()
            .copied()
            .filter(|p| seen.insert(*p))
            .collect();

        // Port classes: every explicitly named port is its own class.
        let mut class_of = vec![GENERIC_CLASS; usize::from(u16::MAX) + 1];
        let mut class_count: u32 = 1;
        let explicit_ports = specs.iter().chain(&excludes).filter_map(|s| s.port);
        for p in explicit_ports {
            if let Some(c) = class_of.get_mut(usize::from(p))
                && *c == GENERIC_CLASS
            {
                *c = class_count;
                class_count += 1;
            }
        }
        let class_count = class_count as usize;
        let class = |p: u16| {
            class_of
                .get(usize::from(p))
                .copied()
                .unwrap_or(GENERIC_CLASS)
        };
        let mut default_classes: Vec<(u32, Vec<u64>)> = Vec::new();
        for (slot, &p) in (0u64..).zip(&default_ports) {
            let c = class(p);
            match default_classes.iter_mut().find(|(k, _)| *k == c) {
                Some((_, slots)) => slots.push(slot),
                None => default_classes.push((c, vec![slot])),
            }
        }

        // Name table and name exclusions (processed first so they win over any block).
        let mut name_ids: HashMap<String, u32> = HashMap::new();
        let mut name_first: HashMap<(u32, u32), u32> = HashMap::new();
        let mut names_excluded_all: HashSet<u32> = HashSet::new();
        for spec in &specs {
            if let Kind::Name(n) = &spec.kind {
                let next =
                    u32::try_from(name_ids.len()).map_err(|_| TargetError::TooManyEndpoints)?;
                name_ids.entry(name_key(n)).or_insert(next);
            }
        }
        for ex in &excludes {
            if let Kind::Name(n) = &ex.kind
                && let Some(&id) = name_ids.get(&name_key(n))
            {
                match ex.port {
                    Some(p) => {
                        name_first.insert((id, class(p)), EXCLUDED);
                    }
                    None => {
                        names_excluded_all.insert(id);
                    }
                }
            }
        }

        let mut intervals: Vec<Vec<(u128, u128, u32)>> = vec![Vec::new(); 2 * class_count];
        let mut blocks = Vec::with_capacity(specs.len());
        let mut bases = Vec::with_capacity(specs.len());
        let mut total: u64 = 0;
        for (prio, spec) in (1u32..).zip(specs) {
            let (ports, classes): (Ports, Vec<u32>) = match spec.port {
                Some(p) => (Ports::Own(p), vec![class(p)]),
                None if default_ports.is_empty() => {
                    return Err(TargetError::NoPort { token: spec.token });
                }
                None => (
                    Ports::Default,
                    default_classes.iter().map(|(c, _)| *c).collect(),
                ),
            };
            let nports = match ports {
                Ports::Own(_) => 1,
                Ports::Default => default_ports.len() as u64,
            };
            let (kind, size) = match spec.kind {
                Kind::Range(r) => {
                    let count = r
                        .count()
                        .and_then(|c| u64::try_from(c).ok())
                        .filter(|&c| c <= MAX_ADDRESSES_PER_TARGET)
                        .ok_or_else(|| TargetError::TooLarge {
                            token: super::error::shown(&spec.token),
                            addresses: addresses_text(&r),
                        })?;
                    for &c in &classes {
                        if let Some(list) =
                            intervals.get_mut(family_index(r.family) * class_count + c as usize)
                        {
                            list.push((r.start, r.end, prio));
                        }
                    }
                    let kind = BlockKind::Addr {
                        family: r.family,
                        start: r.start,
                        count,
                    };
                    (kind, count.checked_mul(nports))
                }
                Kind::Name(name) => {
                    let id = name_ids.get(&name_key(&name)).copied().unwrap_or(0);
                    for &c in &classes {
                        name_first.entry((id, c)).or_insert(prio);
                    }
                    let excluded = names_excluded_all.contains(&id);
                    (BlockKind::Name { name, id, excluded }, Some(nports))
                }
            };
            bases.push(total);
            total = size
                .and_then(|s| total.checked_add(s))
                .ok_or(TargetError::TooManyEndpoints)?;
            blocks.push(Block { kind, ports });
        }

        // Address exclusions go into the maps of their family (all classes, or their port's).
        let mut excl_all = Vec::new();
        let mut excl_by_port = Vec::new();
        for ex in &excludes {
            let Kind::Range(r) = ex.kind else { continue };
            let fam = family_index(r.family) * class_count;
            match ex.port {
                Some(p) => {
                    excl_by_port.push((r, p));
                    if let Some(list) = intervals.get_mut(fam + class(p) as usize) {
                        list.push((r.start, r.end, EXCLUDED));
                    }
                }
                None => {
                    excl_all.push(r);
                    for list in intervals.iter_mut().skip(fam).take(class_count) {
                        if !list.is_empty() {
                            list.push((r.start, r.end, EXCLUDED));
                        }
                    }
                }
            }
        }
        let maps = intervals.iter().map(|l| FirstMap::build(l)).collect();

        let (shard_offset, shard_step) = shard.map_or((0, 1), |s| (s.index - 1, s.count));
        let mut set = Self {
            blocks,
            bases,
            default_ports,
            default_classes,
            class_of,
            class_count,
            maps,
            name_first,
            exclusions: Exclusions::new(excl_all, excl_by_port),
            total,
            layout: Layout::Whole,
            domain: total,
            perm: Permutation::new(total, seed),
            shard_offset,
            shard_step,
            len: 0,
        };
        if let Some((runs, survivors)) = set.survivor_runs(max_runs) {
            set.layout = Layout::Survivors(runs);
            set.domain = survivors;
            set.perm = Permutation::new(survivors, seed);
        }
        set.len = set.count();
        Ok(set)
    }

    /// Exact number of endpoints [`Self::iter`] yields (after deduplication, exclusion and
    /// sharding).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether [`Self::iter`] yields nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the index space before deduplication, exclusion and sharding: the sum over
    /// targets of addresses × ports.
    pub fn total_before_dedup(&self) -> u64 {
        self.total
    }

    /// Size of the permuted index space (`total_before_dedup()` unless survivor runs are used).
    #[cfg(test)]
    pub(super) fn permuted_len(&self) -> u64 {
        self.domain
    }

    /// The endpoints, lazily, in the seeded spreading order.
    pub fn iter(&self) -> Iter<&Self> {
        Iter::new(self)
    }

    /// Whether an address given by the exclusions is excluded on `port`. The iteration applies
    /// exclusions itself; this is for the scanner to check the addresses a *name* target
    /// resolves to.
    pub fn is_excluded(&self, ip: IpAddr, port: u16) -> bool {
        self.exclusions.contains(ip, port)
    }

    fn class(&self, port: u16) -> u32 {
        self.class_of
            .get(usize::from(port))
            .copied()
            .unwrap_or(GENERIC_CLASS)
    }

    fn map(&self, family: Family, class: u32) -> Option<&FirstMap> {
        self.maps
            .get(family_index(family) * self.class_count + class as usize)
    }

    fn ports<'a>(&'a self, block: &'a Block) -> &'a [u16] {
        match &block.ports {
            Ports::Default => &self.default_ports,
            Ports::Own(p) => std::slice::from_ref(p),
        }
    }

    /// The block, port and address offset at index `idx` of the unpermuted index space, if
    /// that endpoint is yielded (first block to contain it, not excluded).
    fn yielded_at(&self, idx: u64) -> Option<(&Block, u16, u64)> {
        let b = self
            .bases
            .partition_point(|&base| base <= idx)
            .checked_sub(1)?;
        let (block, base) = (self.blocks.get(b)?, self.bases.get(b)?);
        let prio = u32::try_from(b).ok()?.checked_add(1)?;
        let ports = self.ports(block);
        let off = idx.checked_sub(*base)?;
        let nports = ports.len() as u64;
        let slot = usize::try_from(off.checked_rem(nports)?).ok()?;
        let port = *ports.get(slot)?;
        let class = self.class(port);
        let addr_off = off / nports;
        let first = match &block.kind {
            BlockKind::Addr { family, start, .. } => {
                let v = start.checked_add(u128::from(addr_off))?;
                self.map(*family, class)?.at(v) == prio
            }
            BlockKind::Name { id, excluded, .. } => {
                !*excluded && self.name_first.get(&(*id, class)) == Some(&prio)
            }
        };
        first.then_some((block, port, addr_off))
    }

    /// The endpoint at index `idx` of the unpermuted index space (of the layout in use), if it
    /// is yielded (with [`Layout::Survivors`], every index below `domain` is).
    fn candidate_at(&self, idx: u64) -> Option<Candidate> {
        let (block, port, addr_off) = match &self.layout {
            Layout::Whole => self.yielded_at(idx)?,
            Layout::Survivors(runs) => self.survivor_at(runs, idx)?,
        };
        match &block.kind {
            BlockKind::Addr { family, start, .. } => {
                let ip = from_int(*family, start.checked_add(u128::from(addr_off))?);
                Some(Candidate {
                    target: ip.to_string(),
                    host: Host::Ip(ip),
                    port,
                })
            }
            BlockKind::Name { name, .. } => Some(Candidate {
                target: name.clone(),
                host: Host::Name(name.clone()),
                port,
            }),
        }
    }

    /// The block, port and address offset at index `idx` of the survivor index space.
    fn survivor_at<'a>(&'a self, runs: &[Run], idx: u64) -> Option<(&'a Block, u16, u64)> {
        let k = runs.partition_point(|r| r.base <= idx).checked_sub(1)?;
        let run = runs.get(k)?;
        let block = self.blocks.get(usize::try_from(run.block).ok()?)?;
        let off = idx.checked_sub(run.base)?;
        let ports = self.ports(block);
        let (slot, addr) = if run.ports == ALL_PORTS {
            let n = ports.len() as u64;
            (off.checked_rem(n)?, off / n)
        } else {
            let slots = &self
                .default_classes
                .get(usize::try_from(run.ports).ok()?)?
                .1;
            let n = slots.len() as u64;
            let at = usize::try_from(off.checked_rem(n)?).ok()?;
            (*slots.get(at)?, off / n)
        };
        let port = *ports.get(usize::try_from(slot).ok()?)?;
        Some((block, port, u64::from(run.first).checked_add(addr)?))
    }

    /// Number of ports of `block` in a run's port set ([`Run::ports`]).
    fn run_width(&self, block: &Block, ports: u32) -> u64 {
        if ports == ALL_PORTS {
            self.ports(block).len() as u64
        } else {
            self.default_classes
                .get(ports as usize)
                .map_or(0, |(_, slots)| slots.len() as u64)
        }
    }

    /// Calls `f(ports, slots, first, n, owned)` for every piece of `block`'s endpoints, per port
    /// class: `n` addresses from offset `first` within the block, on the class's port set
    /// `ports` ([`Run::ports`]) whose positions in the block's port list are `slots`; `owned`
    /// says whether block `prio - 1` yields them (false: excluded, or a duplicate of an earlier
    /// block). Together the pieces cover the block exactly once.
    fn for_each_piece(
        &self,
        block: &Block,
        prio: u32,
        mut f: impl FnMut(u32, &[u64], u64, u64, bool),
    ) {
        // (port set, class, slots) of the block.
        let classes: Vec<(u32, u32, &[u64])> = match block.ports {
            Ports::Own(p) => vec![(ALL_PORTS, self.class(p), &[0])],
            Ports::Default => (0u32..)
                .zip(&self.default_classes)
                .map(|(k, (c, slots))| (k, *c, slots.as_slice()))
                .collect(),
        };
        for (ports, class, slots) in classes {
            match &block.kind {
                BlockKind::Addr {
                    family,
                    start,
                    count,
                } => {
                    let Some(map) = self.map(*family, class) else {
                        continue;
                    };
                    let last = start.saturating_add(u128::from(count.saturating_sub(1)));
                    map.for_each_within(*start, last, |lo, hi, p| {
                        // Both fit u64: a block has at most 2^32 addresses.
                        let first = u64::try_from(lo - start).unwrap_or(u64::MAX);
                        let n = u64::try_from(hi - lo).unwrap_or(u64::MAX).saturating_add(1);
                        f(ports, slots, first, n, p == prio);
                    });
                }
                BlockKind::Name { id, excluded, .. } => {
                    let owned = !*excluded && self.name_first.get(&(*id, class)) == Some(&prio);
                    f(ports, slots, 0, 1, owned);
                }
            }
        }
    }

    /// Appends to `out` the surviving pieces of block `prio - 1` as (port set, first address
    /// offset, number of addresses).
    fn survivor_pieces(&self, block: &Block, prio: u32, out: &mut Vec<(u32, u64, u64)>) {
        self.for_each_piece(block, prio, |ports, _, first, n, owned| {
            if owned {
                out.push((ports, first, n));
            }
        });
    }

    /// The survivor runs and the number of surviving endpoints, for [`Layout::Survivors`].
    /// `None` when nothing is skipped (the whole index space is already the survivor space,
    /// and keeping [`Layout::Whole`] keeps the order of such sets unchanged), or when there
    /// would be more than `max_runs` runs.
    fn survivor_runs(&self, max_runs: usize) -> Option<(Vec<Run>, u64)> {
        let mut runs: Vec<Run> = Vec::new();
        let mut next: u64 = 0;
        // No run is written while every block so far survives whole.
        let mut all_whole = true;
        let mut pieces = Vec::new();
        for (b, (block, &base)) in self.blocks.iter().zip(&self.bases).enumerate() {
            let id = u32::try_from(b).ok()?;
            let end = self.bases.get(b + 1).copied().unwrap_or(self.total);
            let size = end.checked_sub(base)?;
            pieces.clear();
            self.survivor_pieces(block, id.checked_add(1)?, &mut pieces);
            if pieces.len() > max_runs {
                return None;
            }
            let survived = pieces.iter().fold(0u64, |sum, &(ports, _, n)| {
                sum.saturating_add(n.saturating_mul(self.run_width(block, ports)))
            });
            if survived == size {
                if !all_whole {
                    runs.push(Run {
                        base: next,
                        block: id,
                        ports: ALL_PORTS,
                        first: 0,
                    });
                }
                next = next.checked_add(size)?;
                continue;
            }
            if all_whole {
                all_whole = false;
                // The blocks before this one survived whole, each at its own base.
                for (k, &kbase) in self.bases.iter().enumerate().take(b) {
                    runs.push(Run {
                        base: kbase,
                        block: u32::try_from(k).ok()?,
                        ports: ALL_PORTS,
                        first: 0,
                    });
                }
            }
            for &(ports, first, n) in &pieces {
                runs.push(Run {
                    base: next,
                    block: id,
                    ports,
                    first: u32::try_from(first).ok()?,
                });
                next = next.checked_add(n.checked_mul(self.run_width(block, ports))?)?;
            }
            if runs.len() > max_runs {
                return None;
            }
        }
        if all_whole {
            return None;
        }
        Some((runs, next))
    }

    /// Calls `f(first, count, stride)` for arithmetic runs of indexes that are NOT yielded
    /// (duplicates of an earlier block, or excluded), covering all of them exactly once.
    fn for_each_skipped_run(&self, mut f: impl FnMut(u64, u64, u64)) {
        for ((b, block), &base) in self.blocks.iter().enumerate().zip(&self.bases) {
            let Some(prio) = u32::try_from(b).ok().and_then(|b| b.checked_add(1)) else {
                continue;
            };
            let nports = self.ports(block).len() as u64;
            self.for_each_piece(block, prio, |_, slots, first_addr, n, owned| {
                if owned {
                    return;
                }
                for &slot in slots {
                    let first = base
                        .saturating_add(first_addr.saturating_mul(nports))
                        .saturating_add(slot);
                    f(first, n, nports);
                }
            });
        }
    }

    /// The exact number of yielded endpoints (see [`Self::len`]).
    fn count(&self) -> u64 {
        if let Layout::Survivors(_) = self.layout {
            // Every position of the survivor space yields.
            return positions(self.domain, self.shard_offset, self.shard_step);
        }
        let mut skipped: u64 = 0;
        self.for_each_skipped_run(|_, n, _| skipped = skipped.saturating_add(n));
        let in_shard = positions(self.total, self.shard_offset, self.shard_step);
        if self.shard_step == 1 || skipped == 0 {
            let skipped_here = if self.shard_step == 1 { skipped } else { 0 };
            return in_shard.saturating_sub(skipped_here);
        }
        if skipped <= in_shard {
            // Find which skipped endpoints fall into this shard through the inverse permutation.
            let mut skipped_here: u64 = 0;
            self.for_each_skipped_run(|first, n, stride| {
                for k in 0..n {
                    let idx = first.saturating_add(k.saturating_mul(stride));
                    if self.perm.invert(idx) % self.shard_step == self.shard_offset {
                        skipped_here += 1;
                    }
                }
            });
            in_shard.saturating_sub(skipped_here)
        } else {
            // Fewer positions than skipped endpoints: check every position of the shard.
            let mut yielded: u64 = 0;
            let mut pos = self.shard_offset;
            while pos < self.total {
                if self.yielded_at(self.perm.apply(pos)).is_some() {
                    yielded += 1;
                }
                let Some(next) = pos.checked_add(self.shard_step) else {
                    break;
                };
                pos = next;
            }
            yielded
        }
    }
}

impl<'a> IntoIterator for &'a TargetSet {
    type Item = Candidate;
    type IntoIter = Iter<&'a TargetSet>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for TargetSet {
    type Item = Candidate;
    type IntoIter = Iter<TargetSet>;
    /// An owning iterator (`Send + 'static`), for moving into a task; works with
    /// `Arc<TargetSet>` too through [`Iter::new`].
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

/// Lazy iterator over a [`TargetSet`], borrowed (`Iter<&TargetSet>`) or owned
/// (`Iter<TargetSet>`, `Iter<Arc<TargetSet>>`).
#[derive(Clone, Debug)]
pub struct Iter<S> {
    set: S,
    next: Option<u64>,
    remaining: u64,
}

impl<S: Borrow<TargetSet>> Iter<S> {
    /// Starts at the first endpoint of the set's shard.
    pub fn new(set: S) -> Self {
        let s: &TargetSet = set.borrow();
        let (next, remaining) = (Some(s.shard_offset), s.len);
        Self {
            set,
            next,
            remaining,
        }
    }
}

impl<S: Borrow<TargetSet>> Iterator for Iter<S> {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        let set: &TargetSet = self.set.borrow();
        loop {
            let pos = self.next?;
            if pos >= set.domain {
                self.next = None;
                return None;
            }
            self.next = pos.checked_add(set.shard_step);
            if let Some(c) = set.candidate_at(set.perm.apply(pos)) {
                self.remaining = self.remaining.saturating_sub(1);
                return Some(c);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, usize::try_from(self.remaining).ok())
    }
}
