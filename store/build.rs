// `sqlx::migrate!` reads the migrations at compile time; on stable Rust it
// cannot tell cargo so, and a new migration file alone would not rebuild
// this crate (a persistent target dir would run without it).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
