//! The kernel's spinning mutex (OpenBSD's `struct mutex`, mtx_enter/leave).
//!
//! Interrupts are masked on this CPU before the lock is taken and restored
//! after it is released, so an interrupt handler that takes the same mutex
//! can never spin forever on a lock its own CPU holds. Hold times must be
//! short and a holder must never sleep.

use core::ops::{Deref, DerefMut};

use crate::machdep;

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
        MutexGuard { guard: Some(self.inner.lock()), saved }
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
        machdep::intr_restore(self.saved);
    }
}
