//! The `retrograd` command line.

fn main() {
    println!("retrograd");
}
