//! Health you can see: component status derived from live traffic and probes, published for the status page.

pub mod alerts;
pub mod assets;
pub mod board;
pub mod derive;
pub mod events;
pub mod extras;
pub mod history;
pub mod maintenance;
pub mod page;
pub mod probe;
pub mod settings;
