//! Anonymous pages (OpenBSD's `vm_anon`).
//!
//! An anon is one physical page of private memory. It is shared between
//! maps after fork and copied when one of them writes to it. The reference
//! count is the `Arc` strong count: one per amap slot, in every map, that
//! holds the anon. Maps of different processes are locked independently,
//! so the count has to be atomic; `Arc` is.
//!
//! There is deliberately no `Drop` here: freeing the page needs the
//! environment (`UvmEnv::pagefree`), which a destructor cannot reach. Every
//! reference is therefore given up through [`anon_unref`], and amaps check
//! on drop that they hold none (see `uvm_amap`).

use alloc::sync::Arc;

use crate::UvmEnv;

pub(crate) struct VmAnon {
    pa: u64,
}

impl VmAnon {
    pub(crate) fn pa(&self) -> u64 {
        self.pa
    }
}

/// A new anon for page `pa`, with one reference (the caller's slot).
pub(crate) fn anon_new(pa: u64) -> Arc<VmAnon> {
    Arc::new(VmAnon { pa })
}

/// True when no other amap slot, in any map, refers to `anon`.
///
/// Sound without a lock on the other maps: the count can only grow by
/// forking a map that holds a reference, and the caller holds the lock of
/// the only map that does. `Arc::get_mut` reads the count with acquire
/// ordering, so every access made through a reference dropped elsewhere
/// happens before the caller writes to the page.
pub(crate) fn anon_unique(anon: &mut Arc<VmAnon>) -> bool {
    Arc::get_mut(anon).is_some()
}

/// Drop one reference to `anon`; the last one frees its page. Returns
/// whether it did. The caller has already removed every mapping of the page
/// this reference allowed.
pub(crate) fn anon_unref<E: UvmEnv>(anon: Arc<VmAnon>) -> bool {
    match Arc::into_inner(anon) {
        Some(last) => {
            E::pagefree(last.pa);
            true
        }
        None => false,
    }
}
