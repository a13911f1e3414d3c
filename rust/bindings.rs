//! Python bindings (`csip_core._csip_core`): numpy in, numpy out, the GIL released while the
//! engine computes. Only the thin `#[pyfunction]`s live here: their arguments are converted by
//! [`crate::py_arrays`] and the engine is run by [`crate::py_call::compute`].

use ndarray::{Array2, Ix2};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::banner::{default_forces, force_banner_until, sfb_until};
use crate::batch::{sfb_batch as run_batch, BatchSpec, PairSource};
use crate::kernel::KernelTable;
use crate::mask::MaskPair;
use crate::plan::{validate_forces, Stop};
use crate::plan_cache::{shared_plan, PlanKind};
use crate::py_arrays::{
    batch_out, forces_or_default, mask_array, n_threads_arg, out_slice, parse_normalize, positive,
    progress_arg, rgb_image, rle_counts, rle_window_box, two_masks, writable, BatchArrays,
};
use crate::py_call::{compute, progress_reporter};

/// The force banner of `a` and `b` as (R, n_dirs) float64, computed without the GIL.
fn force_banner_array<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: &[f64],
    n_dirs: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (ma, mb) = two_masks(a, b)?;
    let (va, vb) = (ma.view(), mb.view());
    let out = compute(py, |i| {
        let pair = MaskPair::from_views(&va, &vb, "a", "b")?;
        force_banner_until(&pair, forces, n_dirs, &|| i.stop())
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_dirs), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// F_r^{AB}(θ_k), θ_k = 2πk/n_dirs: the force histogram of argument `a` with respect to
/// referent `b` for one force level `r`. Returns float64 (n_dirs,).
#[pyfunction]
#[pyo3(signature = (a, b, r, n_dirs = 360))]
fn force_histogram<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    r: f64,
    n_dirs: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let n_dirs = positive("n_dirs", n_dirs)?;
    if !r.is_finite() {
        return Err(PyValueError::new_err(format!("r must be finite, got {r}")));
    }
    validate_forces(&[r])
        .map_err(|e| PyValueError::new_err(e.to_string().replace("forces[0]", "r")))?;
    let banner = force_banner_array(py, a, b, &[r], n_dirs)?;
    banner.reshape([n_dirs])
}

/// FB^{AB}(r, θ_k): one force histogram per force level (rows), θ_k = 2πk/n_dirs (columns).
/// Returns float64 (R, n_dirs).
#[pyfunction]
#[pyo3(signature = (a, b, forces = None, n_dirs = 360))]
fn force_banner<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: Option<&Bound<'py, PyAny>>,
    n_dirs: i64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n_dirs = positive("n_dirs", n_dirs)?;
    let forces = forces_or_default(forces)?;
    force_banner_array(py, a, b, &forces, n_dirs)
}

/// The symmetric force banner ξ(θ_k, r) = (F_r^{AB}(θ_k) + F_r^{AB}(θ_k + π)) / 2,
/// θ_k = πk/n_angles ∈ [0, π). Returns float32 (R, n_angles); `normalize="max"` divides each
/// force level by its maximum over θ, `"none"` (or None) returns the raw values.
#[pyfunction]
#[pyo3(signature = (a, b, forces = None, n_angles = 180, normalize = Some("max")))]
fn sfb<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    forces: Option<&Bound<'py, PyAny>>,
    n_angles: i64,
    normalize: Option<&str>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let n_angles = positive("n_angles", n_angles)?;
    let mode = parse_normalize(normalize)?;
    let forces = forces_or_default(forces)?;
    let (ma, mb) = two_masks(a, b)?;
    let (va, vb) = (ma.view(), mb.view());
    let out = compute(py, |i| {
        let pair = MaskPair::from_views(&va, &vb, "a", "b")?;
        sfb_until(&pair, &forces, n_angles, mode, &|| i.stop())
    })?;
    let arr = Array2::from_shape_vec((forces.len(), n_angles), out).expect("banner shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// Symmetric force banners of many pairs, in parallel. Returns float32 (N, R, n_angles), each
/// row bit-identical to `sfb` of the same pair.
///
/// Pairs come as two stacked (N, H, W) arrays, two equal-length sequences of 2-D arrays, or
/// (with `masks_b=None`) one sequence of (a, b) pairs; sizes may differ between pairs. Each
/// pair is read, encoded and computed on one of `n_threads` threads (default: all cores;
/// `n_threads=1` runs on the calling thread and starts none, which is safe in forked worker
/// processes) without the GIL, and written into `out` (a float32 C-contiguous
/// (N, R, n_angles) array such as a np.memmap; allocated when None). After every `chunk_size`
/// pairs are written, `progress(done, total)` is called; Ctrl-C stops the batch promptly.
#[pyfunction]
#[pyo3(signature = (masks_a, masks_b = None, forces = None, n_angles = 180, normalize = Some("max"),
    n_threads = None, chunk_size = 64, progress = None, out = None))]
