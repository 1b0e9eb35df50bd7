//! Agglomerative hierarchical clustering (complete, average, single linkage) and optimal leaf
//! ordering, compatible with SciPy's `linkage` / `optimal_leaf_ordering`.
//!
//! [`linkage`] uses the nearest-neighbour-chain algorithm (O(n²) time and memory) and returns
//! merges in SciPy's format: sorted by distance, new clusters numbered `n, n+1, …`, the smaller
//! id first. On ties-free input it equals SciPy's `Z` exactly.
//!
//! Leaf ordering ([`LeafOrdering`]) uses Bar-Joseph et al.'s dynamic programme over the tree
//! (`M[u][w]` = cheapest ordering of a subtree whose ends are leaves `u`, `w`). Two read-outs:
//! - [`LeafOrdering::Optimal`] traces the root's optimum back down the tree: the order that
//!   truly minimises the sum of distances between neighbouring leaves.
//! - [`LeafOrdering::Scipy`] reproduces SciPy (which is what REF's figures used), including its
//!   float32 table and its known defect (scipy issue #11227): it orients each node's children by
//!   that node's *own* best ends rather than by the ends its parent needs, so its order is often
//!   not optimal.
//!
//! The programme is O(n³)–O(n⁴) in the worst case: fine for the few hundred tasks a heatmap can
//! show.

use std::fmt;
use std::str::FromStr;

use ndarray::Array2;

use crate::error::{Error, Result};

/// How the distance between two clusters is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Linkage {
    /// Largest pairwise distance (REF's choice).
    #[default]
    Complete,
    /// Mean pairwise distance (UPGMA).
    Average,
    /// Smallest pairwise distance.
    Single,
}

impl Linkage {
    const ALL: [Linkage; 3] = [Linkage::Complete, Linkage::Average, Linkage::Single];
    /// Name as SciPy spells it.
    pub fn name(self) -> &'static str {
        match self {
            Linkage::Complete => "complete",
            Linkage::Average => "average",
            Linkage::Single => "single",
        }
    }
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Linkage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Linkage::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownName {
                what: "linkage",
                name: s.to_string(),
                expected: "complete, average, single".into(),
            })
    }
}

/// Which order of the leaves to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeafOrdering {
    /// The dendrogram's own order (children as merged).
    None,
    /// The order minimising the sum of neighbouring distances.
    #[default]
    Optimal,
    /// SciPy's `optimal_ordering=True` result, bug for bug.
    Scipy,
}

impl FromStr for LeafOrdering {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(LeafOrdering::None),
            "optimal" => Ok(LeafOrdering::Optimal),
            "scipy" => Ok(LeafOrdering::Scipy),
            _ => Err(Error::UnknownName {
                what: "leaf ordering",
                name: s.to_string(),
                expected: "optimal, scipy, none".into(),
            }),
        }
    }
}

/// One merge: clusters `left` and `right` (ids as in SciPy: `< n` leaves, `n + k` the cluster
/// made by merge `k`) joined at `distance`, giving a cluster of `size` leaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merge {
    /// The first cluster merged (SciPy's `Z[k, 0]`).
    pub left: usize,
    /// The second cluster merged (SciPy's `Z[k, 1]`).
    pub right: usize,
    /// The linkage distance at which they merge (`Z[k, 2]`).
    pub distance: f64,
    /// Number of leaves in the merged cluster (`Z[k, 3]`).
    pub size: usize,
}

/// A binary tree over `n` leaves as `n − 1` merges (SciPy's linkage matrix `Z`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dendrogram {
    n: usize,
    merges: Vec<Merge>,
}

/// Check that `d` is a usable distance matrix: square, finite, symmetric.
pub fn check_distance_matrix(d: &Array2<f64>) -> Result<()> {
    let (r, c) = d.dim();
    if r != c {
        return Err(Error::BadMatrix(format!("it is {r} × {c}, not square")));
    }
    if r == 0 {
        return Err(Error::BadMatrix("it is empty".into()));
    }
    for ((i, j), &v) in d.indexed_iter() {
        if !v.is_finite() {
            return Err(Error::BadMatrix(format!("entry ({i}, {j}) is {v}")));
        }
        let t = d[[j, i]];
        if (v - t).abs() > 1e-9 * v.abs().max(t.abs()).max(1e-300) {
            return Err(Error::BadMatrix(format!(
                "not symmetric: ({i}, {j}) = {v} but ({j}, {i}) = {t} (clustering needs a symmetric metric)"
            )));
        }
    }
    Ok(())
}

