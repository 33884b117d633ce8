//! Link the programs at the fixed user address with the segment layout the
//! kernel's exec expects. Only for the bare-metal targets: on the host the
//! programs are stubs linked the ordinary way.

fn main() {
    println!("cargo:rerun-if-changed=user.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    // lld's default on aarch64 is 64 KiB, which would pad every segment
    // to 64 KiB in the file; the kernel maps 4 KiB pages on both arches.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rustc-link-arg-bins=--build-id=none");
}
