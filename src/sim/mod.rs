//! `vswap-sim`'s library side (feature `sim`): scenario drivers around the facade that
//! print the kernel's figures beside the crate's. Today: the metadata footprint report.

pub mod footprint;
