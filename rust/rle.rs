//! COCO run-length encoded masks: a window of the mask, decoded straight from the RLE.
//!
//! A COCO RLE lists the lengths of alternating runs of 0s and 1s (0s first) over the mask read
//! column by column (column-major, `height` pixels per column). `csip precompute` keeps only
//! the union box of two objects, so it decodes only that window: runs before and after the
//! window's columns are skipped by arithmetic, and each run of 1s fills its rows in the window.
//!
//! Compressed RLEs (pycocotools' `counts` strings) code each number in characters of 5 bits
//! (offset 48): bit `0x20` says another character follows, bit `0x10` of the last character is
//! the sign, and from the fourth number on each is stored as the difference to the number two
//! places before.

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::limits::{check_output_size, check_rle_size, try_filled};

/// The run lengths of a compressed RLE string.
pub fn decode_counts(s: &[u8]) -> Result<Vec<u64>> {
    let mut counts: Vec<i64> = Vec::with_capacity(s.len() / 2 + 1);
    let mut p = 0;
    while p < s.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let Some(&ch) = s.get(p) else {
                return Err(Error::value(
                    "malformed compressed RLE: the last number is not terminated",
                ));
            };
            if !(48..48 + 64).contains(&ch) {
                return Err(Error::value(format!(
                    "malformed compressed RLE: character {:?} at {p} is outside the code",
                    ch as char
                )));
            }
            if k >= 12 {
                return Err(Error::value(format!(
                    "malformed compressed RLE: the number ending near {p} is too long"
                )));
            }
            let c = (ch - 48) as i64;
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        let m = counts.len();
        if m > 2 {
            x = x.checked_add(counts[m - 2]).ok_or_else(|| {
                Error::value(format!("malformed compressed RLE: run {m} overflows"))
            })?;
        }
        counts.push(x);
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            u64::try_from(c).map_err(|_| {
                Error::value(format!(
                    "malformed compressed RLE: run {i} has a negative length ({c})"
                ))
            })
        })
        .collect()
}

