//! Concurrent decodes of a 96-megapixel photo wait for each other instead of
//! all allocating at once. This is the only test in its binary, so the
//! process's peak memory belongs to it alone.

mod common;

use common::fixture;
use segue_render::load_image;

/// Peak resident memory of this process in bytes, from /proc/self/status.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc is available");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM is reported");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn huge_decodes_share_the_budget() {
    let path = fixture("huge-12000x8000.jpg");
    let before = peak_rss_bytes();
    std::thread::scope(|scope| {
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let image = load_image(&path).expect("the huge fixture is accepted");
                    image.dimensions()
                })
            })
            .collect();
        for job in jobs {
            assert_eq!(job.join().unwrap(), (12000, 8000));
        }
    });
    let grown = peak_rss_bytes().saturating_sub(before);
    // One decoded copy is 288 MB. Four decodes at once would need over
    // 1.1 GB; one at a time, plus the copy the previous thread has not yet
    // dropped, stays near 600 MB.
    assert!(grown < 900_000_000, "peak memory grew by {} MB", grown / 1_000_000);
}
