//! What most programs want in scope: `use rt::prelude::*;`.

pub use crate::env::{Args, args};
pub use crate::errno::{Errno, Result};
pub use crate::{entry, eprint, eprintln, print, println};
pub use alloc::borrow::ToOwned;
pub use alloc::boxed::Box;
pub use alloc::string::{String, ToString};
pub use alloc::vec::Vec;
pub use alloc::{format, vec};
