//! The console's files are embedded at compile time (`src/console.rs`); a file added to or
//! removed from `assets/console` must rebuild the crate, which `include_bytes!` alone misses.
fn main() {
    println!("cargo:rerun-if-changed=assets/console");
    println!("cargo:rerun-if-changed=build.rs");
}
