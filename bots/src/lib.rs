//! reel's chat side: the platform-neutral command core (parse → validate →
//! enqueue → progress → deliver) and the adapters that translate between a
//! platform and that core. Adapters hold no product logic.

pub mod core;
pub mod discord;
pub mod retry;
pub mod telegram;
pub mod terminal;
