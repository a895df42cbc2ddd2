//! The `reel` binary's library: configuration, secrets, render workers and
//! the wiring that joins the store, the engine and the chat adapters.

pub mod cache;
pub mod config;
pub mod cpu_blas;
pub mod enroll;
pub mod picture_screen;
pub mod provenance;
pub mod secrets;
pub mod supervise;
pub mod voice;
pub mod wiring;
pub mod worker;
