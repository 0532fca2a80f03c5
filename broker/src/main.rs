//! `tidewater-broker`: the broker binary.

fn main() {
    println!("tidewater-broker {}", env!("CARGO_PKG_VERSION"));
}
