//! Perception: what the consent checks need to see and hear in what chat
//! users send. Each model sits behind a small trait so the consent
//! registry's tests can plug in deterministic stand-ins.

pub mod faces;
pub mod speech;
