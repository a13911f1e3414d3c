//! Resizing an 8-bit RGB image with Pillow's bilinear filter (antialiased), byte for byte.
//!
//! The cache's images follow the paper's code, which resized with Pillow
//! (`Image.resize(size, BILINEAR)`). This module computes the same bytes, faster, so that
//! `csip precompute` spends less time per image without changing a pixel of the cache.
//!
//! The filter is separable. For an axis of `n_in` pixels resized to `n_out`, output pixel `j`
//! is centred at `c = (j + ½)·s` input pixels (`s = n_in / n_out`); the triangle filter
//! `max(0, 1 − |t|)` is stretched by `f = max(s, 1)` (so shrinking averages over `f` pixels:
//! the antialiasing), input pixels `[⌊c − f + ½⌋, ⌊c + f + ½⌋)` (clamped to the image) get the
//! weights `tri((i − c + ½)/f)`, normalised to sum one, then rounded to fixed point with 22
//! fractional bits. One pass runs after the other with 8-bit rounding (clamped) between them,
//! in Pillow's order (see [`resize_rgb`]); an axis whose size does not change is not filtered.

use ndarray::{Array3, ArrayView3};

use crate::error::{Error, Result};
use crate::limits::{check_output_size, reserve_probe};

/// Fractional bits of the fixed-point weights (as Pillow: 32 − 8 − 2).
const PRECISION_BITS: u32 = 22;

/// The filter of one axis: for output pixel `j`, input pixels `first[j]..first[j] + len[j]`
/// with weights `weights[j * stride..][..len[j]]`.
struct AxisFilter {
    first: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
    stride: usize,
}

impl AxisFilter {
    fn new(n_in: usize, n_out: usize) -> Self {
        let scale = n_in as f64 / n_out as f64;
        let stretch = scale.max(1.0);
        let support = stretch; // the triangle's half-width, 1, stretched
        let stride = support.ceil() as usize * 2 + 1;
        let mut first = Vec::with_capacity(n_out);
        let mut len = Vec::with_capacity(n_out);
        let mut weights = vec![0i32; n_out * stride];
        let mut w = vec![0f64; stride];
        for j in 0..n_out {
            let centre = (j as f64 + 0.5) * scale;
            // truncation towards zero, then clamping, as the C casts do
            let lo = ((centre - support + 0.5) as i64).max(0) as usize;
            let hi = ((centre + support + 0.5) as i64).min(n_in as i64) as usize;
            let n = hi.saturating_sub(lo).min(stride);
            let mut total = 0.0;
            for (i, wi) in w.iter_mut().enumerate().take(n) {
                let t = ((i + lo) as f64 - centre + 0.5) / stretch;
                *wi = (1.0 - t.abs()).max(0.0);
                total += *wi;
            }
            let row = &mut weights[j * stride..j * stride + n];
            for (k, &wi) in row.iter_mut().zip(&w[..n]) {
                let v = if total != 0.0 { wi / total } else { wi };
                let scaled = v * (1u32 << PRECISION_BITS) as f64;
                *k = if v < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                };
            }
            first.push(lo);
            len.push(n);
        }
        Self {
            first,
            len,
            weights,
            stride,
        }
    }

    #[inline]
    fn taps(&self, j: usize) -> (usize, &[i32]) {
        let n = self.len[j];
        (
            self.first[j],
            &self.weights[j * self.stride..j * self.stride + n],
        )
    }
}

