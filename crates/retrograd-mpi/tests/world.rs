//! The test launcher itself: two ranks see each other.

mod common;

use mpi::traits::*;
use std::time::Duration;

fn main() {
    if !common::ranks(2, Duration::from_secs(60)) {
        return;
    }
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    assert_eq!(world.size(), 2);
    let mut sum = 0i32;
    world.all_reduce_into(
        &(world.rank() + 1),
        &mut sum,
        mpi::collective::SystemOperation::sum(),
    );
    assert_eq!(sum, 3);
    println!("rank {} of {}: all-reduce ok", world.rank(), world.size());
}