#[allow(
    clippy::too_many_arguments,
    reason = "PyO3 takes one Rust parameter per Python parameter of sfb_batch's signature"
)]
fn sfb_batch<'py>(
    py: Python<'py>,
    masks_a: &Bound<'py, PyAny>,
    masks_b: Option<&Bound<'py, PyAny>>,
    forces: Option<&Bound<'py, PyAny>>,
    n_angles: i64,
    normalize: Option<&str>,
    n_threads: Option<i64>,
    chunk_size: i64,
    progress: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n_angles = positive("n_angles", n_angles)?;
    let chunk_size = positive("chunk_size", chunk_size)?;
    let mode = parse_normalize(normalize)?;
    let forces = forces_or_default(forces)?;
    // the parameters are checked before any mask is read
    shared_plan(PlanKind::Symmetric, &forces, n_angles, 1)?;
    let threads = n_threads_arg(n_threads)?;
    let progress = progress_arg(progress)?;
    let arrays = BatchArrays::new(masks_a, masks_b)?;
    let views = arrays.views();
    let out = batch_out(py, out, [views.len(), forces.len(), n_angles])?;
    let mut rw = writable(&out)?;
    let slice = out_slice(&mut rw)?;
    let spec = BatchSpec {
        forces: &forces,
        n_angles,
        mode,
        chunk_size,
    };
    compute(py, |i| {
        let stop: Stop<'_> = &|| i.stop();
        run_batch(
            &views,
            &spec,
            &threads,
            slice,
            stop,
            progress_reporter(i, progress.as_ref()),
        )
    })?;
    drop(rw);
    Ok(out)
}

/// The pixel-pair kernel k_r(d) for each force level (rows) and d = 0..=max_distance
/// (columns): float64 (R, max_distance + 1). k_r(0) = k_r(1) = 1 by the engine's choice for
/// touching and overlapping pixels; see the module documentation.
#[pyfunction]
#[pyo3(signature = (forces = None, max_distance = 256))]
fn kernel_table<'py>(
    py: Python<'py>,
    forces: Option<&Bound<'py, PyAny>>,
    max_distance: i64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let forces = forces_or_default(forces)?;
    validate_forces(&forces)?;
    let max_distance = positive("max_distance", max_distance)?;
    let table = KernelTable::new(&forces, max_distance)?;
    let arr = Array2::from_shape_vec((forces.len(), max_distance + 1), table.into_values())
        .expect("table shape");
    Ok(PyArray2::from_owned_array(py, arr))
}

/// A binary mask resized to `(height, width)` by area coverage: an output pixel is set when the
/// mask covers at least half of the input area it stands for (exact, integer arithmetic; see
/// the engine's `resize_mask` module). Input: 2-D bool or integer (non-zero = set), any strides.
#[pyfunction]
#[pyo3(signature = (mask, height, width))]
fn resize_mask<'py>(
    py: Python<'py>,
    mask: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let m = mask_array::<Ix2>(mask, "mask")?;
    let view = m.view();
    let out = compute(py, |_| {
        crate::resize_mask::resize_view(&view, height, width)
    })?;
    Ok(PyArray2::from_owned_array(py, out))
}

/// An RGB image, uint8 `(H, W, 3)` in any memory layout, resized to `(height, width, 3)` with
/// Pillow's antialiased bilinear filter: the same bytes as
/// `Image.fromarray(image).resize((width, height), Image.BILINEAR)` (see the engine's
/// `resize_image` module).
#[pyfunction]
#[pyo3(signature = (image, height, width))]
fn resize_rgb<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let ro = rgb_image(image)?;
    let view = ro.as_array();
    let out = compute(py, |_| crate::resize_image::resize_rgb(view, height, width))?;
    Ok(PyArray3::from_owned_array(py, out))
}

/// The window `(x0, y0, x1, y1)` (exclusive ends) of a COCO run-length encoded mask of
/// `height × width` pixels, as bool `(y1 - y0, x1 - x0)` (Fortran-ordered), decoding only the
/// window's columns. `counts` is the RLE's `counts`: a compressed string (bytes or str, as
/// pycocotools writes it) or a sequence of run lengths (0s first, column-major).
#[pyfunction]
#[pyo3(signature = (counts, height, width, window))]
fn rle_window<'py>(
    py: Python<'py>,
    counts: &Bound<'py, PyAny>,
    height: i64,
    width: i64,
    window: (i64, i64, i64, i64),
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let (height, width) = (positive("height", height)?, positive("width", width)?);
    let counts = rle_counts(counts)?;
    let window = rle_window_box(window, height, width)?;
    let out = compute(py, |_| crate::rle::window(&counts, height, width, window))?;
    Ok(PyArray2::from_owned_array(py, out))
}

#[pymodule]
fn _csip_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("__doc__", MODULE_DOC)?;
    m.add("DEFAULT_FORCES", PyTuple::new(py, default_forces())?)?;
    m.add_function(wrap_pyfunction!(force_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(force_banner, m)?)?;
    m.add_function(wrap_pyfunction!(sfb, m)?)?;
    m.add_function(wrap_pyfunction!(sfb_batch, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_table, m)?)?;
    m.add_function(wrap_pyfunction!(resize_mask, m)?)?;
    m.add_function(wrap_pyfunction!(resize_rgb, m)?)?;
    m.add_function(wrap_pyfunction!(rle_window, m)?)?;
    Ok(())
}

const MODULE_DOC: &str = "\
Conventions: rows y (row 0 at the top), columns x; theta = 0 points to +x, theta = pi/2 points
up. F^{AB}(theta) is large when A (first argument) lies in direction theta of B (the referent);
F^{BA}(theta) = F^{AB}(theta + pi). Force levels r weight point pairs by 1/d^r.

Digital lines: one pixel per column (within 45 degrees of the x axis) or per row, anchored at the
centre of the union box of A and B, so the descriptor is exactly invariant to translation and
exactly equivariant to horizontal flips (theta -> pi - theta) and 90-degree rotations.

Kernel: pixel pairs d >= 2 steps apart use the exact integral of 1/d^r over the two unit pixels
(the closed form of Matsakis & Wendling, evaluated by a stable series, continuous in r).
Touching (d = 1) and overlapping (d = 0) pixels use the point force at a distance floored at one
pixel, k = 1, so every value is finite and non-negative for every r and exact at r = 0.
A pixel in both masks is a pair at d = 0, split half to each direction.";
