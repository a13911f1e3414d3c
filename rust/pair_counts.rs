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

use crate::directions::{Direction, Major};
use crate::lines::{line_range, unpack, LineSegments, LineSweep, END_BITS};
use crate::mask::MaskPair;

/// Reusable buffers for one thread; no allocation after the first pair of a given size.
#[derive(Debug, Default)]
pub struct Workspace {
    shifts: Vec<i64>,
    sweep: LineSweep,
    seg_a: LineSegments,
    seg_b: LineSegments,
    counts: Vec<i64>,
    extent: usize,
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
        self.sweep
            .segments(runs_a, &self.shifts, common.clone(), &mut self.seg_a);
        self.sweep
            .segments(runs_b, &self.shifts, common, &mut self.seg_b);

        let base = major as i64 + 1;
        let (mut lowest_index, mut highest_index) = (i64::MAX, i64::MIN);
        let counts = &mut self.counts;
        let mut add_pair = |(a0, a1): (u32, u32), (b0, b1): (u32, u32)| {
            let (a0, a1, b0, b1) = (a0 as i64, a1 as i64, b0 as i64, b1 as i64);
            counts[(base + a0 - b1) as usize] += 1;
            counts[(base + a0 - b0) as usize] -= 1;
            counts[(base + a1 - b1) as usize] -= 1;
            counts[(base + a1 - b0) as usize] += 1;
            lowest_index = lowest_index.min(base + a0 - b1);
            highest_index = highest_index.max(base + a1 - b0);
        };
        // Only the lines that meet both objects can hold pairs.
        let (la, lb) = (self.seg_a.lines(), self.seg_b.lines());
        let (lo, hi) = (la.start.max(lb.start), la.end.min(lb.end));
        if lo < hi {
            let last_a = &self.seg_a.last[lo - la.start..hi - la.start];
            let last_b = &self.seg_b.last[lo - lb.start..hi - lb.start];
            for (&a, &b) in last_a.iter().zip(last_b) {
                if a & END_BITS != 0 && b & END_BITS != 0 {
                    add_pair(unpack(a), unpack(b));
                }
            }
        }
        // Lines that cross an object more than once: pair their other segments too.
        for a in &self.seg_a.extra {
            let b = self.seg_b.last_of(a.line as usize);
            if b.1 != 0 {
                add_pair((a.start, a.end), b);
            }
        }
        for b in &self.seg_b.extra {
            let a = self.seg_a.last_of(b.line as usize);
            if a.1 != 0 {
                add_pair(a, (b.start, b.end));
            }
        }
        if !self.seg_a.extra.is_empty() && !self.seg_b.extra.is_empty() {
            // lines crossing both objects several times: match their other segments by line
            let (extra_a, extra_b) = (&mut self.seg_a.extra, &mut self.seg_b.extra);
            extra_a.sort_unstable_by_key(|s| s.line);
            extra_b.sort_unstable_by_key(|s| s.line);
            let mut j = 0;
            for a in extra_a.iter() {
                while j < extra_b.len() && extra_b[j].line < a.line {
                    j += 1;
                }
                for b in extra_b[j..].iter().take_while(|b| b.line == a.line) {
                    add_pair((a.start, a.end), (b.start, b.end));
                }
            }
        }
        if lowest_index > highest_index {
            return false; // no pair shares a line
        }
        // Outside the impulses the counts are zero: the four impulses of a trapezoid sum to 0.
        let touched = &mut self.counts[lowest_index as usize..=highest_index as usize];
        for _ in 0..2 {
            let mut acc = 0i64;
            for c in touched.iter_mut() {
                acc += *c;
                *c = acc;
            }
        }
        true
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

    #[test]
    fn counts_match_brute_force_on_random_masks() {
        let mut seed = 99u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut ws = Workspace::default();
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
                let any = ws.count_pairs(&pair, &dir);
                let want = brute(&a, &b, &dir);
                assert_eq!(any, !want.is_empty(), "trial {trial} dir {k}");
                no_common_line += !any as usize;
                let major = ws.extent() as i64;
                for delta in -(major - 1)..major {
                    assert_eq!(
                        ws.signed(delta),
                        *want.get(&delta).unwrap_or(&0),
                        "trial {trial} dir {k} delta {delta}"
                    );
                }
            }
        }
        assert!(
            no_common_line > 40,
            "{no_common_line} directions without a common line"
        );
    }
}
