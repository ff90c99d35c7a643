//! Unit tests of the supervisor: the restart back-off.

use super::*;

#[test]
fn the_back_off_doubles_up_to_its_cap_and_starts_over_after_a_long_run() {
    let policy = RestartPolicy::default();
    let ms = Duration::from_millis;
    let mut planned = policy.initial_delay;
    let mut waits = Vec::new();
    for _ in 0..8 {
        let (delay, next) = policy.back_off(planned, ms(10));
        waits.push(delay.as_millis());
        planned = next;
    }
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    // A process that stayed up 10 s is restarted after 100 ms again.
    let (delay, next) = policy.back_off(planned, Duration::from_secs(10));
    assert_eq!((delay, next), (ms(100), ms(200)));
}
