//! Ferry: uploads from the web that never get lost.
//!
//! `core` is pure Rust (no web crates) and holds every decision: the task record, the state machine,
//! the retry policy, validation and the event model. `web`, `worker` and `calls` (the page's calls,
//! answered in the worker) are the thin browser layer, compiled only for `wasm32`. The page entry is
//! plain JavaScript (`worker/index.js`): a page downloads none of this.
#![deny(missing_docs)]

pub mod core;

/// The allocator: talc's WebAssembly one, smaller than Rust's default (dlmalloc) in the shipped wasm.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
pub mod bench;
mod calls;
#[cfg(target_arch = "wasm32")]
mod scheduler;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod worker;
mod worker_enqueue;
