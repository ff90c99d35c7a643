//! `shakedown-sut`: the demo system under test (filled in by the demo-target work).

fn main() {
    eprintln!("shakedown-sut: the demo target is not built yet");
    std::process::exit(2);
}
