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

/// The segments of one object for one direction. Only the lines that meet the object's cover,
/// `base..base + first.len()`, have slots. Most lines cross an object once, so each line's first
/// segment sits in a table indexed by `line − base`; further ones go to a list.
#[derive(Debug, Default, Clone)]
pub struct LineSegments {
    /// The first line with a slot.
    pub base: usize,
    /// `first[line − base] = (start, end)`, or `(0, 0)` where the line misses the object.
    pub first: Vec<(u32, u32)>,
    /// The second and later segments of lines that cross the object several times.
    pub extra: Vec<Segment>,
}

impl LineSegments {
    fn reset(&mut self, lines: std::ops::Range<usize>) {
        self.base = lines.start;
        self.first.clear();
        self.first.resize(lines.len(), (0, 0));
        self.extra.clear();
    }

    /// `push` for a line given relative to `base`.
    #[inline]
    fn push(&mut self, rel: usize, start: u32, end: u32) {
        if self.first[rel].1 == 0 {
            self.first[rel] = (start, end);
        } else {
            self.extra.push(Segment {
                line: (rel + self.base) as u32,
                start,
                end,
            });
        }
    }

    /// The lines that have slots (every segment lies on one of them).
    pub fn lines(&self) -> std::ops::Range<usize> {
        self.base..self.base + self.first.len()
    }

    /// The first segment of `line`, `(0, 0)` if none.
    #[inline]
    pub fn first_of(&self, line: usize) -> (u32, u32) {
        self.first
            .get(line.wrapping_sub(self.base))
            .copied()
            .unwrap_or((0, 0))
    }

    /// Every segment, in no particular order (for tests and diagnostics).
    pub fn all(&self) -> Vec<Segment> {
        let mut v: Vec<Segment> = self
            .first
            .iter()
            .enumerate()
            .filter(|(_, s)| s.1 != 0)
            .map(|(rel, &(start, end))| Segment {
                line: (rel + self.base) as u32,
                start,
                end,
            })
            .collect();
        v.extend_from_slice(&self.extra);
        v
    }
}

/// Reusable buffers of a sweep.
#[derive(Debug, Default)]
pub struct LineSweep {
    prev: Vec<(i64, i64)>,
    cur: Vec<(i64, i64)>,
    open: Vec<u32>,
}

impl LineSweep {
    /// The segments of the object whose runs (one list per major position) are `runs`, on
    /// lines `v + shifts[u]`; `shifts` must be non-negative and monotonic (as digital lines'
    /// are).
    #[allow(clippy::needless_range_loop)] // u runs one past the last column
    pub fn segments(&mut self, runs: &RunList, shifts: &[i64], out: &mut LineSegments) {
        debug_assert_eq!(runs.len(), shifts.len());
        // Columns before and after the object hold nothing: sweep only the occupied ones, and
        // give slots only to the lines their runs cover.
        let occupied = runs.occupied();
        let (base, n_lines) = if occupied.is_empty() {
            (0, 0)
        } else {
            // shifts are monotonic in u: their extremes over the object sit at its ends
            let (s0, s1) = (shifts[occupied.start], shifts[occupied.end - 1]);
            let (lo, hi) = runs.minor_extent();
            let lowest = lo as i64 + s0.min(s1);
            (lowest, (hi as i64 + s0.max(s1) - lowest) as usize)
        };
        debug_assert!(base >= 0);
        out.reset(base as usize..base as usize + n_lines);
        self.open.clear();
        self.open.resize(n_lines, 0);
        self.prev.clear();
        let major = occupied.end;
        // Most columns hold at most one run: track those as scalars, use the lists otherwise.
        let mut prev = Cover::Empty;
        for u in occupied.start..=major {
            let cur = if u < major {
                let s = shifts[u] - base; // lines relative to base
                match runs.at(u) {
                    [] => Cover::Empty,
                    &[(lo, hi)] => Cover::One(lo as i64 + s, hi as i64 + s),
                    many => {
                        self.cur.clear();
                        self.cur
                            .extend(many.iter().map(|&(lo, hi)| (lo as i64 + s, hi as i64 + s)));
                        Cover::Many
                    }
                }
            } else {
                Cover::Empty
            };
            let at = u as u32;
            let open = &mut self.open;
            match (prev, cur) {
                (Cover::Empty, Cover::Empty) => {}
                (Cover::One(p0, p1), Cover::One(c0, c1)) => {
                    close_lines(open, out, p0, p1.min(c0), at);
                    close_lines(open, out, p0.max(c1), p1, at);
                    open_lines(open, c0, c1.min(p0), at);
                    open_lines(open, c0.max(p1), c1, at);
                }
                (Cover::One(p0, p1), Cover::Empty) => close_lines(open, out, p0, p1, at),
                (Cover::Empty, Cover::One(c0, c1)) => open_lines(open, c0, c1, at),
                (p, c) => {
                    let (mut pb, mut cb) = ([(0, 0)], [(0, 0)]);
                    let prev_runs = p.runs(&self.prev, &mut pb);
                    let cur_runs = c.runs(&self.cur, &mut cb);
                    for_each_in_difference(prev_runs, cur_runs, |line| {
                        out.push(line as usize, open[line as usize], at)
                    });
                    for_each_in_difference(cur_runs, prev_runs, |line| open[line as usize] = at);
                }
            }
            if matches!(cur, Cover::Many) {
                std::mem::swap(&mut self.prev, &mut self.cur);
            }
            prev = cur;
        }
    }
}

/// Lines `[from, to)` leave the object at position `at`: their segments end there.
#[inline]
fn close_lines(open: &[u32], out: &mut LineSegments, from: i64, to: i64, at: u32) {
    let (from, to) = (from.max(0) as usize, to.max(0) as usize);
    if to > from {
        for (line, &start) in (from..to).zip(&open[from..to]) {
            out.push(line, start, at);
        }
    }
}

/// Lines `[from, to)` enter the object at position `at`.
#[inline]
fn open_lines(open: &mut [u32], from: i64, to: i64, at: u32) {
    if to > from {
        open[from as usize..to as usize].fill(at);
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
            // a digital line's shifts: steps of 0 or 1, all up or all down
            let sign = if rnd() % 2 == 0 { 1 } else { -1 };
            let mut shifts: Vec<i64> = vec![0; pair.width];
            for u in 1..shifts.len() {
                shifts[u] = shifts[u - 1] + sign * (rnd() % 2) as i64;
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
            let mut segs = LineSegments::default();
            LineSweep::default().segments(runs, &shifts, &mut segs);
            assert!(segs.lines().end <= n_lines);
            let mut got = segs.all();
            got.sort_by_key(|s| (s.line, s.start));
            assert_eq!(got, brute_segments(&cropped, &shifts, n_lines));
        }
    }
}