/// Cluster a square symmetric distance matrix (only its upper triangle is used, as SciPy's
/// condensed form).
pub fn linkage(d: &Array2<f64>, method: Linkage) -> Result<Dendrogram> {
    check_distance_matrix(d)?;
    let n = d.nrows();
    let mut dist = d.clone();
    for i in 0..n {
        for j in 0..i {
            dist[[i, j]] = dist[[j, i]];
        }
    }
    let mut size = vec![1usize; n];
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    // (slot x, slot y, distance): the new cluster lives in slot y, as in SciPy's nn_chain.
    let mut raw: Vec<(usize, usize, f64)> = Vec::with_capacity(n.saturating_sub(1));
    for _ in 1..n {
        if chain.is_empty() {
            chain.push(
                size.iter()
                    .position(|&s| s > 0)
                    .expect("an active cluster remains"),
            );
        }
        let (x, y, best) = loop {
            let x = *chain.last().expect("chain is not empty");
            let prev = (chain.len() >= 2).then(|| chain[chain.len() - 2]);
            let (mut y, mut best) = match prev {
                Some(p) => (p, dist[[x, p]]),
                None => (usize::MAX, f64::INFINITY),
            };
            for i in 0..n {
                if size[i] > 0 && i != x && dist[[x, i]] < best {
                    best = dist[[x, i]];
                    y = i;
                }
            }
            if Some(y) == prev {
                break (x, y, best);
            }
            chain.push(y);
        };
        chain.truncate(chain.len() - 2);
        let (x, y) = (x.min(y), x.max(y));
        let (nx, ny) = (size[x] as f64, size[y] as f64);
        for i in 0..n {
            if size[i] == 0 || i == x || i == y {
                continue;
            }
            let (dx, dy) = (dist[[x, i]], dist[[y, i]]);
            let v = match method {
                Linkage::Complete => dx.max(dy),
                Linkage::Single => dx.min(dy),
                Linkage::Average => (nx * dx + ny * dy) / (nx + ny),
            };
            dist[[y, i]] = v;
            dist[[i, y]] = v;
        }
        size[y] += size[x];
        size[x] = 0;
        raw.push((x, y, best));
    }
    // SciPy: stable sort by distance, then number clusters in merge order (union-find).
    raw.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    let mut count = vec![1usize; 2 * n - 1];
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let merges = raw
        .into_iter()
        .enumerate()
        .map(|(k, (x, y, distance))| {
            let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
            let id = n + k;
            parent[rx] = id;
            parent[ry] = id;
            count[id] = count[rx] + count[ry];
            Merge {
                left: rx.min(ry),
                right: rx.max(ry),
                distance,
                size: count[id],
            }
        })
        .collect();
    Ok(Dendrogram { n, merges })
}

impl Dendrogram {
    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.n
    }

    /// The merges, in order.
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// SciPy's linkage matrix: rows `[left, right, distance, size]`.
    pub fn to_scipy(&self) -> Array2<f64> {
        let mut z = Array2::zeros((self.merges.len(), 4));
        for (k, m) in self.merges.iter().enumerate() {
            z[[k, 0]] = m.left as f64;
            z[[k, 1]] = m.right as f64;
            z[[k, 2]] = m.distance;
            z[[k, 3]] = m.size as f64;
        }
        z
    }

    fn children(&self, id: usize) -> Option<(usize, usize)> {
        (id >= self.n).then(|| {
            let m = &self.merges[id - self.n];
            (m.left, m.right)
        })
    }

    fn root(&self) -> usize {
        2 * self.n - 2
    }

    /// Leaves from left to right (SciPy's `leaves_list`).
    pub fn leaves(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.n);
        let mut stack = vec![self.root()];
        while let Some(id) = stack.pop() {
            match self.children(id) {
                None => out.push(id),
                Some((l, r)) => {
                    stack.push(r);
                    stack.push(l);
                }
            }
        }
        out
    }

    /// The same tree with children swapped into the requested leaf ordering of distance
    /// matrix `d` (the matrix it was built from).
    pub fn reordered(&self, d: &Array2<f64>, ordering: LeafOrdering) -> Result<Dendrogram> {
        check_distance_matrix(d)?;
        if d.nrows() != self.n {
            return Err(Error::BadMatrix(format!(
                "{} × {} matrix for a tree of {} leaves",
                d.nrows(),
                d.nrows(),
                self.n
            )));
        }
        if self.n < 3 || ordering == LeafOrdering::None {
            return Ok(self.clone());
        }
        let swaps = olo::swaps(self, d, ordering);
        let mut out = self.clone();
        for (m, swap) in out.merges.iter_mut().zip(swaps) {
            if swap {
                std::mem::swap(&mut m.left, &mut m.right);
            }
        }
        Ok(out)
    }
}

