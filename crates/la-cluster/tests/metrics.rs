//! Metrics against scikit-learn / scipy fixtures (scripts/make_fixtures.py) and by hand.

use la_cluster::{Error, accuracy, ari, clustering_accuracy, confusion_matrix, nmi, purity};
use serde_json::Value;

type Metric = fn(&[u32], &[u32]) -> la_cluster::Result<f64>;

fn labels(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn match_scikit_learn_on_random_labelings() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for (i, case) in cases.iter().enumerate() {
        let (t, p) = (labels(&case["truth"]), labels(&case["pred"]));
        let metrics: [(&str, Metric); 4] = [
            ("acc", clustering_accuracy),
            ("nmi", nmi),
            ("ari", ari),
            ("purity", purity),
        ];
        for (name, f) in metrics {
            let (got, expected) = (f(&t, &p).unwrap(), case[name].as_f64().unwrap());
            assert!(
                (got - expected).abs() <= 1e-9,
                "case {i}: {name} = {got}, scikit-learn {expected}"
            );
            // Every metric but purity is symmetric or defined on the transposed problem too.
            if name != "purity" {
                let swapped = f(&p, &t).unwrap();
                assert!(
                    (swapped - expected).abs() <= 1e-9,
                    "case {i}: {name} not symmetric"
                );
            }
        }
    }
}

#[test]
fn confusion_matrix_counts_pairs() {
    // Written out by hand: classes {1, 4}, clusters {0, 2, 9}.
    let m = confusion_matrix(&[1, 4, 4, 1, 4, 1], &[9, 0, 9, 9, 2, 9]).unwrap();
    assert_eq!(m.classes(), [1, 4]);
    assert_eq!(m.clusters(), [0, 2, 9]);
    assert_eq!(m.counts(), [0, 0, 3, 1, 1, 1]);
    assert_eq!(m.class_sizes(), [3, 3]);
    assert_eq!(m.cluster_sizes(), [1, 1, 4]);
    assert_eq!(m.n_samples(), 6);
}

#[test]
fn hand_computed_values() {
    // Perfect clustering with renamed clusters.
    let (t, p) = ([0, 0, 1, 1, 2], [7, 7, 3, 3, 5]);
    for f in [clustering_accuracy, nmi, ari, purity] {
        assert_eq!(f(&t, &p).unwrap(), 1.0);
    }
    // More clusters than classes: 3 of 5 samples can be matched one-to-one.
    assert_eq!(
        clustering_accuracy(&[0, 0, 0, 1, 1], &[0, 1, 2, 3, 3]).unwrap(),
        3.0 / 5.0
    );
    // More classes than clusters: one cluster per class at most.
    assert_eq!(
        clustering_accuracy(&[0, 1, 2, 3], &[0, 0, 1, 1]).unwrap(),
        0.5
    );
    assert_eq!(accuracy(&[0, 1, 2, 3], &[0, 0, 1, 3]).unwrap(), 0.5);
}

#[test]
fn bad_inputs_are_errors() {
    for f in [clustering_accuracy, nmi, ari, purity, accuracy] {
        assert!(matches!(
            f(&[0, 1], &[0]),
            Err(Error::LengthMismatch {
                left: 2,
                right: 1,
                ..
            })
        ));
        assert!(matches!(f(&[], &[]), Err(Error::NoSamples { .. })));
    }
    let e = nmi(&[0, 1, 2], &[1]).unwrap_err().to_string();
    assert!(
        e.contains("NMI") && e.contains('3') && e.contains('1'),
        "{e}"
    );
}
