//! Link the programs at the fixed user address with the segment layout the
//! kernel's exec expects. Only for the bare-metal targets: on the host the
//! programs are stubs linked the ordinary way. The benchmark package
//! (`user/bench`, one directory down) uses this script too.

fn main() {
    let dir =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let ld = [dir.join("user.ld"), dir.join("../user.ld")]
        .into_iter()
        .find(|p| p.is_file())
        .expect("user.ld beside the package or one directory up");
    println!("cargo:rerun-if-changed={}", ld.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-T{}", ld.display());
    // lld's default on aarch64 is 64 KiB, which would pad every segment
    // to 64 KiB in the file; the kernel maps 4 KiB pages on both arches.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rustc-link-arg-bins=--build-id=none");
}