/// Leaves of `d` clustered with `method`, in the given ordering.
pub fn ordered_leaves(
    d: &Array2<f64>,
    method: Linkage,
    ordering: LeafOrdering,
) -> Result<Vec<usize>> {
    Ok(linkage(d, method)?.reordered(d, ordering)?.leaves())
}

/// Sum of distances between neighbouring leaves of an order (what leaf ordering minimises).
pub fn ordering_cost(d: &Array2<f64>, order: &[usize]) -> f64 {
    order.windows(2).map(|w| d[[w[0], w[1]]]).sum()
}

mod olo {
    use super::{Dendrogram, LeafOrdering};
    use ndarray::Array2;

    /// Sums as SciPy forms them (float32 table, float64 distances) or in plain f64.
    #[derive(Clone, Copy)]
    struct Arith {
        scipy: bool,
    }

    impl Arith {
        fn total(self, m_um: f64, m_wk: f64, d_mk: f64) -> f64 {
            if self.scipy {
                (((m_um as f32 + m_wk as f32) as f64) + d_mk) as f32 as f64
            } else {
                m_um + m_wk + d_mk
            }
        }
        fn bound(self, m_um: f64, m_wk: f64, min_km: f64) -> f64 {
            if self.scipy {
                ((m_um as f32 + m_wk as f32) + min_km as f32) as f64
            } else {
                m_um + m_wk + min_km
            }
        }
    }