/// A fixed-point sum back to a byte: drop the fraction (floor), clamp to 0..=255.
#[inline]
fn to_byte(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// `image` (`H × W × 3`, any strides) resized to `out_h × out_w × 3` (see the module
/// documentation). Errors for an empty image, a zero output size or a third axis other than 3.
pub fn resize_rgb(image: ArrayView3<'_, u8>, out_h: usize, out_w: usize) -> Result<Array3<u8>> {
    let (h, w, c) = image.dim();
    if c != 3 {
        return Err(Error::value(format!(
            "image must be (H, W, 3) RGB, got {c} channels"
        )));
    }
    if h == 0 || w == 0 {
        return Err(Error::value(format!(
            "image must not be empty, got shape ({h}, {w}, 3)"
        )));
    }
    if out_h == 0 || out_w == 0 {
        return Err(Error::value(format!(
            "output size must be positive, got ({out_h}, {out_w})"
        )));
    }
    // the output and either pass's intermediate image
    check_output_size("resized image", out_h, out_w)?;
    check_output_size("resized image's intermediate", h.max(out_h), w.max(out_w))?;
    // the passes below allocate without a check: up to three images of the larger sizes live
    // at once; a request the memory cannot hold is an error here, not an abort there
    reserve_probe(
        3 * 3 * h.max(out_h) * w.max(out_w),
        "resized image and its intermediates",
    )?;
    // The input as rows of contiguous bytes, `stride` bytes apart: read in place when the
    // view's rows already are (a crop of a larger image), copied once otherwise.
    let copy;
    let (input, stride) = match rows_in_place(&image) {
        Some(rows) => rows,
        None => {
            copy = image.as_standard_layout();
            (copy.as_slice().expect("standard layout"), w * 3)
        }
    };
    let (wide, tall) = (out_w != w, out_h != h);
    // Pillow filters rows first, unless the height shrinks and the width changes by more than
    // half the height does (2·(out_w − w) > out_h − h): then columns first. Found by comparing
    // outputs over thousands of sizes; the order changes the 8-bit rounding between the passes.
    let columns_first = out_h < h && 2 * (out_w as i64 - w as i64) > out_h as i64 - h as i64;
    let out = if wide && tall && columns_first {
        let mid = filter_columns(input, stride, h, w, out_h);
        filter_rows(&mid, w * 3, out_h, w, out_w)
    } else if wide {
        let mid = filter_rows(input, stride, h, w, out_w);
        if tall {
            filter_columns(&mid, out_w * 3, h, out_w, out_h)
        } else {
            mid
        }
    } else if tall {
        filter_columns(input, stride, h, w, out_h)
    } else {
        (0..h)
            .flat_map(|y| &input[y * stride..y * stride + w * 3])
            .copied()
            .collect()
    };
    Ok(Array3::from_shape_vec((out_h, out_w, 3), out).expect("output shape"))
}

/// The bytes of an `H × W × 3` view whose rows are each contiguous (pixel stride 3, channel
/// stride 1, rows `stride ≥ 3W` bytes apart), from its first byte to its last, and `stride`;
/// `None` for any other layout.
fn rows_in_place<'a>(image: &ArrayView3<'a, u8>) -> Option<(&'a [u8], usize)> {
    let (h, w, _) = image.dim();
    let st = image.strides();
    if st[1] != 3 || st[2] != 1 || (h > 1 && st[0] < 3 * w as isize) {
        return None;
    }
    let stride = if h > 1 { st[0] as usize } else { 3 * w };
    let len = (h - 1) * stride + 3 * w;
    // SAFETY: with these non-negative strides, the view's elements all lie in the `len` bytes
    // from its first one (the last element is at (h−1)·stride + 3(w−1) + 2), which belong to
    // the array the view borrows for 'a; u8 has no invalid values or alignment needs.
    Some((
        unsafe { std::slice::from_raw_parts(image.as_ptr(), len) },
        stride,
    ))
}

/// Horizontal pass: `h × w × 3` bytes (rows `stride` bytes apart) to `h × out_w × 3`. Done as
/// a vertical pass on the transpose (whole rows combined at once, which vectorises), then
/// transposed back: the sums are the same integers, added in the same order.
fn filter_rows(input: &[u8], stride: usize, h: usize, w: usize, out_w: usize) -> Vec<u8> {
    let t = transpose(input, stride, h, w);
    let filtered = filter_columns(&t, h * 3, w, h, out_w);
    transpose(&filtered, h * 3, out_w, h)
}

/// `h × w` pixels of 3 bytes (rows `stride` bytes apart) to `w × h`, contiguous, in bands of
/// rows that stay in cache (each output column of a band is written in one contiguous run).
fn transpose(input: &[u8], stride: usize, h: usize, w: usize) -> Vec<u8> {
    const BAND: usize = 16;
    assert!(stride >= w * 3, "transpose: stride");
    assert!(
        input.len() >= (h - 1) * stride + w * 3,
        "transpose: input size"
    );
    let mut out = vec![0u8; h * w * 3];
    for y0 in (0..h).step_by(BAND) {
        let y1 = (y0 + BAND).min(h);
        for x in 0..w {
            let dst = &mut out[(x * h + y0) * 3..(x * h + y1) * 3];
            let mut s = y0 * stride + x * 3;
            for d in dst.chunks_exact_mut(3) {
                // SAFETY: s = y·stride + 3x with y < h and x < w, so s + 3 <= (h−1)·stride +
                // 3w <= input.len() (asserted above).
                d.copy_from_slice(unsafe { input.get_unchecked(s..s + 3) });
                s += stride;
            }
        }
    }
    out
}

/// Vertical pass: `h × w × 3` bytes (rows `stride` bytes apart) to `out_h × w × 3`,
/// contiguous; each output row is a weighted sum of whole input rows, a loop the compiler
/// vectorises (with AVX2 where the CPU has it, chosen at run time; integer sums, so every
/// version gives the same bytes).
fn filter_columns(input: &[u8], stride: usize, h: usize, w: usize, out_h: usize) -> Vec<u8> {
    let fy = AxisFilter::new(h, out_h);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports the feature the function was compiled for.
            return unsafe { filter_columns_avx2(input, stride, w, &fy) };
        }
    }
    filter_columns_body(input, stride, w, &fy)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn filter_columns_avx2(input: &[u8], stride: usize, w: usize, fy: &AxisFilter) -> Vec<u8> {
    filter_columns_body(input, stride, w, fy)
}

