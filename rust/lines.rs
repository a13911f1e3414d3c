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
/// `base..base + last.len()`, have slots. Most lines cross an object once, so one segment of
/// each line (its last) sits in a table indexed by `line − base`; the others go to a list.
#[derive(Debug, Default, Clone)]
pub struct LineSegments {
    /// The first line with a slot.
    pub base: usize,
    /// `last[line − base]`: the line's last segment, [packed](pack), or 0 where the line misses
    /// the object (a segment has `end > start ≥ 0`, so its `end` is never 0).
    pub last: Vec<u64>,
    /// The segments before the last of lines that cross the object several times.
    pub extra: Vec<Segment>,
}

impl LineSegments {
    /// The lines that have slots (every segment lies on one of them).
    pub fn lines(&self) -> std::ops::Range<usize> {
        self.base..self.base + self.last.len()
    }

    /// The last segment of `line`, `(0, 0)` if none.
    #[inline]
    pub fn last_of(&self, line: usize) -> (u32, u32) {
        unpack(
            self.last
                .get(line.wrapping_sub(self.base))
                .copied()
                .unwrap_or(0),
        )
    }

    /// Every segment, in no particular order (for tests and diagnostics).
    pub fn all(&self) -> Vec<Segment> {
        let mut v: Vec<Segment> = self
            .last
            .iter()
            .enumerate()
            .filter(|(_, &s)| s != 0)
            .map(|(rel, &s)| Segment {
                line: (rel + self.base) as u32,
                start: unpack(s).0,
                end: unpack(s).1,
            })
            .collect();
        v.extend_from_slice(&self.extra);
        v
    }
}

/// Reusable buffers of a sweep.
#[derive(Debug, Default)]
pub struct LineSweep {
    prev: Vec<(i32, i32)>,
    cur: Vec<(i32, i32)>,
}

impl LineSweep {
    /// The segments on the lines of `window` of the object whose runs (one list per major
    /// position) are `runs`, on lines `v + shifts[u]`; `shifts` must be non-negative and
    /// monotonic (as digital lines' are). Lines outside `window` are left out (the pair counts
    /// need only the lines that meet both objects: see [`line_range`]).
    pub fn segments(
        &mut self,
        runs: &RunList,
        shifts: &[i64],
        window: std::ops::Range<i64>,
        out: &mut LineSegments,
    ) {
        debug_assert_eq!(runs.len(), shifts.len());
        out.last.clear();
        out.extra.clear();
        out.base = 0;
        // Columns before and after the object hold nothing: sweep only the occupied ones, and
        // give slots only to the lines of the window their runs can cover.
        let occupied = runs.occupied();
        if occupied.is_empty() {
            return;
        }
        // shifts are monotonic in u: their extremes over the object sit at its ends
        let (s0, s1) = (shifts[occupied.start], shifts[occupied.end - 1]);
        let (lo, hi) = runs.minor_extent();
        let base = (lo as i64 + s0.min(s1)).max(window.start);
        let end = (hi as i64 + s0.max(s1)).min(window.end);
        if end <= base {
            return;
        }
        let n_lines = (end - base) as usize;
        debug_assert!(base >= 0);
        // the window relative to base: every line the sweep meets is clipped to it
        let (w0, w1) = (0, n_lines as i32);
        out.base = base as usize;
        out.last.resize(n_lines, 0);
        self.prev.clear();
        let mut lines = Lines {
            last: &mut out.last,
            extra: &mut out.extra,
            base: base as u32,
        };
        // Lines relative to `base`, in i32, clipped to the window 0..n_lines. Most columns
        // hold one run: from one such column to the next the covered interval [p0, p1) just
        // moves its ends; the other columns go through the run lists.
        let (single, shifts) = (&runs.single()[occupied.clone()], &shifts[occupied.clone()]);
        let (mut p0, mut p1) = (0, 0); // the previous column's interval, if it had one run
        let mut prev_many = false; // whether it had several (then they are in `self.prev`)
        for (k, (&(lo, hi), &shift)) in single.iter().zip(shifts).enumerate() {
            let s = (shift - base) as i32;
            let at = (occupied.start + k) as u32;
            // (NOT_ONE_RUN gives c0 >= c1)
            let (c0, c1) = ((lo + s).max(w0), (hi + s).min(w1));
            if c0 < c1 && p0 < p1 {
                lines.step(p0, p1, c0, c1, at);
                (p0, p1) = (c0, c1);
                continue;
            }
            // not one run to one run (in the window)
            let (pb, cb) = ([(p0, p1)], [(c0, c1)]);
            let prev_runs: &[(i32, i32)] = if p0 < p1 {
                &pb[..]
            } else if prev_many {
                &self.prev
            } else {
                &[]
            };
            let cur_runs: &[(i32, i32)] = if c0 < c1 {
                &cb[..]
            } else if lo < hi {
                &[] // one run, outside the window
            } else {
                self.cur.clear();
                let at_u = runs.at(occupied.start + k);
                self.cur.extend(
                    at_u.iter()
                        .map(|&(lo, hi)| ((lo + s).max(w0), (hi + s).min(w1)))
                        .filter(|&(c0, c1)| c0 < c1),
                );
                &self.cur
            };
            for_each_in_difference(prev_runs, cur_runs, |lo, hi| lines.close(lo, hi, at));
            for_each_in_difference(cur_runs, prev_runs, |lo, hi| lines.open(lo, hi, at));
            (p0, p1, prev_many) = match cur_runs {
                &[(c0, c1)] => (c0, c1, false),
                [] => (0, 0, false),
                _ => {
                    std::mem::swap(&mut self.prev, &mut self.cur);
                    (0, 0, true)
                }
            };
        }
        let end = occupied.end as u32;
        if p0 < p1 {
            lines.close(p0, p1, end);
        } else if prev_many {
            for &(p0, p1) in &self.prev {
                lines.close(p0, p1, end);
            }
        }
    }
}

