//! Pixel-pair distance counts along the digital lines of one direction.
//!
//! For a direction, `C(δ)` is the number of pairs (pixel of A, pixel of B) on a common line
//! whose positions differ by `δ = pos(a) − pos(b)` pixel steps. Every force level is then a
//! weighted sum of `C` (see [`crate::banner`]), so the lines are walked once for all levels.
//!
//! A pair of segments `A ⊇ [a0, a1)`, `B ⊇ [b0, b1)` on one line contributes a trapezoid to
//! `C`: the correlation of two boxes, whose second difference is four unit impulses at
//! `a0 − b1 + 1` (+1), `a0 − b0 + 1` (−1), `a1 − b1 + 1` (−1), `a1 − b0 + 1` (+1). All pairs of
//! all lines are accumulated as impulses; two prefix sums then give `C` exactly (integers).
//!
//! That costs `n_A · n_B` per line crossing A `n_A` times and B `n_B` times: the square of
//! the fragmentation. Such lines are counted instead by bit-parallel correlation
//! ([`crate::bit_correlation`]) when it costs less, and a direction whose masks are
//! fragmented throughout skips the segments altogether ([`LinePolicy::Dense`]). Every way
//! gives the same integer counts.

use crate::bit_correlation::{self, BitCorrelation};
use crate::directions::{Direction, Major};
use crate::lines::{line_range, unpack, LineSegments, LineSweep, Segment, END_BITS};
use crate::mask::{MaskPair, RunList};

/// Reusable buffers for one thread; no allocation after the first pair of a given size.
#[derive(Debug, Default)]
pub struct Workspace {
    shifts: Vec<i64>,
    sweep: LineSweep,
    seg_a: LineSegments,
    seg_b: LineSegments,
    counts: Vec<i64>,
    extent: usize,
    grouped: Grouped,
    bits: BitCorrelation,
    /// Counts of the bit-correlated lines by δ (index `major + δ`); all 0 between directions.
    direct: Vec<i64>,
    /// Bitsets of the lines of both objects ([`LinePolicy::Dense`]).
    dense_a: Vec<u64>,
    dense_b: Vec<u64>,
    /// How lines crossing both objects several times are counted (tests force each way).
    pub policy: LinePolicy,
}

/// How the pairs of a direction are counted; every way gives the same counts, at different
/// costs (tests force each way).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum LinePolicy {
    /// Whichever costs less: [`LinePolicy::Dense`] for the whole direction when the masks
    /// are fragmented enough, else each line that crosses both objects several times as
    /// [`LinePolicy::Segments`] or [`LinePolicy::Lines`], whichever costs less for it.
    #[default]
    Auto,
    /// Every segment of A with every segment of B, on every line.
    Segments,
    /// Lines that cross both objects several times by bit-parallel correlation
    /// ([`crate::bit_correlation`]) of their segments, the others by segments.
    Lines,
    /// Every line by bit-parallel correlation of bitsets built from the runs, without
    /// finding any segment: for fragmented masks, where segments are many.
    Dense,
}

/// What one pair of segments costs in the word operations of [`bit_correlation::cost`]: four
/// scattered updates and two comparisons against an AND and a popcount. A rough figure, not
/// tuned: both ways are exact, so it moves only the speed (noise takes the bit way, ordinary
/// masks keep the segments, and benches/bench_worst_case.py shows both).
const PAIR_COST: usize = 4;

/// Whether counting a direction with [`LinePolicy::Dense`] should cost less than with
/// segments: `n_lines` lines meet both objects, `major` positions along each. Segments per
/// line are estimated from the runs along the lines' axis (rows for x-major directions).
fn dense_is_cheaper(pair: &MaskPair, major_axis: Major, n_lines: usize, major: usize) -> bool {
    let (runs_a, runs_b, across) = match major_axis {
        Major::X => (&pair.a.by_row, &pair.b.by_row, pair.height),
        Major::Y => (&pair.a.by_column, &pair.b.by_column, pair.width),
    };
    let per_line = |runs: &RunList| runs.run_count() as f64 / across as f64;
    let pairs = n_lines as f64 * per_line(runs_a) * per_line(runs_b);
    let dense = (pair.a.pixels + pair.b.pixels) as f64
        + n_lines as f64 * bit_correlation::cost(major, major) as f64;
    PAIR_COST as f64 * pairs > dense
}

