//! The thin browser layer: IndexedDB, fetch, messaging and the hand-written externs web-sys lacks.
//! It executes what `core` decides and never decides policy itself.

pub mod bgfetch;
pub mod externs;
pub mod js;
pub mod launch;
pub mod messaging;
pub mod request;
pub mod resumable;
pub mod s3;
pub mod store;
pub mod transport;
pub mod tus;
