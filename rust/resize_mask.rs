//! Resizing a binary mask by area coverage.
//!
//! Output pixel `(i, j)` of an `out_h × out_w` mask stands for the rectangle
//! `[j·W/out_w, (j+1)·W/out_w) × [i·H/out_h, (i+1)·H/out_h)` of the `H × W` input, each input
//! pixel being a unit square. It is set when the mask covers **at least half** of that
//! rectangle's area. Coverage is computed exactly, in integers: along x the unit is
//! `1/out_w` of an input pixel (so input pixel `x` spans `[x·out_w, (x+1)·out_w)` and output
//! column `j` spans `[j·W, (j+1)·W)`), along y it is `1/out_h`. A rectangle's area is then
//! `W·H` units and the test is `2·covered ≥ W·H`: no rounding, no dependence on the platform.
//!
//! This is what a box filter followed by a threshold at one half does, without the
//! intermediate 8-bit rounding of image libraries, and it costs one pass over the input plus
//! one over the output rows each input row touches. Shrinking and enlarging both work
//! (an enlarged pixel is set when its centre area is mostly inside the mask).

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::limits::{check_output_size, try_filled};
use crate::mask::{MaskPixel, MaskView, ViewFn};

/// Adds to `acc[j]` the length (in `1/n_out` input pixels) of `[lo, hi)` (input pixels) inside
/// output cell `j`, for every cell the interval meets. Cells are `n_in` units wide.
fn add_interval(acc: &mut [u64], lo: usize, hi: usize, n_in: u64, n_out: u64) {
    let (a, b) = (lo as u64 * n_out, hi as u64 * n_out);
    let first = (a / n_in) as usize;
    let last = ((b - 1) / n_in) as usize;
    if first == last {
        acc[first] += b - a;
        return;
    }
    acc[first] += (first as u64 + 1) * n_in - a;
    for cell in &mut acc[first + 1..last] {
        *cell += n_in;
    }
    acc[last] += b - last as u64 * n_in;
}

