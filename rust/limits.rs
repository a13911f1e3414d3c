//! Size limits and fallible allocation: a request too large for memory is an error that names
//! the limit ([`Error::Value`]) or the allocation that failed ([`Error::Memory`]), never an
//! abort of the whole process.

use crate::error::{Error, Result};

/// Most values (f64) in one table the engine builds: a banner, a kernel table, the
/// corrections. 2^28 values are 2 GiB of f64; the paper's banners hold 10,260.
pub const MAX_TABLE_VALUES: usize = 1 << 28;

/// Most pixels in one image or mask the engine creates (resized masks and images, decoded
/// windows): 2^31, 2 GiB at one byte per pixel, far beyond any photograph.
pub const MAX_OUTPUT_PIXELS: usize = 1 << 31;

/// Most pixels of a mask described by a run-length encoding (a COCO RLE's `height × width`,
/// of which only a window is decoded): 2^40, a terapixel, so that every position in it fits
/// 64 bits with room to spare.
pub const MAX_RLE_PIXELS: u64 = 1 << 40;

/// Longest side of the union box of a pair: the engine indexes a direction's lines in 32 bits,
/// with room for the shear; no plan could serve a longer side anyway (its kernel table would
/// exceed [`MAX_TABLE_VALUES`] even for one force level).
pub const MAX_SIDE: usize = 1 << 28;

/// Error unless a `rows × cols` table fits [`MAX_TABLE_VALUES`]; `what` names it.
pub fn check_table_size(what: &str, rows: usize, cols: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(n) if n <= MAX_TABLE_VALUES => Ok(()),
        _ => Err(Error::value(format!(
            "{what} of {rows} x {cols} values exceeds the limit of {MAX_TABLE_VALUES} values \
             (2 GiB of float64)"
        ))),
    }
}

/// Error unless an output of `height × width` pixels (`channels` bytes each) fits
/// [`MAX_OUTPUT_PIXELS`]; `what` names it.
pub fn check_output_size(what: &str, height: usize, width: usize) -> Result<()> {
    match height.checked_mul(width) {
        Some(n) if n <= MAX_OUTPUT_PIXELS => Ok(()),
        _ => Err(Error::value(format!(
            "{what} of {height} x {width} pixels exceeds the limit of {MAX_OUTPUT_PIXELS} pixels"
        ))),
    }
}

/// Error unless a mask of `height × width` pixels described by a run-length encoding fits
/// [`MAX_RLE_PIXELS`]; returns its number of pixels.
pub fn check_rle_size(height: usize, width: usize) -> Result<u64> {
    match (height as u64).checked_mul(width as u64) {
        Some(n) if n <= MAX_RLE_PIXELS => Ok(n),
        _ => Err(Error::value(format!(
            "RLE mask of {height} x {width} pixels exceeds the limit of {MAX_RLE_PIXELS} pixels"
        ))),
    }
}

/// Error unless an image of `height × width` pixels has no side longer than [`MAX_SIDE`];
/// `what` names it.
pub fn check_sides(what: &str, height: usize, width: usize) -> Result<()> {
    if height.max(width) > MAX_SIDE {
        return Err(Error::value(format!(
            "{what} of {height} x {width} pixels has a side longer than the limit of \
             {MAX_SIDE} pixels"
        )));
    }
    Ok(())
}

/// An empty vector with room for `n` items, or [`Error::Memory`] naming `what` when the
/// allocator refuses.
pub fn try_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::Memory(format!(
            "could not allocate {what} ({n} items of {} bytes)",
            std::mem::size_of::<T>()
        ))
    })?;
    Ok(v)
}

/// [`Error::Memory`] naming `what` unless `bytes` bytes can be allocated now (they are released
/// at once): for code that allocates its buffers deeper down without a check.
pub fn reserve_probe(bytes: usize, what: &str) -> Result<()> {
    let probe = try_with_capacity::<u8>(bytes, what)?;
    std::hint::black_box(&probe); // an allocation never used may otherwise be optimised away
    Ok(())
}

/// `n` copies of `value`, or [`Error::Memory`] naming `what`.
pub fn try_filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n, what)?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named() {
        assert!(check_table_size("kernel table", 57, 257).is_ok());
        let e = check_table_size("kernel table", 57, 1_000_000_001).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel table of 57 x 1000000001 values exceeds the limit of 268435456 values \
             (2 GiB of float64)"
        );
        assert!(check_table_size("t", usize::MAX, 2).is_err());
        let e = check_output_size("resized mask", 1_000_000, 1_000_000).unwrap_err();
        assert!(e.to_string().contains("limit of 2147483648 pixels"), "{e}");
        assert!(check_output_size("m", 1 << 15, 1 << 16).is_ok());
    }

    #[test]
    fn rle_sizes_are_checked_products() {
        assert_eq!(check_rle_size(3, 5), Ok(15));
        assert_eq!(check_rle_size(1 << 20, 1 << 20), Ok(1 << 40));
        // 2^33 · 2^33 wraps to 0 in 64 bits: an empty RLE would have matched it
        let e = check_rle_size(1 << 33, 1 << 33).unwrap_err();
        assert_eq!(
            e.to_string(),
            "RLE mask of 8589934592 x 8589934592 pixels exceeds the limit of 1099511627776 pixels"
        );
        assert!(check_rle_size(usize::MAX, usize::MAX).is_err());
        assert!(check_rle_size((1 << 20) + 1, 1 << 20).is_err());
    }

    #[test]
    fn sides_are_bounded() {
        assert!(check_sides("box", 1, MAX_SIDE).is_ok());
        let e = check_sides("union box of a and b", 1, MAX_SIDE + 1).unwrap_err();
        assert!(e.to_string().contains("limit of 268435456 pixels"), "{e}");
        assert!(check_sides("box", MAX_SIDE + 1, 1).is_err());
    }

    #[test]
    fn a_reservation_the_allocator_refuses_is_an_error_naming_it() {
        assert!(reserve_probe(1 << 20, "small").is_ok());
        let e = reserve_probe(usize::MAX / 2, "huge buffer").unwrap_err();
        assert!(
            e.to_string().starts_with("could not allocate huge buffer"),
            "{e}"
        );
    }

    #[test]
    fn refused_allocations_are_memory_errors() {
        let e = try_with_capacity::<u64>(usize::MAX / 4, "a table").unwrap_err();
        assert!(
            matches!(e, Error::Memory(ref m) if m.contains("a table")),
            "{e:?}"
        );
        assert_eq!(try_filled(3, 7u8, "x").unwrap(), vec![7, 7, 7]);
    }
}