    /// Per merge: whether to swap its children.
    pub(super) fn swaps(tree: &Dendrogram, d: &Array2<f64>, ordering: LeafOrdering) -> Vec<bool> {
        let n = tree.n;
        let arith = Arith {
            scipy: ordering == LeafOrdering::Scipy,
        };
        // Work in the current leaf order so that every cluster is a contiguous range.
        let order = tree.leaves();
        let mut pos = vec![0usize; n];
        for (p, &leaf) in order.iter().enumerate() {
            pos[leaf] = p;
        }
        let sd = Array2::from_shape_fn((n, n), |(i, j)| d[[order[i], order[j]]]);
        let mut range = vec![(0usize, 0usize); 2 * n - 1];
        for leaf in 0..n {
            range[leaf] = (pos[leaf], pos[leaf] + 1);
        }
        for (k, m) in tree.merges.iter().enumerate() {
            range[n + k] = (range[m.left].0, range[m.right].1);
        }
        let kids = |id: usize| tree.children(id);
        let mut mt = Array2::<f64>::zeros((n, n));
        let mut best_mk = Array2::<(u32, u32)>::from_elem((n, n), (0, 0));
        let mut swap_status = Array2::<(bool, bool)>::from_elem((n, n), (false, false));
        let mut must_swap = vec![false; n - 1];
        let mut root_best = (0usize, 0usize);
        for (k, merge) in tree.merges.iter().enumerate() {
            let (vl, vr) = (merge.left, merge.right);
            // (u cluster, m cluster) per swap_L; (w cluster, k cluster) per swap_R.
            let uv: Vec<(usize, usize)> = match kids(vl) {
                None => vec![(vl, vl)],
                Some((ll, lr)) => vec![(ll, lr), (lr, ll)],
            };
            let wk: Vec<(usize, usize)> = match kids(vr) {
                None => vec![(vr, vr)],
                Some((rl, rr)) => vec![(rr, rl), (rl, rr)],
            };
            for (swap_l, &(uc, mc)) in uv.iter().enumerate() {
                for (swap_r, &(wc, kc)) in wk.iter().enumerate() {
                    let (ur, mr, wr, kr) = (range[uc], range[mc], range[wc], range[kc]);
                    let mut min_km = f64::INFINITY;
                    for m in mr.0..mr.1 {
                        for kk in kr.0..kr.1 {
                            min_km = min_km.min(sd[[m, kk]]);
                        }
                    }
                    // k candidates sorted by M[k][w], once per w.
                    let k_sorted: Vec<Vec<usize>> = (wr.0..wr.1)
                        .map(|w| {
                            let mut ks: Vec<usize> = (kr.0..kr.1).collect();
                            ks.sort_by(|&a, &b| mt[[a, w]].total_cmp(&mt[[b, w]]));
                            ks
                        })
                        .collect();
                    for u in ur.0..ur.1 {
                        let mut ms: Vec<usize> = (mr.0..mr.1).collect();
                        ms.sort_by(|&a, &b| mt[[a, u]].total_cmp(&mt[[b, u]]));
                        for (wi, w) in (wr.0..wr.1).enumerate() {
                            let ks = &k_sorted[wi];
                            let mut cur = f64::INFINITY;
                            let mut arg = (ms[0], ks[0]);
                            'm: for &m in &ms {
                                if arith.bound(mt[[u, m]], mt[[w, ks[0]]], min_km) >= cur {
                                    break;
                                }
                                for &kk in ks {
                                    if arith.bound(mt[[u, m]], mt[[w, kk]], min_km) >= cur {
                                        continue 'm;
                                    }
                                    let t = arith.total(mt[[u, m]], mt[[w, kk]], sd[[m, kk]]);
                                    if t < cur {
                                        cur = t;
                                        arg = (m, kk);
                                    }
                                }
                            }
                            mt[[u, w]] = cur;
                            mt[[w, u]] = cur;
                            best_mk[[u, w]] = (arg.0 as u32, arg.1 as u32);
                            best_mk[[w, u]] = (arg.1 as u32, arg.0 as u32);
                            swap_status[[u, w]] = (swap_l == 1, swap_r == 1);
                            swap_status[[w, u]] = (swap_l == 1, swap_r == 1);
                        }
                    }
                }
            }
            // This node's own best ends (u from the left child, w from the right).
            let (lr, rr) = (range[vl], range[vr]);
            let mut cur = f64::INFINITY;
            let mut best = (lr.0, rr.0);
            for u in lr.0..lr.1 {
                for w in rr.0..rr.1 {
                    if mt[[u, w]] < cur {
                        cur = mt[[u, w]];
                        best = (u, w);
                    }
                }
            }
            let (sl, sr) = swap_status[[best.0, best.1]];
            if vl >= n {
                must_swap[vl - n] = sl;
            }
            if vr >= n {
                must_swap[vr - n] = sr;
            }
            if k == n - 2 {
                root_best = best;
            }
        }
        match arith.scipy {
            true => scipy_swaps(tree, &must_swap),
            false => {
                let mut leaves = Vec::with_capacity(n);
                trace(
                    tree,
                    &range,
                    &best_mk,
                    tree.root(),
                    root_best.0,
                    root_best.1,
                    &mut leaves,
                );
                let target: Vec<usize> = leaves.iter().map(|&p| order[p]).collect();
                swaps_for_order(tree, &target)
            }
        }
    }

    /// SciPy's read-out: a swap of node X rotates X's whole subtree, so a node's children end up
    /// swapped when an odd number of X-or-ancestors must swap.
    fn scipy_swaps(tree: &Dendrogram, must_swap: &[bool]) -> Vec<bool> {
        let n = tree.n;
        let mut parity = vec![false; n - 1];
        // Parents come after children in the merge list: walk from the root down.
        for k in (0..n - 1).rev() {
            let p = parity[k] ^ must_swap[k];
            parity[k] = p;
            let m = tree.merges[k];
            for c in [m.left, m.right] {
                if c >= n {
                    parity[c - n] = p;
                }
            }
        }
        parity
    }

    /// Leaves (sorted positions) of `node` ordered from end `a` to end `b`, following the
    /// stored optimal inner ends.
    fn trace(
        tree: &Dendrogram,
        range: &[(usize, usize)],
        best_mk: &Array2<(u32, u32)>,
        node: usize,
        a: usize,
        b: usize,
        out: &mut Vec<usize>,
    ) {
        let Some((l, r)) = tree.children(node) else {
            out.push(a);
            return;
        };
        let in_left = |x: usize| range[l].0 <= x && x < range[l].1;
        if !in_left(a) {
            let start = out.len();
            trace(tree, range, best_mk, node, b, a, out);
            out[start..].reverse();
            return;
        }
        let (m, k) = best_mk[[a, b]];
        trace(tree, range, best_mk, l, a, m as usize, out);
        trace(tree, range, best_mk, r, k as usize, b, out);
        debug_assert!(range[r].0 <= b && b < range[r].1);
    }

    /// Swaps that make the tree's leaves read in `target` (which must be consistent with it).
    fn swaps_for_order(tree: &Dendrogram, target: &[usize]) -> Vec<bool> {
        let n = tree.n;
        let mut pos = vec![0usize; n];
        for (p, &leaf) in target.iter().enumerate() {
            pos[leaf] = p;
        }
        // First position of each cluster in the target order.
        let mut first = vec![usize::MAX; 2 * n - 1];
        first[..n].copy_from_slice(&pos);
        let mut swaps = vec![false; n - 1];
        for (k, m) in tree.merges.iter().enumerate() {
            first[n + k] = first[m.left].min(first[m.right]);
            swaps[k] = first[m.right] < first[m.left];
        }
        swaps
    }
}