/// Calls `f(lo, hi)` for every run `[lo, hi)` of set pixels of a row, in order.
fn for_each_run<T: MaskPixel>(row: ndarray::ArrayView1<'_, T>, mut f: impl FnMut(usize, usize)) {
    let mut start: Option<usize> = None;
    match row.as_slice().and_then(T::as_bytes) {
        Some(bytes) => {
            // skip eight bytes at a time while they all continue the current state
            let word = |i: usize| u64::from_ne_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
            let mut x = 0;
            while x < bytes.len() {
                if x + 8 <= bytes.len() {
                    let wd = word(x);
                    if (start.is_none() && wd == 0)
                        || (start.is_some() && wd == 0x0101_0101_0101_0101)
                    {
                        x += 8;
                        continue;
                    }
                }
                match (bytes[x] != 0, start) {
                    (true, None) => start = Some(x),
                    (false, Some(s)) => {
                        f(s, x);
                        start = None;
                    }
                    _ => {}
                }
                x += 1;
            }
        }
        None => {
            for (x, p) in row.iter().enumerate() {
                match (p.is_set(), start) {
                    (true, None) => start = Some(x),
                    (false, Some(s)) => {
                        f(s, x);
                        start = None;
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(s) = start {
        f(s, row.len());
    }
}

/// The mask resized to `out_h × out_w` by area coverage (see the module documentation).
///
/// Any memory layout: a column-major mask is read as its (row-major) transpose, which gives
/// the same result exactly, since the rule treats both axes alike.
pub fn resize_mask<T: MaskPixel>(
    mask: ArrayView2<'_, T>,
    out_h: usize,
    out_w: usize,
) -> Result<Array2<bool>> {
    let (h, w) = mask.dim();
    if h == 0 || w == 0 {
        return Err(Error::value(format!(
            "mask must not be empty, got shape ({h}, {w})"
        )));
    }
    if out_h == 0 || out_w == 0 {
        return Err(Error::value(format!(
            "output size must be positive, got ({out_h}, {out_w})"
        )));
    }
    let (hu, wu, ohu, owu) = (h as u64, w as u64, out_h as u64, out_w as u64);
    if hu.checked_mul(wu).and_then(|a| a.checked_mul(2)).is_none()
        || hu.checked_mul(ohu).is_none()
        || wu.checked_mul(owu).is_none()
    {
        return Err(Error::value("mask or output size too large"));
    }
    check_output_size("resized mask", out_h, out_w)?;
    let strides = mask.strides();
    if h > 1 && w > 1 && strides[0] == 1 && strides[1] != 1 {
        let t = resize_rows(mask.t(), out_w, out_h)?;
        return Ok(t.reversed_axes().as_standard_layout().into_owned());
    }
    resize_rows(mask, out_h, out_w)
}

/// [`resize_mask`] of a mask of any element type.
pub fn resize_view(mask: &MaskView<'_>, out_h: usize, out_w: usize) -> Result<Array2<bool>> {
    struct Resize(usize, usize);
    impl ViewFn for Resize {
        type Output = Result<Array2<bool>>;
        fn call<T: MaskPixel>(self, m: ArrayView2<'_, T>) -> Self::Output {
            resize_mask(m, self.0, self.1)
        }
    }
    mask.apply(Resize(out_h, out_w))
}

/// [`resize_mask`] for validated sizes, reading the mask row by row.
fn resize_rows<T: MaskPixel>(
    mask: ArrayView2<'_, T>,
    out_h: usize,
    out_w: usize,
) -> Result<Array2<bool>> {
    let (h, w) = mask.dim();
    let (hu, wu, ohu, owu) = (h as u64, w as u64, out_h as u64, out_w as u64);
    let area = wu * hu;
    let out = try_filled(out_h * out_w, false, "the resized mask")?;
    let mut out = Array2::from_shape_vec((out_h, out_w), out).expect("output shape");
    // Coverage sums of the output rows still open, in a ring: input row y reaches the output
    // rows first..=last (at most ⌈out_h / h⌉ + 1 of them), and every row before `first` is final.
    let window = (out_h.div_ceil(h) + 1).min(out_h);
    let mut ring = try_filled(window * out_w, 0u64, "the resized mask's row sums")?;
    let mut next_final = 0usize; // output rows below it are written
    let seal = |i: usize, ring: &mut [u64], out: &mut Array2<bool>| {
        let acc = &mut ring[(i % window) * out_w..(i % window + 1) * out_w];
        for (o, c) in out.row_mut(i).iter_mut().zip(acc.iter_mut()) {
            *o = 2 * *c >= area;
            *c = 0;
        }
    };
    let mut row_cov = vec![0u64; out_w];
    for (y, row) in mask.rows().into_iter().enumerate() {
        // input row y spans [y·out_h, (y+1)·out_h) in y units; output row i spans [i·H, (i+1)·H)
        let (a, b) = (y as u64 * ohu, (y as u64 + 1) * ohu);
        let (first, last) = ((a / hu) as usize, ((b - 1) / hu) as usize);
        while next_final < first {
            seal(next_final, &mut ring, &mut out);
            next_final += 1;
        }
        // the output columns this row touches: [touched.0, touched.1)
        let mut touched = (usize::MAX, 0usize);
        for_each_run(row, |lo, hi| {
            if touched.0 == usize::MAX {
                row_cov.iter_mut().for_each(|c| *c = 0);
                touched.0 = (lo as u64 * owu / wu) as usize;
            }
            touched.1 = ((hi as u64 * owu - 1) / wu) as usize + 1;
            add_interval(&mut row_cov, lo, hi, wu, owu);
        });
        if touched.0 == usize::MAX {
            continue;
        }
        let cols = touched.0..touched.1;
        for i in first..=last {
            let weight = b.min((i as u64 + 1) * hu) - a.max(i as u64 * hu);
            let acc = &mut ring[(i % window) * out_w..(i % window + 1) * out_w];
            for (o, &c) in acc[cols.clone()].iter_mut().zip(&row_cov[cols.clone()]) {
                *o += weight * c;
            }
        }
    }
    while next_final < out_h {
        seal(next_final, &mut ring, &mut out);
        next_final += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Slow reference: coverage of every output cell by every input pixel, in f64.
    fn reference(m: &Array2<bool>, oh: usize, ow: usize) -> Array2<bool> {
        let (h, w) = m.dim();
        let (sy, sx) = (h as f64 / oh as f64, w as f64 / ow as f64);
        Array2::from_shape_fn((oh, ow), |(i, j)| {
            let (y0, y1, x0, x1) = (
                i as f64 * sy,
                (i + 1) as f64 * sy,
                j as f64 * sx,
                (j + 1) as f64 * sx,
            );
            let mut c = 0.0;
            for y in 0..h {
                for x in 0..w {
                    if m[[y, x]] {
                        let oy = (y1.min(y as f64 + 1.0) - y0.max(y as f64)).max(0.0);
                        let ox = (x1.min(x as f64 + 1.0) - x0.max(x as f64)).max(0.0);
                        c += ox * oy;
                    }
                }
            }
            c >= 0.5 * sx * sy - 1e-9
        })
    }

    #[test]
    fn identity_size_is_identity() {
        let m = array![[true, false, true], [false, false, true]];
        assert_eq!(resize_mask(m.view(), 2, 3).unwrap(), m);
    }

    #[test]
    fn halving_is_a_two_by_two_vote_with_ties_set() {
        let m = array![
            [true, true, false, false],
            [false, false, false, true],
            [true, false, false, false],
            [true, true, true, true]
        ];
        // blocks hold 2, 1 / 3, 2 set pixels out of 4: set iff at least 2
        let r = resize_mask(m.view(), 2, 2).unwrap();
        assert_eq!(r, array![[true, false], [true, true]]);
    }

    #[test]
    fn enlarging_repeats_pixels() {
        let m = array![[true, false], [false, true]];
        let r = resize_mask(m.view(), 4, 4).unwrap();
        let expect = Array2::from_shape_fn((4, 4), |(i, j)| m[[i / 2, j / 2]]);
        assert_eq!(r, expect);
    }

    #[test]
    fn matches_the_slow_reference_at_odd_ratios() {
        let mut state = 12345u64;
        for (h, w, oh, ow) in [
            (7, 11, 3, 5),
            (13, 9, 5, 4),
            (10, 10, 7, 3),
            (5, 8, 9, 12),
            (31, 17, 6, 11),
        ] {
            let m = Array2::from_shape_fn((h, w), |_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 61) < 4
            });
            assert_eq!(
                resize_mask(m.view(), oh, ow).unwrap(),
                reference(&m, oh, ow),
                "{h}x{w} -> {oh}x{ow}"
            );
        }
    }

    #[test]
    fn every_layout_gives_the_same_result() {
        let m = Array2::from_shape_fn((19, 30), |(y, x)| (x * 3 + y * 5) % 7 < 3 || x > 20);
        let expect = reference(&m, 7, 11);
        let column_major = m.t().to_owned(); // its transpose view is m, column-major
        assert_eq!(resize_mask(column_major.t(), 7, 11).unwrap(), expect);
        assert_eq!(resize_mask(m.view(), 7, 11).unwrap(), expect);
        let ints = m.mapv(|v| v as u8 * 3); // non-bool pixels take the generic path
        assert_eq!(resize_mask(ints.view(), 7, 11).unwrap(), expect);
        let strided = Array2::from_shape_fn((19, 60), |(y, x)| x % 2 == 0 && m[[y, x / 2]]);
        assert_eq!(
            resize_mask(strided.slice(ndarray::s![.., ..;2]), 7, 11).unwrap(),
            expect
        );
    }

    #[test]
    fn bad_sizes_are_errors() {
        let m = Array2::<bool>::from_elem((3, 3), true);
        assert!(resize_mask(m.view(), 0, 2)
            .unwrap_err()
            .to_string()
            .contains("positive"));
        let e = Array2::<bool>::from_elem((0, 3), true);
        assert!(resize_mask(e.view(), 2, 2)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
