//! Data- and pipeline-parallel training over MPI.
//!
//! Not built by default: it links Open MPI (see the README's "Training over MPI").
//!
//! ```
//! let universe = mpi::initialize().expect("MPI initialises once per process");
//! let world = mpi::topology::Communicator::size(&universe.world());
//! assert!(world >= 1);
//! ```

mod error;
pub mod pipeline;

pub use error::{Error, Result};
