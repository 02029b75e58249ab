//! The words every other renkei crate speaks: tenant codes, the two boxes,
//! name patterns, schedules, Asia/Tokyo time, sizes and durations, and the
//! names of the working files a hand-off leaves in a destination.
//!
//! This crate is the bottom of the graph (docs/decisions/0008-crate-graph.md):
//! it does no I/O and depends on no other renkei crate, so the
//! configuration, storage, the core and every front door can share one
//! meaning of each word without depending on each other.

pub mod boxes;
pub mod event_names;
pub mod lgcode;
pub mod pattern;
pub mod placement;
pub mod scanner;
pub mod schedule;
pub mod time;
pub mod units;
