//! Learning-rate schedules against hand-computed values.

use la_train::{Error, LrSchedule, Progress};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

fn epochs(s: &LrSchedule, base: f64, range: std::ops::Range<usize>) -> Vec<f64> {
    range.map(|e| s.lr(base, Progress::epoch(e))).collect()
}

#[test]
fn constant() {
    assert_eq!(epochs(&LrSchedule::Constant, 0.03, 0..3), [0.03; 3]);
    assert_eq!(LrSchedule::default(), LrSchedule::Constant);
}

#[test]
fn step_decays_every_step_size_epochs() {
    let s = LrSchedule::Step {
        step_size: 2,
        gamma: 0.1,
    };
    let got = epochs(&s, 1.0, 0..7);
    let want = [1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001];
    assert!(got.iter().zip(want).all(|(g, w)| close(*g, w)), "{got:?}");
    // The step within the epoch does not matter.
    let mid = Progress {
        epoch: 3,
        step_in_epoch: 7,
        steps_per_epoch: 10,
    };
    assert!(close(s.lr(1.0, mid), 0.1));
}

#[test]
fn multi_step_decays_at_each_milestone() {
    let s = LrSchedule::MultiStep {
        milestones: vec![2, 5],
        gamma: 0.5,
    };
    // As torch's MultiStepLR: the decay takes effect at the milestone epoch itself.
    let got = epochs(&s, 0.4, 0..7);
    assert_eq!(got, [0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1]);
}

#[test]
fn warmup_cosine_by_hand() {
    let s = LrSchedule::WarmupCosine {
        warmup_epochs: 1,
        total_epochs: 3,
        min_lr: 0.1,
    };
    let at = |epoch, step| Progress {
        epoch,
        step_in_epoch: step,
        steps_per_epoch: 4,
    };
    // Warm-up over 4 steps: base * (s + 1) / 4.
    let warm: Vec<f64> = (0..4).map(|i| s.lr(1.0, at(0, i))).collect();
    assert_eq!(warm, [0.25, 0.5, 0.75, 1.0]);
    // Then the cosine over the remaining 8 steps: p = (s - 4) / 8.
    // s = 4: p = 0 -> 1; s = 6: p = 1/4 -> 0.1 + 0.9 * (1 + cos(pi/4)) / 2;
    // s = 8: p = 1/2 -> 0.1 + 0.45 = 0.55; s = 12 and later: min_lr.
    assert!(close(s.lr(1.0, at(1, 0)), 1.0));
    let quarter = 0.1 + 0.9 * (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
    assert!(close(s.lr(1.0, at(1, 2)), quarter));
    assert!(close(s.lr(1.0, at(2, 0)), 0.55));
    assert!(close(s.lr(1.0, at(3, 0)), 0.1));
    assert!(close(s.lr(1.0, at(9, 3)), 0.1));
}

#[test]
fn warmup_cosine_without_warmup_starts_at_base() {
    let s = LrSchedule::WarmupCosine {
        warmup_epochs: 0,
        total_epochs: 2,
        min_lr: 0.0,
    };
    assert!(close(s.lr(0.2, Progress::epoch(0)), 0.2));
    assert!(close(s.lr(0.2, Progress::epoch(1)), 0.1));
    assert!(close(s.lr(0.2, Progress::epoch(2)), 0.0));
}

#[test]
fn serde_uses_a_kind_tag() {
    let s: LrSchedule =
        serde_json::from_str(r#"{"kind": "multi_step", "milestones": [160, 190], "gamma": 0.1}"#)
            .unwrap();
    assert_eq!(
        s,
        LrSchedule::MultiStep {
            milestones: vec![160, 190],
            gamma: 0.1
        }
    );
    let text = serde_json::to_string(&LrSchedule::Step {
        step_size: 3,
        gamma: 0.5,
    })
    .unwrap();
    assert_eq!(text, r#"{"kind":"step","step_size":3,"gamma":0.5}"#);
    assert!(serde_json::from_str::<LrSchedule>(r#"{"kind": "step", "step": 3}"#).is_err());
}

#[test]
fn invalid_schedules_name_the_field() {
    let cases = [
        (
            LrSchedule::Step {
                step_size: 0,
                gamma: 0.1,
            },
            "schedule.step_size",
        ),
        (
            LrSchedule::Step {
                step_size: 1,
                gamma: 0.0,
            },
            "schedule.gamma",
        ),
        (
            LrSchedule::MultiStep {
                milestones: vec![5, 5],
                gamma: 0.1,
            },
            "schedule.milestones",
        ),
        (
            LrSchedule::WarmupCosine {
                warmup_epochs: 3,
                total_epochs: 3,
                min_lr: 0.0,
            },
            "schedule.total_epochs",
        ),
        (
            LrSchedule::WarmupCosine {
                warmup_epochs: 0,
                total_epochs: 3,
                min_lr: -1.0,
            },
            "schedule.min_lr",
        ),
    ];
    for (s, field) in cases {
        match s.check() {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a config error for {field}, got {other:?}"),
        }
    }
    assert!(
        LrSchedule::MultiStep {
            milestones: vec![1, 4],
            gamma: 0.1
        }
        .check()
        .is_ok()
    );
}