#[inline(always)]
fn filter_columns_body(input: &[u8], stride: usize, w: usize, fy: &AxisFilter) -> Vec<u8> {
    let row = w * 3;
    let out_h = fy.first.len();
    let mut out = vec![0u8; out_h * row];
    let mut acc = vec![0i32; row];
    for (i, dst) in out.chunks_exact_mut(row).enumerate() {
        let (lo, k) = fy.taps(i);
        acc.iter_mut().for_each(|a| *a = HALF);
        for (y, &kk) in (lo..).zip(k) {
            for (a, &p) in acc.iter_mut().zip(&input[y * stride..y * stride + row]) {
                *a += p as i32 * kk;
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = to_byte(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn noise(h: usize, w: usize, seed: u64) -> Array3<u8> {
        let mut s = seed;
        Array3::from_shape_fn((h, w, 3), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
    }

    #[test]
    fn same_size_is_the_identity() {
        let img = noise(7, 9, 1);
        assert_eq!(resize_rgb(img.view(), 7, 9).unwrap(), img);
    }

    #[test]
    fn constant_images_stay_constant() {
        let img = Array3::from_elem((37, 53, 3), 201u8);
        for (oh, ow) in [(10, 20), (37, 11), (80, 90), (5, 53)] {
            assert!(resize_rgb(img.view(), oh, ow)
                .unwrap()
                .iter()
                .all(|&v| v == 201));
        }
    }

    #[test]
    fn halving_averages_pairs() {
        // shrinking 2:1 covers pixels 2j-1 .. 2j+2 with weights 1/8, 3/8, 3/8, 1/8 (clamped at
        // the borders); a row of alternating 0 and 200 becomes 100 inside
        let img = Array3::from_shape_fn((1, 16, 3), |(_, x, _)| if x % 2 == 0 { 0 } else { 200 });
        let out = resize_rgb(img.view(), 1, 8).unwrap();
        for j in 1..7 {
            assert_eq!(out[[0, j, 0]], 100, "pixel {j}");
        }
    }

    #[test]
    fn any_layout_gives_the_same_bytes() {
        let img = noise(21, 30, 7);
        let want = resize_rgb(img.view(), 9, 13).unwrap();
        let big = {
            let mut b = Array3::<u8>::zeros((40, 50, 3));
            b.slice_mut(ndarray::s![5..26, 10..40, ..]).assign(&img);
            b
        };
        let window = big.slice(ndarray::s![5..26, 10..40, ..]);
        assert_eq!(resize_rgb(window, 9, 13).unwrap(), want);
        // every pass order (identity, one axis, both, growing, columns first), from a window
        // read in place, a window of a column-major copy and a view with rows reversed
        let column_major = {
            let mut c = Array3::<u8>::zeros((3, 50, 40));
            c.assign(&big.view().permuted_axes([2, 1, 0]));
            c
        };
        let reversed = {
            let mut r = big.clone();
            r.invert_axis(ndarray::Axis(0));
            r
        };
        for (oh, ow) in [
            (21, 30),
            (21, 13),
            (9, 30),
            (9, 13),
            (30, 41),
            (20, 29),
            (5, 29),
        ] {
            let want = resize_rgb(img.view(), oh, ow).unwrap();
            assert_eq!(resize_rgb(window, oh, ow).unwrap(), want, "{oh}x{ow}");
            let cm = column_major.view().permuted_axes([2, 1, 0]);
            let cm = cm.slice(ndarray::s![5..26, 10..40, ..]);
            assert_eq!(
                resize_rgb(cm, oh, ow).unwrap(),
                want,
                "{oh}x{ow} column-major"
            );
            let mut flipped = reversed.slice(ndarray::s![14..35, 10..40, ..]);
            flipped.invert_axis(ndarray::Axis(0));
            assert_eq!(
                resize_rgb(flipped, oh, ow).unwrap(),
                want,
                "{oh}x{ow} flipped"
            );
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let img = Array3::<u8>::zeros((4, 4, 4));
        assert!(resize_rgb(img.view(), 2, 2)
            .unwrap_err()
            .to_string()
            .contains("got 4 channels"));
        let img = Array3::<u8>::zeros((4, 4, 3));
        assert!(resize_rgb(img.view(), 0, 2)
            .unwrap_err()
            .to_string()
            .contains("positive"));
    }
}