/// The window `x0..x1 × y0..y1` of the `height × width` mask whose run lengths are `counts`,
/// as a bool array `(y1 − y0, x1 − x0)` in column-major order (its transpose is row-major:
/// the layout the runs come in, and one the engine reads without a copy).
///
/// Errors when the window is not inside the mask, the mask has more than
/// [`crate::limits::MAX_RLE_PIXELS`] pixels, or the runs do not cover exactly `height · width`
/// pixels.
pub fn window(
    counts: &[u64],
    height: usize,
    width: usize,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> Result<Array2<bool>> {
    if !(x0 < x1 && x1 <= width && y0 < y1 && y1 <= height) {
        return Err(Error::value(format!(
            "window ({x0}, {y0}, {x1}, {y1}) is not inside the {width}x{height} mask"
        )));
    }
    let pixels = check_rle_size(height, width)?;
    let total = counts
        .iter()
        .try_fold(0u64, |acc, &c| acc.checked_add(c))
        .unwrap_or(u64::MAX);
    if total != pixels {
        return Err(Error::value(format!(
            "RLE covers {total} pixels, expected {height}x{width}"
        )));
    }
    let (h, win_h, win_w) = (height as u64, y1 - y0, x1 - x0);
    // column-major buffer of the window: column x − x0 holds rows y0..y1
    check_output_size("window", win_h, win_w)?;
    let mut out = try_filled(win_w * win_h, false, "the window")?;
    let (lo, hi) = (x0 as u64 * h, x1 as u64 * h); // the window's columns, as positions
    let mut pos = 0u64;
    for (i, &len) in counts.iter().enumerate() {
        let (start, end) = (pos, pos + len);
        pos = end;
        if i % 2 == 0 || end <= lo {
            continue; // a run of 0s, or ones before the window
        }
        if start >= hi {
            break;
        }
        let (start, end) = (start.max(lo), end.min(hi));
        // the run, column by column
        let mut col = start / h;
        while col * h < end {
            let first = start.max(col * h) - col * h;
            let last = end.min((col + 1) * h) - col * h;
            let (r0, r1) = (first.max(y0 as u64), last.min(y1 as u64));
            if r0 < r1 {
                let base = (col as usize - x0) * win_h;
                out[base + r0 as usize - y0..base + r1 as usize - y0].fill(true);
            }
            col += 1;
        }
    }
    Ok(Array2::from_shape_vec((win_w, win_h), out)
        .expect("window shape")
        .reversed_axes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixel-by-pixel decoding of the whole mask (row-major), from the definition.
    fn decode_full(counts: &[u64], h: usize, w: usize) -> Array2<bool> {
        let mut m = Array2::from_elem((h, w), false);
        let mut pos = 0usize;
        for (i, &c) in counts.iter().enumerate() {
            for p in pos..pos + c as usize {
                m[[p % h, p / h]] = i % 2 == 1;
            }
            pos += c as usize;
        }
        m
    }

    /// pycocotools' string code (`rleToString`), written from its description.
    fn encode_counts(counts: &[u64]) -> Vec<u8> {
        let mut s = Vec::new();
        for (i, &c) in counts.iter().enumerate() {
            let mut x = c as i64;
            if i > 2 {
                x -= counts[i - 2] as i64;
            }
            loop {
                let mut ch = x & 0x1f;
                x >>= 5;
                let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    ch |= 0x20;
                }
                s.push((ch + 48) as u8);
                if !more {
                    break;
                }
            }
        }
        s
    }

    fn random_counts(h: usize, w: usize, seed: &mut u64) -> Vec<u64> {
        let mut rnd = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut left = (h * w) as u64;
        let mut counts = Vec::new();
        while left > 0 {
            let c = (1 + rnd() % (2 * h as u64)).min(left);
            counts.push(if counts.is_empty() && rnd() % 3 == 0 {
                0
            } else {
                c
            });
            left -= counts.last().copied().unwrap();
        }
        counts
    }

    #[test]
    fn windows_match_the_full_mask() {
        let mut seed = 4242u64;
        for trial in 0..200 {
            let (h, w) = (1 + trial % 17, 1 + (trial * 7) % 23);
            let counts = random_counts(h, w, &mut seed);
            let full = decode_full(&counts, h, w);
            let (x0, y0) = (trial % w, (trial / 3) % h);
            let (x1, y1) = (
                x0 + 1 + (trial / 5) % (w - x0),
                y0 + 1 + (trial / 2) % (h - y0),
            );
            let got = window(&counts, h, w, (x0, y0, x1, y1)).unwrap();
            assert_eq!(
                got,
                full.slice(ndarray::s![y0..y1, x0..x1]),
                "trial {trial}: {h}x{w} window {:?}",
                (x0, y0, x1, y1)
            );
        }
    }

    #[test]
    fn compressed_counts_round_trip() {
        let mut seed = 99u64;
        for trial in 0..200 {
            let (h, w) = (1 + trial % 40, 1 + (trial * 13) % 50);
            let counts = random_counts(h, w, &mut seed);
            assert_eq!(decode_counts(&encode_counts(&counts)).unwrap(), counts);
        }
        // large runs need several characters, falling runs negative differences
        let counts = vec![0, 5_000_000, 3, 1, 700_000, 2, 7];
        assert_eq!(decode_counts(&encode_counts(&counts)).unwrap(), counts);
    }

    #[test]
    fn known_string() {
        // one character per number below 16 ('5' = 5, '2' = 2, ...); the fourth and fifth are
        // differences to the second and third: 0 + 2, 3 + 2

        assert_eq!(decode_counts(b"52203").unwrap(), vec![5, 2, 2, 2, 5]);
    }

    #[test]
    fn bad_input_is_an_error_naming_the_problem() {
        let msg = |r: Result<Vec<u64>>| r.unwrap_err().to_string();
        assert!(msg(decode_counts(b"5P")).contains("not terminated"));
        assert!(msg(decode_counts(b"5 ")).contains("outside the code"));
        assert!(msg(decode_counts(b"5@")).contains("negative length")); // '@': 0, sign bit
        let counts = [3u64, 2, 1];
        let err = window(&counts, 2, 2, (0, 0, 2, 2)).unwrap_err().to_string();
        assert!(err.contains("covers 6 pixels, expected 2x2"), "{err}");
        let err = window(&[4], 2, 2, (0, 0, 3, 2)).unwrap_err().to_string();
        assert!(err.contains("not inside the 2x2 mask"), "{err}");
        // 2^33 x 2^33 pixels wrap to 0 in 64 bits, which an empty RLE "covered"
        let huge = 1usize << 33;
        let err = window(&[], huge, huge, (0, 0, 2, 2))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exceeds the limit of 1099511627776 pixels"),
            "{err}"
        );
        let err = window(&[0], huge, huge, (0, 0, 2, 2))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("RLE mask of 8589934592 x 8589934592"),
            "{err}"
        );
    }
}
