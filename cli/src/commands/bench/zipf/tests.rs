//! Unit tests of `zipf`.

use super::*;

#[test]
fn uniform_covers_the_range() {
    let z = Zipf::new(10, 0.0);
    let mut rng = Rng::new(1);
    let mut seen = [0u32; 10];
    for _ in 0..10_000 {
        seen[z.sample(&mut rng) as usize] += 1;
    }
    assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
}

#[test]
fn skewed_favours_the_first_ids() {
    let n = 100_000;
    let z = Zipf::new(n, 1.5);
    let mut rng = Rng::new(7);
    let draws = 100_000;
    let mut zero = 0;
    for _ in 0..draws {
        let k = z.sample(&mut rng);
        assert!(k < n);
        zero += u32::from(k == 0);
    }
    // 1 / zeta(1.5) ≈ 0.383 (the tail past 100,000 is negligible).
    let p = f64::from(zero) / draws as f64;
    assert!((0.37..0.40).contains(&p), "P(0) = {p}");
}
