//! Rolls: restarting nodes onto a new version or config without losing availability,
//! and the staged `metadata.version` finalize after a version upgrade. Pure decisions
//! only (the runtimes execute them): [`catalog`] (which versions exist), [`gate`]
//! (whether a node may restart now), [`upgrade`] (phases, finalize, refusals).

pub mod catalog;
pub mod gate;
pub mod upgrade;
