//! Data- and pipeline-parallel training over MPI.
//!
//! Not built by default: it links Open MPI (see the README's "Training over MPI").
//!
//! ```
//! let universe = mpi::initialize().expect("MPI initialises once per process");
//! let world = mpi::topology::Communicator::size(&universe.world());
//! assert!(world >= 1);
//! ```

mod collective;
mod ddp;
mod error;
pub mod pipeline;

/// The `mpi` crate (rsmpi) this one is built on, for starting MPI and naming communicators.
pub use mpi;

pub use ddp::{abort_job, DdpOptions, DdpStats, DistributedDataParallel};
pub use error::{Error, Result};
