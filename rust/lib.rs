//! csip_core: force histograms, force banners and symmetric force banners (sFB).
//!
//! The engine behind C-SIP's spatial modality. Pipeline, one module per step:
//! [`mask`] (validate, crop to the union box, run-length encode) → [`directions`] (digital
//! lines of a direction) → [`lines`] (segments of each object on each line) →
//! [`pair_counts`] (pixel-pair distance counts per direction; by [`bit_correlation`] where
//! the masks are fragmented) → [`kernel`] (exact, stable pixel-pair force `k_r(d)`) →
//! [`plan`] (directions, corrections and kernel of a banner, and the walk over the directions
//! of one pair; shared across calls by [`plan_cache`]) → [`banner`] (histograms, banners,
//! symmetric banners, normalisation) → [`batch`] (many pairs in parallel, encoded on the
//! worker threads, handed out by [`dispenser`]). [`limits`] bounds every large allocation. Beside the pipeline, the
//! resizing that `csip precompute` does for the cache: [`resize_mask`] (binary masks, by area
//! coverage) and [`resize_image`] (RGB images, Pillow's bilinear filter byte for byte), and
//! [`rle`] (a window of a COCO run-length encoded mask). The Python bindings, built only with the
//! `python` feature, keep out of the engine: `bindings` (the thin `#[pyfunction]`s),
//! `py_arrays` (Python objects and numpy arrays to engine inputs) and `py_call` (running the
//! engine without the GIL, Ctrl-C, error mapping).

pub mod banner;
pub mod batch;
pub mod bit_correlation;
pub mod directions;
pub mod dispenser;
pub mod dot;
pub mod error;
pub mod kernel;
pub mod limits;
pub mod lines;
pub mod mask;
pub mod pair_counts;
pub mod plan;
pub mod plan_cache;
pub mod resize_image;
pub mod resize_mask;
pub mod rle;

#[cfg(feature = "python")]
mod bindings;
#[cfg(feature = "python")]
mod py_arrays;
#[cfg(feature = "python")]
mod py_call;

pub use banner::{default_forces, force_banner, sfb, Normalize};
pub use error::{Error, Result};
pub use mask::MaskPair;
pub use plan::Plan;