/// Bitsets (`words` words each, bit `u` = major position `u`) of the lines `lines` of the
/// object whose runs are `runs`, on lines `v + shifts[u]`, into `out` (line after line).
fn line_bits(
    runs: &RunList,
    shifts: &[i64],
    lines: std::ops::Range<i64>,
    words: usize,
    out: &mut Vec<u64>,
) {
    out.clear();
    out.resize((lines.end - lines.start) as usize * words, 0);
    for u in runs.occupied() {
        let (s, w, bit) = (shifts[u], u / 64, 1u64 << (u % 64));
        for &(lo, hi) in runs.at(u) {
            let (l0, l1) = (
                (lo as i64 + s).max(lines.start),
                (hi as i64 + s).min(lines.end),
            );
            for l in l0..l1 {
                out[(l - lines.start) as usize * words + w] |= bit;
            }
        }
    }
}

/// The second-difference impulses of the counts, and the range of indices they touch.
struct Impulses<'a> {
    counts: &'a mut [i64],
    /// `major + 1`: after the two prefix sums, `C(δ)` is at index `base − 1 + δ`.
    base: i64,
    lowest: i64,
    highest: i64,
}

impl Impulses<'_> {
    /// The pairs of segments `[a0, a1)` of A and `[b0, b1)` of B on one line: a trapezoid.
    #[inline(always)]
    fn add_pair(&mut self, (a0, a1): (u32, u32), (b0, b1): (u32, u32)) {
        let (a0, a1, b0, b1) = (a0 as i64, a1 as i64, b0 as i64, b1 as i64);
        let base = self.base;
        self.counts[(base + a0 - b1) as usize] += 1;
        self.counts[(base + a0 - b0) as usize] -= 1;
        self.counts[(base + a1 - b1) as usize] -= 1;
        self.counts[(base + a1 - b0) as usize] += 1;
        self.lowest = self.lowest.min(base + a0 - b1);
        self.highest = self.highest.max(base + a1 - b0);
    }
}

/// The extra segments of both objects grouped by line (a counting sort that keeps each line's
/// segments in order), over the lines where both objects have some.
#[derive(Debug, Default)]
struct Grouped {
    first: usize,
    start_a: Vec<u32>,
    start_b: Vec<u32>,
    a: Vec<(u32, u32)>,
    b: Vec<(u32, u32)>,
    next: Vec<u32>,
}

impl Grouped {
    /// Group the extra segments of `sa` and `sb`; returns the lines where both may have some
    /// (test each with [`Grouped::both`]).
    fn group(&mut self, sa: &LineSegments, sb: &LineSegments) -> std::ops::Range<usize> {
        let line_range = |extra: &[Segment]| {
            extra.iter().fold((usize::MAX, 0), |(lo, hi), s| {
                (lo.min(s.line as usize), hi.max(s.line as usize + 1))
            })
        };
        let (ra, rb) = (line_range(&sa.extra), line_range(&sb.extra));
        let (lo, hi) = (ra.0.max(rb.0), ra.1.min(rb.1));
        if lo >= hi {
            return 0..0;
        }
        self.first = lo;
        fill(
            &sa.extra,
            lo..hi,
            &mut self.start_a,
            &mut self.next,
            &mut self.a,
        );
        fill(
            &sb.extra,
            lo..hi,
            &mut self.start_b,
            &mut self.next,
            &mut self.b,
        );
        lo..hi
    }

    /// Whether both objects have extra segments on `line` (inside the grouped range).
    #[inline]
    fn both(&self, line: usize) -> bool {
        let k = line - self.first;
        self.start_a[k + 1] > self.start_a[k] && self.start_b[k + 1] > self.start_b[k]
    }

    fn a(&self, line: usize) -> &[(u32, u32)] {
        let k = line - self.first;
        &self.a[self.start_a[k] as usize..self.start_a[k + 1] as usize]
    }

    fn b(&self, line: usize) -> &[(u32, u32)] {
        let k = line - self.first;
        &self.b[self.start_b[k] as usize..self.start_b[k + 1] as usize]
    }
}