/// The lines `[lo, hi)` that the object whose runs are `runs` covers on lines
/// `v + shifts[u]` (empty if none), from the first and last run of each position.
pub fn line_range(runs: &RunList, shifts: &[i64]) -> std::ops::Range<i64> {
    let occupied = runs.occupied();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (&(first, last), &s) in runs.span()[occupied.clone()].iter().zip(&shifts[occupied]) {
        lo = lo.min(first as i64 + s);
        hi = hi.max(last as i64 + s);
    }
    if lo < hi {
        lo..hi
    } else {
        0..0
    }
}

/// A segment `[start, end)` in one `u64`: `start` in the low half, `end` in the high half.
#[inline]
pub fn pack(start: u32, end: u32) -> u64 {
    start as u64 | (end as u64) << 32
}

/// `(start, end)` of a [packed](pack) segment.
#[inline]
pub fn unpack(s: u64) -> (u32, u32) {
    (s as u32, (s >> 32) as u32)
}

/// The bits of a packed segment's `end`: non-zero exactly where there is a segment.
pub const END_BITS: u64 = 0xffff_ffff << 32;

/// The sweep's state, lines relative to `base`: `last[l]` is line `l`'s latest segment,
/// packed, with `end` 0 while it is open; when a line opens again, its closed segment moves to
/// `extra`.
struct Lines<'a> {
    last: &'a mut [u64],
    extra: &'a mut Vec<Segment>,
    base: u32,
}

