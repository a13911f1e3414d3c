//! The segments of one object on the digital lines of one direction.
//!
//! Shearing: a pixel at major position `u` and minor coordinate `v` lies on line
//! `v + shift(u)`. A run `[lo, hi)` of column `u` therefore covers the lines
//! `[lo + shift(u), hi + shift(u))`. Sweeping `u` from first to last, a line *opens* a segment
//! where it enters the covered set and *closes* it where it leaves; both events are found by
//! differencing the covered intervals of consecutive positions, so the cost is proportional to
//! the number of runs and segments, not of pixels.

use crate::mask::RunList;

/// A maximal run of object pixels along one digital line: positions `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub line: u32,
    pub start: u32,
    pub end: u32,
}

/// Reusable buffers of a sweep.
#[derive(Debug, Default)]
pub struct LineSweep {
    prev: Vec<(i64, i64)>,
    cur: Vec<(i64, i64)>,
    open: Vec<u32>,
}

const CLOSED: u32 = u32::MAX;

impl LineSweep {
    /// Append to `out` the segments of the object whose runs (one list per major position) are
    /// `runs`, on lines `v + shifts[u]`; `shifts` must be non-negative with lines `< n_lines`.
    #[allow(clippy::needless_range_loop)] // u runs one past the last column
    pub fn segments(
        &mut self,
        runs: &RunList,
        shifts: &[i64],
        n_lines: usize,
        out: &mut Vec<Segment>,
    ) {
        debug_assert_eq!(runs.len(), shifts.len());
        self.open.clear();
        self.open.resize(n_lines, CLOSED);
        self.prev.clear();
        let major = runs.len();
        // Most columns hold at most one run: track those as scalars, use the lists otherwise.
        let mut prev = Cover::Empty;
        for u in 0..=major {
            let col = if u < major { runs.at(u) } else { &[] };
            let s = if u < major { shifts[u] } else { 0 };
            let cur = match col {
                [] => Cover::Empty,
                &[(lo, hi)] => Cover::One(lo as i64 + s, hi as i64 + s),
                many => {
                    self.cur.clear();
                    self.cur
                        .extend(many.iter().map(|&(lo, hi)| (lo as i64 + s, hi as i64 + s)));
                    Cover::Many
                }
            };
            let open = &mut self.open;
            let start = u as u32;
            let mut close = |line: i64| {
                let begun = std::mem::replace(&mut open[line as usize], CLOSED);
                out.push(Segment {
                    line: line as u32,
                    start: begun,
                    end: start,
                });
            };
            match (prev, cur) {
                (Cover::Empty, Cover::Empty) => {}
                (Cover::One(p0, p1), Cover::One(c0, c1)) => {
                    (p0..p1.min(c0)).chain(p0.max(c1)..p1).for_each(&mut close);
                    for line in (c0..c1.min(p0)).chain(c0.max(p1)..c1) {
                        open[line as usize] = start;
                    }
                }
                (Cover::One(p0, p1), Cover::Empty) => (p0..p1).for_each(&mut close),
                (Cover::Empty, Cover::One(c0, c1)) => {
                    for line in c0..c1 {
                        open[line as usize] = start;
                    }
                }
                (p, c) => {
                    let (mut pb, mut cb) = ([(0, 0)], [(0, 0)]);
                    let prev_runs = p.runs(&self.prev, &mut pb);
                    let cur_runs = c.runs(&self.cur, &mut cb);
                    for_each_in_difference(prev_runs, cur_runs, &mut close);
                    for_each_in_difference(cur_runs, prev_runs, |line| open[line as usize] = start);
                }
            }
            if matches!(cur, Cover::Many) {
                std::mem::swap(&mut self.prev, &mut self.cur);
            }
            prev = cur;
        }
    }
}

/// The lines covered by one column after shearing.
#[derive(Clone, Copy)]
enum Cover {
    Empty,
    One(i64, i64),
    /// Several runs, held in the sweep's list.
    Many,
}

