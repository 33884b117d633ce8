//! The kernel's spinning mutex (OpenBSD's `struct mutex`, mtx_enter/leave).
//!
//! Interrupts are masked on this CPU before the lock is taken and restored
//! after it is released, so an interrupt handler that takes the same mutex
//! can never spin forever on a lock its own CPU holds. Hold times must be
//! short and a holder must never sleep.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::machdep;

/// Set when the scheduler starts; from then on every CPU counts the
/// mutexes it holds, so `assertwaitok` can catch a sleep under a spin lock.
/// Before that, early boot code may take mutexes before `curcpu` works.
pub static MUTEX_COUNTING: AtomicBool = AtomicBool::new(false);

#[inline]
fn level_add(delta: i32) {
    if MUTEX_COUNTING.load(Ordering::Relaxed) {
        let l = &machdep::curcpu().ci_mutex_level;
        if delta > 0 {
            l.fetch_add(1, Ordering::Relaxed);
        } else {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub struct Mutex<T> {
    inner: spin::Mutex<T>,
}

pub struct MutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    saved: usize,
}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Self {
        Mutex { inner: spin::Mutex::new(v) }
    }

    /// mtx_enter: mask interrupts, then spin for the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let saved = machdep::intr_disable();
        let guard = self.inner.lock();
        level_add(1);
        MutexGuard { guard: Some(guard), saved }
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// Release the lock but leave interrupts masked; returns the interrupt
    /// state to restore later (msleep hands it to the scheduler lock so the
    /// two guards do not restore interrupts out of order).
    pub fn unlock_masked(mut self) -> usize {
        self.guard.take();
        level_add(-1);
        let s = self.saved;
        core::mem::forget(self);
        s
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("mutex guard used after release")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("mutex guard used after release")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Release before unmasking: an interrupt taken between the two
        // would otherwise find the lock held by its own CPU.
        self.guard.take();
        level_add(-1);
        machdep::intr_restore(self.saved);
    }
}