impl Lines<'_> {
    /// From covering lines `[p0, p1)` to covering `[c0, c1)` (both non-empty) at position `at`:
    /// the lines of the first only end their segments, those of the second only start one.
    #[inline(always)]
    fn step(&mut self, p0: i32, p1: i32, c0: i32, c1: i32, at: u32) {
        self.close(p0, p1.min(c0), at);
        self.close(p0.max(c1), p1, at);
        self.open(c0, c1.min(p0), at);
        self.open(c0.max(p1), c1, at);
    }

    /// Lines `[from, to)` leave the object at position `at`: their segments end there.
    #[inline(always)]
    fn close(&mut self, from: i32, to: i32, at: u32) {
        let mut l = from;
        while l < to {
            let s = &mut self.last[l as usize];
            *s = (*s & !END_BITS) | pack(0, at);
            l += 1;
        }
    }

    /// Lines `[from, to)` enter the object at position `at`.
    #[inline(always)]
    fn open(&mut self, from: i32, to: i32, at: u32) {
        let mut l = from;
        while l < to {
            let s = &mut self.last[l as usize];
            if *s & END_BITS != 0 {
                reopen(self.extra, l as u32 + self.base, *s);
            }
            *s = pack(at, 0);
            l += 1;
        }
    }
}

/// A line enters the object again: its closed segment `s` moves to `extra`.
#[cold]
#[inline(never)]
fn reopen(extra: &mut Vec<Segment>, line: u32, s: u64) {
    let (start, end) = unpack(s);
    extra.push(Segment { line, start, end });
}

