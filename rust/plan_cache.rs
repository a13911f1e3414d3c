//! Plans shared across calls: building one (kernel table, corrections) costs more than a
//! banner of a small pair, and a precompute asks for the same parameters millions of times.

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Result;
use crate::limits::MAX_TABLE_VALUES;
use crate::plan::Plan;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlanKind {
    Symmetric,
    Directional,
}

struct Entry {
    kind: PlanKind,
    n: usize,
    forces: Vec<u64>,
    plan: Arc<Plan>,
}

const CAPACITY: usize = 8;
/// Smallest extent a cached plan is built for, so that small pairs share one plan.
const MIN_EXTENT: usize = 256;

/// A plan for `forces` and `n` directions covering masks up to `extent` pixels, built on first
/// use and reused (grown when a larger pair arrives).
pub fn shared_plan(kind: PlanKind, forces: &[f64], n: usize, extent: usize) -> Result<Arc<Plan>> {
    static CACHE: OnceLock<Mutex<Vec<Entry>>> = OnceLock::new();
    let key: Vec<u64> = forces.iter().map(|r| r.to_bits()).collect();
    let cache = CACHE.get_or_init(Default::default);
    let previous = {
        let entries = cache.lock().unwrap_or_else(|p| p.into_inner());
        let found = entries
            .iter()
            .find(|e| e.kind == kind && e.n == n && e.forces == key);
        match found {
            Some(e) if e.plan.max_extent() >= extent => return Ok(e.plan.clone()),
            Some(e) => e.plan.max_extent(),
            None => 0,
        }
    };
    // grown by doubling, but never past the table limit for a pair within it
    let cap = (MAX_TABLE_VALUES / forces.len().max(1)).saturating_sub(1);
    let size = extent
        .max(MIN_EXTENT)
        .max(2 * previous)
        .min(cap.max(extent));
    let plan = Arc::new(match kind {
        PlanKind::Symmetric => Plan::symmetric(forces, n, size)?,
        PlanKind::Directional => Plan::directional(forces, n, size)?,
    });
    let mut entries = cache.lock().unwrap_or_else(|p| p.into_inner());
    entries.retain(|e| !(e.kind == kind && e.n == n && e.forces == key));
    if entries.len() >= CAPACITY {
        entries.remove(0);
    }
    entries.push(Entry {
        kind,
        n,
        forces: key,
        plan: plan.clone(),
    });
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_grows() {
        let f = [0.5, 1.0];
        let p1 = shared_plan(PlanKind::Symmetric, &f, 12, 10).unwrap();
        let p2 = shared_plan(PlanKind::Symmetric, &f, 12, 100).unwrap();
        assert!(Arc::ptr_eq(&p1, &p2));
        let p3 = shared_plan(PlanKind::Symmetric, &f, 12, 1000).unwrap();
        assert!(p3.max_extent() >= 1000);
        let p4 = shared_plan(PlanKind::Directional, &f, 12, 10).unwrap();
        assert!(!Arc::ptr_eq(&p3, &p4));
        assert!(shared_plan(PlanKind::Symmetric, &[f64::NAN], 12, 10).is_err());
    }
}
