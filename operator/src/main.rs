//! `tidewater-operator`: the operator binary.

fn main() {
    println!("tidewater-operator {}", env!("CARGO_PKG_VERSION"));
}