/// Call `f(lo, hi)` on the maximal intervals `[lo, hi)` (non-empty, in order) of the union of
/// `a` that are not in the union of `b`; both are sorted lists of disjoint half-open intervals.
fn for_each_in_difference(a: &[(i32, i32)], b: &[(i32, i32)], mut f: impl FnMut(i32, i32)) {
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
                if x < blo {
                    f(x, blo);
                }
                x = x.max(bhi);
                k += 1;
            } else {
                f(x, hi);
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

    fn difference(a: &[(i32, i32)], b: &[(i32, i32)]) -> Vec<i32> {
        let mut v = Vec::new();
        for_each_in_difference(a, b, |lo, hi| {
            assert!(lo < hi);
            v.extend(lo..hi)
        });
        v
    }

    #[test]
    fn interval_difference() {
        assert_eq!(difference(&[(0, 5)], &[(1, 2), (3, 4)]), vec![0, 2, 4]);
        assert_eq!(difference(&[(0, 3), (6, 8)], &[(2, 7)]), vec![0, 1, 7]);
        assert_eq!(difference(&[(0, 3)], &[]), vec![0, 1, 2]);
        assert_eq!(difference(&[], &[(0, 3)]), Vec::<i32>::new());
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
            let all = brute_segments(&cropped, &shifts, n_lines);
            assert_eq!(line_range(runs, &shifts), lines_of(&all));
            for window in windows(n_lines, &mut rnd) {
                let mut segs = LineSegments::default();
                LineSweep::default().segments(runs, &shifts, window.clone(), &mut segs);
                assert!(segs.lines().end <= n_lines);
                let mut got = segs.all();
                got.sort_by_key(|s| (s.line, s.start));
                assert_eq!(got, in_window(&all, &window), "window {window:?}");
            }
        }
    }

    /// The whole range of lines, and a few random windows of it (some empty).
    fn windows(n_lines: usize, rnd: &mut impl FnMut() -> u64) -> Vec<std::ops::Range<i64>> {
        let n = n_lines as i64 + 2;
        let mut v = Vec::with_capacity(5);
        v.push(0..i64::MAX);
        for _ in 0..4 {
            let (a, b) = ((rnd() % n as u64) as i64 - 1, (rnd() % n as u64) as i64 - 1);
            v.push(a.min(b)..a.max(b) + (rnd() % 2) as i64);
        }
        v
    }

    fn in_window(segs: &[Segment], window: &std::ops::Range<i64>) -> Vec<Segment> {
        let keep = |s: &&Segment| window.contains(&(s.line as i64));
        segs.iter().filter(keep).copied().collect()
    }

    /// The lines that hold a segment, as `[first, last + 1)`.
    fn lines_of(segs: &[Segment]) -> std::ops::Range<i64> {
        let lo = segs.iter().map(|s| s.line as i64).min().unwrap();
        let hi = segs.iter().map(|s| s.line as i64 + 1).max().unwrap();
        lo..hi
    }

    /// Segments of `m` (already the union crop) on the lines of `shifts`, both ways.
    fn check_against_pixel_walk(m: &Array2<u8>, shifts: &[i64], rnd: &mut impl FnMut() -> u64) {
        let pair = MaskPair::new(m.view(), m.view(), "a", "b").unwrap();
        assert_eq!((pair.height, pair.width), m.dim());
        let n_lines = pair.height + *shifts.iter().max().unwrap() as usize;
        let all = brute_segments(m, shifts, n_lines);
        assert_eq!(line_range(&pair.a.by_column, shifts), lines_of(&all));
        for window in windows(n_lines, rnd) {
            let mut segs = LineSegments::default();
            LineSweep::default().segments(&pair.a.by_column, shifts, window.clone(), &mut segs);
            assert!(segs.lines().end <= n_lines);
            let mut got = segs.all();
            got.sort_by_key(|s| (s.line, s.start));
            assert_eq!(got, in_window(&all, &window), "window {window:?}");
        }
    }

    /// Shapes whose columns mostly hold one run but whose lines cross them several times
    /// (waves, zigzags, stars): the one-run path, lines that enter the object again, ends
    /// that move by many lines at once, and columns with several runs in between.
    #[test]
    fn sweep_matches_pixel_walk_on_wavy_and_star_shapes() {
        let mut seed = 777u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1_000_000) as f64 / 1_000_000.0
        };
        for trial in 0..60 {
            let (h, w) = (20 + (rnd() * 40.0) as usize, 20 + (rnd() * 60.0) as usize);
            let mut m = Array2::<u8>::zeros((h, w));
            let (amp, period, phase) = (rnd() * h as f64 / 2.5, 3.0 + rnd() * 20.0, rnd() * 6.0);
            let thick = 1.0 + rnd() * h as f64 / 3.0;
            let (cx, cy, spikes) = (w as f64 / 2.0, h as f64 / 2.0, 3.0 + (rnd() * 8.0).floor());
            for y in 0..h {
                for x in 0..w {
                    let (xf, yf) = (x as f64, y as f64);
                    let set = if trial % 2 == 0 {
                        // a band following a wave: one run per column
                        let top = h as f64 / 2.0 - thick / 2.0 + amp * (xf / period + phase).sin();
                        yf >= top && yf < top + thick
                    } else {
                        // a star: radius varying with the angle
                        let (dx, dy) = (xf - cx, yf - cy);
                        let r = (0.55 + 0.45 * (spikes * dy.atan2(dx) + phase).cos())
                            * h.min(w) as f64
                            / 2.0;
                        dx.hypot(dy) < r
                    };
                    m[[y, x]] = set as u8;
                }
            }
            if m.iter().all(|&v| v == 0) {
                continue;
            }
            // crop to the bounding box, as MaskPair does
            let rows: Vec<usize> = (0..h)
                .filter(|&y| m.row(y).iter().any(|&v| v != 0))
                .collect();
            let cols: Vec<usize> = (0..w)
                .filter(|&x| m.column(x).iter().any(|&v| v != 0))
                .collect();
            let m = m
                .slice(ndarray::s![
                    rows[0]..rows[rows.len() - 1] + 1,
                    cols[0]..cols[cols.len() - 1] + 1
                ])
                .to_owned();
            let width = m.dim().1;
            for k in 0..16 {
                // digital lines of slope k/16 (and its negative), as the directions use
                let slope = k as f64 / 16.0 * if trial % 4 < 2 { 1.0 } else { -1.0 };
                let mut shifts: Vec<i64> = (0..width)
                    .map(|u| (u as f64 * slope).round() as i64)
                    .collect();
                let lowest = *shifts.iter().min().unwrap();
                shifts.iter_mut().for_each(|s| *s -= lowest);
                let mut bits = || (rnd() * 1e6) as u64;
                check_against_pixel_walk(&m, &shifts, &mut bits);
            }
        }
    }
}