impl Cover {
    fn runs<'a>(self, list: &'a [(i64, i64)], one: &'a mut [(i64, i64); 1]) -> &'a [(i64, i64)] {
        match self {
            Cover::Empty => &[],
            Cover::One(lo, hi) => {
                one[0] = (lo, hi);
                &one[..]
            }
            Cover::Many => list,
        }
    }
}

/// Call `f` on every integer of the union of `a` that is not in the union of `b`; both are
/// sorted lists of disjoint half-open intervals.
fn for_each_in_difference(a: &[(i64, i64)], b: &[(i64, i64)], mut f: impl FnMut(i64)) {
    let mut first = 0;
    for &(lo, hi) in a {
        while first < b.len() && b[first].1 <= lo {
            first += 1;
        }
        let mut x = lo;
        let mut k = first;
        while x < hi {
            if k < b.len() && b[k].0 < hi {
                let (blo, bhi) = b[k];
                for line in x..blo.max(x) {
                    f(line);
                }
                x = x.max(bhi);
                k += 1;
            } else {
                for line in x..hi {
                    f(line);
                }
                x = hi;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskPair;
    use ndarray::Array2;

    fn difference(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<i64> {
        let mut v = Vec::new();
        for_each_in_difference(a, b, |x| v.push(x));
        v
    }

    #[test]
    fn interval_difference() {
        assert_eq!(difference(&[(0, 5)], &[(1, 2), (3, 4)]), vec![0, 2, 4]);
        assert_eq!(difference(&[(0, 3), (6, 8)], &[(2, 7)]), vec![0, 1, 7]);
        assert_eq!(difference(&[(0, 3)], &[]), vec![0, 1, 2]);
        assert_eq!(difference(&[], &[(0, 3)]), Vec::<i64>::new());
        assert_eq!(difference(&[(4, 6)], &[(0, 1), (5, 9)]), vec![4]);
    }

    /// Brute force: walk every line pixel by pixel.
    fn brute_segments(m: &Array2<u8>, shifts: &[i64], n_lines: usize) -> Vec<Segment> {
        let (h, w) = m.dim();
        let mut grid = vec![vec![false; w]; n_lines];
        for y in 0..h {
            for x in 0..w {
                if m[[y, x]] != 0 {
                    grid[(y as i64 + shifts[x]) as usize][x] = true;
                }
            }
        }
        let mut segs = Vec::new();
        for (line, row) in grid.iter().enumerate() {
            let mut x = 0;
            while x < w {
                if row[x] {
                    let s = x;
                    while x < w && row[x] {
                        x += 1;
                    }
                    segs.push(Segment {
                        line: line as u32,
                        start: s as u32,
                        end: x as u32,
                    });
                } else {
                    x += 1;
                }
            }
        }
        segs
    }

    #[test]
    fn sweep_matches_pixel_walk() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50 {
            let (h, w) = (1 + (rnd() % 12) as usize, 1 + (rnd() % 12) as usize);
            let mut m = Array2::<u8>::zeros((h, w));
            m.mapv_inplace(|_| (rnd() % 3 == 0) as u8);
            m[[0, 0]] = 1;
            let pair = MaskPair::new(m.view(), m.view(), "a", "b").unwrap();
            let runs = &pair.a.by_column;
            let mut shifts: Vec<i64> = (0..pair.width).map(|_| (rnd() % 3) as i64).collect();
            for u in 1..shifts.len() {
                shifts[u] = shifts[u - 1] + (rnd() % 3) as i64 - 1;
            }
            let lo = *shifts.iter().min().unwrap();
            shifts.iter_mut().for_each(|s| *s -= lo);
            let n_lines = pair.height + *shifts.iter().max().unwrap() as usize;
            let cropped = {
                let mut c = Array2::<u8>::zeros((pair.height, pair.width));
                for u in 0..pair.width {
                    for &(a, b) in runs.at(u) {
                        for v in a..b {
                            c[[v as usize, u]] = 1;
                        }
                    }
                }
                c
            };
            let mut got = Vec::new();
            LineSweep::default().segments(runs, &shifts, n_lines, &mut got);
            got.sort_by_key(|s| (s.line, s.start));
            assert_eq!(got, brute_segments(&cropped, &shifts, n_lines));
        }
    }
}