/// Counting sort of the segments of `extra` on `lines` into `out`, line `l`'s at
/// `out[start[l − lines.start]..start[l − lines.start + 1]]`, in their order in `extra`.
fn fill(
    extra: &[Segment],
    lines: std::ops::Range<usize>,
    start: &mut Vec<u32>,
    next: &mut Vec<u32>,
    out: &mut Vec<(u32, u32)>,
) {
    start.clear();
    start.resize(lines.len() + 1, 0);
    for s in extra {
        if lines.contains(&(s.line as usize)) {
            start[s.line as usize - lines.start + 1] += 1;
        }
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    out.clear();
    out.resize(start[lines.len()] as usize, (0, 0));
    next.clear();
    next.extend_from_slice(start);
    for s in extra {
        if lines.contains(&(s.line as usize)) {
            let k = s.line as usize - lines.start;
            out[next[k] as usize] = (s.start, s.end);
            next[k] += 1;
        }
    }
}

impl Workspace {
    /// Compute `C(δ)` for `dir` into the workspace; read it with [`Workspace::signed`].
    /// Returns false when no line of `dir` meets both objects (every count is then 0).
    pub fn count_pairs(&mut self, pair: &MaskPair, dir: &Direction) -> bool {
        let (runs_a, runs_b, major) = match dir.major {
            Major::X => (&pair.a.by_column, &pair.b.by_column, pair.width),
            Major::Y => (&pair.a.by_row, &pair.b.by_row, pair.height),
        };
        dir.shifts(major, &mut self.shifts);
        // Impulses at δ + major; δ ∈ [−major, major + 1] → indices [0, 2·major + 1].
        self.extent = major;
        self.counts.clear();
        self.counts.resize(2 * major + 2, 0);

        // Only the lines that meet both objects can hold pairs: often none (objects apart,
        // directions across the line between them), and then nothing needs sweeping.
        let (range_a, range_b) = (
            line_range(runs_a, &self.shifts),
            line_range(runs_b, &self.shifts),
        );
        let common = range_a.start.max(range_b.start)..range_a.end.min(range_b.end);
        if common.is_empty() {
            return false;
        }
        let dense = match self.policy {
            LinePolicy::Auto => {
                let n_lines = (common.end - common.start) as usize;
                dense_is_cheaper(pair, dir.major, n_lines, major)
            }
            LinePolicy::Dense => true,
            LinePolicy::Segments | LinePolicy::Lines => false,
        };
        if dense {
            return self.count_dense(runs_a, runs_b, common, major);
        }
        self.sweep
            .segments(runs_a, &self.shifts, common.clone(), &mut self.seg_a);
        self.sweep
            .segments(runs_b, &self.shifts, common, &mut self.seg_b);

        let mut imp = Impulses {
            counts: &mut self.counts,
            base: major as i64 + 1,
            lowest: i64::MAX,
            highest: i64::MIN,
        };
        // Lines that cross both objects several times: each is counted whole, by pairing its
        // segments or by bit correlation, whichever costs less; the loops below skip them.
        let both = self.grouped.group(&self.seg_a, &self.seg_b);
        // counts of bit-correlated lines, directly by δ (index major + δ), and their range
        if self.direct.len() != 2 * major + 2 {
            self.direct.clear();
            self.direct.resize(2 * major + 2, 0);
        }
        let mut direct = (i64::MAX, i64::MIN);
        let several = |line: usize| both.contains(&line) && self.grouped.both(line);
        for line in both.clone() {
            if !self.grouped.both(line) {
                continue;
            }
            let (a, b) = (self.grouped.a(line), self.grouped.b(line));
            let (last_a, last_b) = (self.seg_a.last_of(line), self.seg_b.last_of(line));
            // the extra segments come before the line's last, in order
            let span = |first: &[(u32, u32)], last: (u32, u32)| (last.1 - first[0].0) as usize;
            let pairs = (a.len() + 1) * (b.len() + 1);
            let bits = match self.policy {
                LinePolicy::Auto => {
                    PAIR_COST * pairs > bit_correlation::cost(span(a, last_a), span(b, last_b))
                }
                LinePolicy::Segments => false,
                LinePolicy::Lines | LinePolicy::Dense => true,
            };
            let seg_a = a.iter().copied().chain(std::iter::once(last_a));
            let seg_b = b.iter().copied().chain(std::iter::once(last_b));
            if bits {
                let zero = major as i64;
                let range = self.bits.correlate(seg_a, seg_b, &mut self.direct, zero);
                direct = (
                    direct.0.min(zero + range.start()),
                    direct.1.max(zero + range.end()),
                );
            } else {
                for sa in seg_a {
                    for sb in seg_b.clone() {
                        imp.add_pair(sa, sb);
                    }
                }
            }
        }
        // Only the lines that meet both objects can hold pairs.
        let (la, lb) = (self.seg_a.lines(), self.seg_b.lines());
        let (lo, hi) = (la.start.max(lb.start), la.end.min(lb.end));
        if lo < hi {
            let last_a = &self.seg_a.last[lo - la.start..hi - la.start];
            let last_b = &self.seg_b.last[lo - lb.start..hi - lb.start];
            for (line, (&a, &b)) in (lo..).zip(last_a.iter().zip(last_b)) {
                if a & END_BITS != 0 && b & END_BITS != 0 && !several(line) {
                    imp.add_pair(unpack(a), unpack(b));
                }
            }
        }
        // Lines that cross one object more than once: pair its other segments too.
        for a in &self.seg_a.extra {
            let b = self.seg_b.last_of(a.line as usize);
            if b.1 != 0 && !several(a.line as usize) {
                imp.add_pair((a.start, a.end), b);
            }
        }
        for b in &self.seg_b.extra {
            let a = self.seg_a.last_of(b.line as usize);
            if a.1 != 0 && !several(b.line as usize) {
                imp.add_pair(a, (b.start, b.end));
            }
        }
        let (lowest_index, highest_index) = (imp.lowest, imp.highest);
        if lowest_index > highest_index && direct.0 > direct.1 {
            return false; // no pair shares a line
        }
        // Outside the impulses the counts are zero: the four impulses of a trapezoid sum to 0.
        let touched = if lowest_index <= highest_index {
            &mut self.counts[lowest_index as usize..=highest_index as usize]
        } else {
            &mut []
        };
        for _ in 0..2 {
            let mut acc = 0i64;
            for c in touched.iter_mut() {
                acc += *c;
                *c = acc;
            }
        }
        if direct.0 <= direct.1 {
            let range = direct.0 as usize..=direct.1 as usize;
            for (c, d) in self.counts[range.clone()]
                .iter_mut()
                .zip(&mut self.direct[range])
            {
                *c += *d;
                *d = 0; // ready for the next direction
            }
        }
        true
    }

    /// The counts of a direction from bitsets of its lines (see [`LinePolicy::Dense`]), for
    /// the lines of `common`; `major` positions along each line.
    fn count_dense(
        &mut self,
        runs_a: &RunList,
        runs_b: &RunList,
        common: std::ops::Range<i64>,
        major: usize,
    ) -> bool {
        let words = major.div_ceil(64);
        line_bits(
            runs_a,
            &self.shifts,
            common.clone(),
            words,
            &mut self.dense_a,
        );
        line_bits(runs_b, &self.shifts, common, words, &mut self.dense_b);
        let mut any = false;
        for (a, b) in self
            .dense_a
            .chunks_exact(words)
            .zip(self.dense_b.chunks_exact(words))
        {
            let counted = self
                .bits
                .correlate_bits(a, 0, b, 0, &mut self.counts, major as i64);
            any |= counted.is_some();
        }
        any
    }

    /// `C(δ)` of the last [`Workspace::count_pairs`], for `|δ| < extent`.
    #[inline]
    pub fn signed(&self, delta: i64) -> i64 {
        self.counts[(delta + self.extent as i64) as usize]
    }

    /// The number of positions along the major axis of the last direction: `|δ| < extent`.
    pub fn extent(&self) -> usize {
        self.extent
    }

    /// Counts by unsigned distance into `out[d]`, `d < extent`: `C(d) + C(−d)` for `d ≥ 1`,
    /// `C(0)` at 0. Returns the range of `d` outside which every count is zero.
    pub fn symmetric_counts(&self, out: &mut Vec<f64>) -> std::ops::Range<usize> {
        let e = self.extent as i64;
        out.clear();
        out.push(self.signed(0) as f64);
        out.extend((1..e).map(|d| (self.signed(d) + self.signed(-d)) as f64));
        nonzero_range(out)
    }

    /// Counts of the pairs whose A pixel lies after its B pixel (`forward · δ > 0`) by
    /// distance, with the pairs at δ = 0 weighted ½ (split between θ and θ + π).
    pub fn directed_counts(&self, forward: i8, out: &mut Vec<f64>) -> std::ops::Range<usize> {
        let e = self.extent as i64;
        out.clear();
        out.push(0.5 * self.signed(0) as f64);
        out.extend((1..e).map(|d| self.signed(forward as i64 * d) as f64));
        nonzero_range(out)
    }
}

fn nonzero_range(v: &[f64]) -> std::ops::Range<usize> {
    match v.iter().position(|&c| c != 0.0) {
        None => 0..0,
        Some(lo) => lo..v.iter().rposition(|&c| c != 0.0).unwrap_or(lo) + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Brute force over all pixel pairs, with the same line assignment.
    fn brute(
        a: &Array2<u8>,
        b: &Array2<u8>,
        dir: &Direction,
    ) -> std::collections::HashMap<i64, i64> {
        let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
        // The masks in these tests fill their union box, so the crop is the whole array.
        assert_eq!((pair.height, pair.width), a.dim());
        let (h, w) = a.dim();
        let line_pos = |y: usize, x: usize| -> (i64, i64) {
            match dir.major {
                Major::X => (y as i64 + dir.shift(x, (w as f64 - 1.0) / 2.0), x as i64),
                Major::Y => (x as i64 + dir.shift(y, (h as f64 - 1.0) / 2.0), y as i64),
            }
        };
        let mut out = std::collections::HashMap::new();
        for ya in 0..h {
            for xa in 0..w {
                if a[[ya, xa]] == 0 {
                    continue;
                }
                for yb in 0..h {
                    for xb in 0..w {
                        if b[[yb, xb]] == 0 {
                            continue;
                        }
                        let (la, pa) = line_pos(ya, xa);
                        let (lb, pb) = line_pos(yb, xb);
                        if la == lb {
                            *out.entry(pa - pb).or_insert(0) += 1;
                        }
                    }
                }
            }
        }
        out
    }

    const POLICIES: [LinePolicy; 4] = [
        LinePolicy::Auto,
        LinePolicy::Segments,
        LinePolicy::Lines,
        LinePolicy::Dense,
    ];

    /// Fragmented masks (noise of several densities, stripes, a noisy object beside a solid
    /// one): every way of counting gives the pixel-by-pixel counts, in every direction, and
    /// `Auto` takes the dense way for noise.
    #[test]
    fn every_policy_matches_brute_force_on_fragmented_masks() {
        let mut seed = 4242u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut dense_chosen = 0;
        for trial in 0..8 {
            let (h, w) = (20 + (rnd() % 50) as usize, 20 + (rnd() % 50) as usize);
            let mut a = Array2::<u8>::zeros((h, w));
            let mut b = Array2::<u8>::zeros((h, w));
            let density = [2, 3, 5][trial % 3];
            a.mapv_inplace(|_| (rnd() % density == 0) as u8);
            b.mapv_inplace(|_| (rnd() % 2 == 0) as u8);
            match trial {
                3 => b
                    .indexed_iter_mut()
                    .for_each(|((y, _), v)| *v = (y % 3 == 0) as u8),
                4 => b
                    .indexed_iter_mut()
                    .for_each(|((_, x), v)| *v = (x % 4 < 2) as u8),
                5 => b.slice_mut(ndarray::s![.., ..w / 2]).fill(1),
                _ => {}
            }
            a[[0, 0]] = 1;
            b[[h - 1, w - 1]] = 1;
            let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
            for k in [0, 1, 7, 11, 12, 18, 29, 30, 36, 45] {
                let dir = Direction::half_turn(k, 60);
                let want = brute(&a, &b, &dir);
                for policy in POLICIES {
                    let mut ws = Workspace {
                        policy,
                        ..Default::default()
                    };
                    assert!(ws.count_pairs(&pair, &dir));
                    let major = ws.extent() as i64;
                    for delta in -(major - 1)..major {
                        assert_eq!(
                            ws.signed(delta),
                            *want.get(&delta).unwrap_or(&0),
                            "trial {trial} dir {k} delta {delta} {policy:?}"
                        );
                    }
                }
                let (n_lines, major) = match dir.major {
                    Major::X => (h + w, w),
                    Major::Y => (h + w, h),
                };
                dense_chosen += dense_is_cheaper(&pair, dir.major, n_lines, major) as usize;
            }
        }
        assert!(dense_chosen > 0, "the dense way is never chosen");
    }

    /// One workspace reused across directions and pairs of different sizes with the dense
    /// and per-line ways: no count leaks from one direction into the next.
    #[test]
    fn reused_workspace_carries_nothing_over() {
        let mut seed = 7u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for policy in POLICIES {
            let mut ws = Workspace {
                policy,
                ..Default::default()
            };
            for trial in 0..6 {
                let n = 8 + (rnd() % 40) as usize;
                let mut a = Array2::<u8>::zeros((n, n + trial));
                let mut b = Array2::<u8>::zeros((n, n + trial));
                a.mapv_inplace(|_| (rnd() % 2 == 0) as u8);
                b.mapv_inplace(|_| (rnd() % 2 == 0) as u8);
                a[[0, 0]] = 1;
                b[[n - 1, n + trial - 1]] = 1;
                let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
                for k in 0..12 {
                    let dir = Direction::half_turn(k, 12);
                    ws.count_pairs(&pair, &dir);
                    let want = brute(&a, &b, &dir);
                    let major = ws.extent() as i64;
                    for delta in -(major - 1)..major {
                        assert_eq!(ws.signed(delta), *want.get(&delta).unwrap_or(&0));
                    }
                }
            }
        }
    }

    #[test]
    fn counts_match_brute_force_on_random_masks() {
        let mut seed = 99u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut wss: Vec<Workspace> = POLICIES
            .iter()
            .map(|&policy| Workspace {
                policy,
                ..Default::default()
            })
            .collect();
        let mut no_common_line = 0;
        for trial in 0..40 {
            let (h, w) = (2 + (rnd() % 9) as usize, 2 + (rnd() % 9) as usize);
            let mut a = Array2::<u8>::zeros((h, w));
            let mut b = Array2::<u8>::zeros((h, w));
            a.mapv_inplace(|_| (rnd() % 3 == 0) as u8);
            b.mapv_inplace(|_| (rnd() % 3 == 0) as u8);
            if trial % 2 == 1 {
                // objects apart (A top-left, B bottom-right): some directions share no line
                a.slice_mut(ndarray::s![h / 2.., ..]).fill(0);
                a.slice_mut(ndarray::s![.., w / 2..]).fill(0);
                b.slice_mut(ndarray::s![..h / 2 + 1, ..]).fill(0);
                b.slice_mut(ndarray::s![.., ..w / 2 + 1]).fill(0);
            }
            a[[0, 0]] = 1;
            b[[h - 1, w - 1]] = 1;
            let pair = MaskPair::new(a.view(), b.view(), "a", "b").unwrap();
            for k in 0..24 {
                let dir = Direction::half_turn(k, 24);
                let want = brute(&a, &b, &dir);
                for ws in wss.iter_mut() {
                    let any = ws.count_pairs(&pair, &dir);
                    assert_eq!(any, !want.is_empty(), "trial {trial} dir {k}");
                    no_common_line += (!any && ws.policy == LinePolicy::Auto) as usize;
                    let major = ws.extent() as i64;
                    for delta in -(major - 1)..major {
                        assert_eq!(
                            ws.signed(delta),
                            *want.get(&delta).unwrap_or(&0),
                            "trial {trial} dir {k} delta {delta} {:?}",
                            ws.policy
                        );
                    }
                }
            }
        }
        assert!(
            no_common_line > 40,
            "{no_common_line} directions without a common line"
        );
    }
}
