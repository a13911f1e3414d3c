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
