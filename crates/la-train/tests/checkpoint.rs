//! Checkpoints: round trip, crash safety, and errors that name the file and what is wrong.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use la_segnet::{Param, ParamGroup, Role};
use la_train::{Checkpoint, Clusterings, Error, RunInfo};

fn run(global_step: u64) -> RunInfo {
    RunInfo {
        epoch: 3,
        step_in_epoch: 5,
        global_step,
        seed: 42,
        config: serde_json::json!({"sgd": {"lr": 0.03}, "stage": "la"}),
    }
}

fn full(global_step: u64) -> Checkpoint {
    let dev = Device::Cpu;
    let mut c = Checkpoint::new(run(global_step));
    let w = Tensor::arange(0f32, 6., &dev)
        .unwrap()
        .reshape((2, 3))
        .unwrap();
    c.model.insert(
        "encoder.features.0.weight".into(),
        (w.clone() * global_step as f64).unwrap(),
    );
    c.model.insert(
        "encoder.features.1.running_mean".into(),
        Tensor::new(&[0.5f32, -1.], &dev).unwrap(),
    );
    c.optimizer
        .insert("encoder.features.0.weight".into(), (w * 0.1).unwrap());
    c.objective.insert(
        "memory_bank".into(),
        Tensor::new(&[[0.6f32, 0.8], [1., 0.], [0., 1.]], &dev).unwrap(),
    );
    let labels = Clusterings::new(vec![vec![0, 0, 1], vec![2, 1, 1]]).unwrap();
    c.objective
        .insert("cluster_labels".into(), labels.to_tensor(&dev).unwrap());
    c
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn assert_same(a: &Checkpoint, b: &Checkpoint) {
    assert_eq!(a.run, b.run);
    for (x, y) in [
        (&a.model, &b.model),
        (&a.optimizer, &b.optimizer),
        (&a.objective, &b.objective),
    ] {
        let mut kx: Vec<_> = x.keys().collect();
        let mut ky: Vec<_> = y.keys().collect();
        kx.sort();
        ky.sort();
        assert_eq!(kx, ky);
        for k in kx {
            assert_eq!(x[k].dims(), y[k].dims());
            assert_eq!(x[k].dtype(), y[k].dtype(), "{k}");
            let as_f32 = |t: &Tensor| values(&t.to_dtype(DType::F32).unwrap());
            assert_eq!(as_f32(&x[k]), as_f32(&y[k]), "{k}");
        }
    }
}

fn load(dir: &Path) -> la_train::Result<Checkpoint> {
    Checkpoint::load(dir, "last", &Device::Cpu)
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let c = full(7);
    c.save(dir.path(), "last").unwrap();
    assert_same(&c, &load(dir.path()).unwrap());
    // Saving again replaces both files.
    let c2 = full(8);
    c2.save(dir.path(), "last").unwrap();
    assert_same(&c2, &load(dir.path()).unwrap());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn stage_one_checkpoint_without_bank() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = full(1);
    c.objective.clear();
    c.save(dir.path(), "last").unwrap();
    let back = load(dir.path()).unwrap();
    assert!(back.objective.is_empty());
    assert_same(&c, &back);
}

#[test]
fn crash_mid_write_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let c = full(7);
    c.save(dir.path(), "last").unwrap();
    // A save that died while writing: truncated temporary files beside the checkpoint.
    let (st, js) = Checkpoint::paths(dir.path(), "last");
    let full_bytes = std::fs::read(&st).unwrap();
    std::fs::write(
        dir.path().join("last.safetensors.tmp"),
        &full_bytes[..full_bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(dir.path().join("last.json.tmp"), b"{\"format\": \"la-tr").unwrap();
    assert_same(&c, &load(dir.path()).unwrap());
    assert!(st.exists() && js.exists());
    // The next save overwrites the leftovers.
    let c2 = full(9);
    c2.save(dir.path(), "last").unwrap();
    assert_same(&c2, &load(dir.path()).unwrap());
    assert!(!dir.path().join("last.safetensors.tmp").exists());
}

/// The bytes of `c`'s two files (tensors, sidecar), saved elsewhere.
fn file_bytes(c: &Checkpoint) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path(), "x").unwrap();
    let (st, js) = Checkpoint::paths(dir.path(), "x");
    (std::fs::read(st).unwrap(), std::fs::read(js).unwrap())
}

/// Writes `files` (name, bytes) into `dir`.
fn put(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// After the leftovers of a killed save, `expected` loads; the next save of another
/// checkpoint leaves only its two files.
fn loads_then_settles(dir: &Path, expected: &Checkpoint) {
    assert_same(expected, &load(dir).unwrap());
    let next = full(20);
    next.save(dir, "last").unwrap();
    assert_same(&next, &load(dir).unwrap());
    assert_eq!(listing(dir), ["last.json", "last.safetensors"]);
}

#[test]
fn a_save_killed_after_its_commit_loads_from_the_temporary_tensors() {
    let (old, new) = (full(7), full(8));
    let (new_st, new_js) = file_bytes(&new);
    let dir = tempfile::tempdir().unwrap();
    old.save(dir.path(), "last").unwrap();
    // The new sidecar renamed into place, the new tensors not yet.
    put(
        dir.path(),
        &[("last.json", &new_js), ("last.safetensors.tmp", &new_st)],
    );
    loads_then_settles(dir.path(), &new);

    // The same on the very first save: no tensor file yet.
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        &[("last.json", &new_js), ("last.safetensors.tmp", &new_st)],
    );
    loads_then_settles(dir.path(), &new);
}

#[test]
fn complete_temporary_files_of_an_uncommitted_save_are_ignored() {
    let (old, new) = (full(7), full(8));
    let (new_st, new_js) = file_bytes(&new);
    // The new tensors written, the new sidecar not; then the reverse; then both.
    let leftovers: [&[(&str, &[u8])]; 3] = [
        &[("last.safetensors.tmp", &new_st)],
        &[("last.json.tmp", &new_js)],
        &[
            ("last.safetensors.tmp", &new_st),
            ("last.json.tmp", &new_js),
        ],
    ];
    for files in leftovers {
        let dir = tempfile::tempdir().unwrap();
        old.save(dir.path(), "last").unwrap();
        put(dir.path(), files);
        loads_then_settles(dir.path(), &old);
    }
}

#[test]
fn a_save_of_the_earlier_protocol_killed_between_its_renames_loads() {
    // Tensors were renamed first: the new tensors beside the old sidecar, the new sidecar
    // complete in its temporary file. Before, resuming refused ("save id ... differs").
    let (old, new) = (full(7), full(8));
    let (new_st, new_js) = file_bytes(&new);
    let dir = tempfile::tempdir().unwrap();
    old.save(dir.path(), "last").unwrap();
    put(
        dir.path(),
        &[("last.safetensors", &new_st), ("last.json.tmp", &new_js)],
    );
    loads_then_settles(dir.path(), &new);
}

#[test]
fn non_finite_values_refuse_to_load_naming_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = full(4);
    c.model.insert(
        "encoder.features.0.weight".into(),
        Tensor::new(
            &[[1f32, f32::NAN, 2.], [f32::INFINITY, 0., f32::NAN]],
            &Device::Cpu,
        )
        .unwrap(),
    );
    c.objective.insert(
        "memory_bank".into(),
        Tensor::new(
            &[[0.6f32, f32::NEG_INFINITY], [1., 0.], [0., 1.]],
            &Device::Cpu,
        )
        .unwrap(),
    );
    c.save(dir.path(), "last").unwrap();
    match load(dir.path()) {
        Err(Error::Checkpoint { path, problem }) => {
            assert!(path.ends_with("last.safetensors"), "{}", path.display());
            assert!(
                problem.contains(
                    "model.encoder.features.0.weight (2 NaN, 1 infinite), \
                     objective.memory_bank (0 NaN, 1 infinite)"
                ),
                "{problem}"
            );
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[test]
fn files_from_different_saves_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    full(7).save(dir.path(), "a").unwrap();
    full(8).save(dir.path(), "b").unwrap();
    // Pair a's tensors with b's sidecar, as a crash between the two renames would.
    std::fs::copy(dir.path().join("b.json"), dir.path().join("a.json")).unwrap();
    let err = Checkpoint::load(dir.path(), "a", &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("a.safetensors") && msg.contains("save id"),
        "{msg}"
    );
    assert!(msg.contains("a.json"), "{msg}");
}

#[test]
fn missing_sidecar_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    full(1).save(dir.path(), "last").unwrap();
    std::fs::remove_file(dir.path().join("last.json")).unwrap();
    match load(dir.path()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("last.json")),
        other => panic!("expected an I/O error naming last.json, got {other:?}"),
    }
}

#[test]
fn corrupt_sidecar_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    full(1).save(dir.path(), "last").unwrap();
    let js = dir.path().join("last.json");
    let mut sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&js).unwrap()).unwrap();
    sidecar["run"].as_object_mut().unwrap().remove("epoch");
    std::fs::write(&js, serde_json::to_string(&sidecar).unwrap()).unwrap();
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("last.json") && msg.contains("missing field `epoch`"),
        "{msg}"
    );

    std::fs::write(&js, b"{ not json").unwrap();
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("last.json") && msg.contains("invalid sidecar JSON"),
        "{msg}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    full(1).save(dir.path(), "last").unwrap();
    let js = dir.path().join("last.json");
    let mut sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&js).unwrap()).unwrap();
    sidecar["tensors"]
        .as_array_mut()
        .unwrap()
        .push("model.decoder.extra".into());
    std::fs::write(&js, serde_json::to_string(&sidecar).unwrap()).unwrap();
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("last.safetensors") && msg.contains("missing tensor model.decoder.extra"),
        "{msg}"
    );
}

#[test]
fn corrupt_tensor_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    full(1).save(dir.path(), "last").unwrap();
    let st = dir.path().join("last.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() - 4]).unwrap();
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("last.safetensors") && msg.contains("not a readable safetensors"),
        "{msg}"
    );
}

fn params() -> (Var, Vec<Param>) {
    let w = Var::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
    let m = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let p = |name: &str, var: &Var, role| Param {
        name: name.into(),
        var: var.clone(),
        group: ParamGroup::Encoder,
        role,
    };
    let ps = vec![
        p("encoder.features.0.weight", &w, Role::Weight),
        p("encoder.features.1.running_mean", &m, Role::RunningMean),
    ];
    (w, ps)
}

#[test]
fn restore_model_sets_every_variable_or_none() {
    let c = full(2);
    let (w, ps) = params();
    c.restore_model(&ps).unwrap();
    assert_eq!(values(w.as_tensor()), [0., 2., 4., 6., 8., 10.]);
    assert_eq!(values(ps[1].var.as_tensor()), [0.5, -1.]);

    let mut bad = full(3);
    bad.model.remove("encoder.features.1.running_mean");
    bad.model.insert(
        "head.weight".into(),
        Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
    );
    let msg = bad.restore_model(&ps).unwrap_err().to_string();
    assert!(
        msg.contains("missing encoder.features.1.running_mean"),
        "{msg}"
    );
    assert!(msg.contains("unexpected head.weight"), "{msg}");
    assert_eq!(
        values(w.as_tensor()),
        [0., 2., 4., 6., 8., 10.],
        "nothing set"
    );

    let mut reshaped = full(3);
    reshaped.model.insert(
        "encoder.features.0.weight".into(),
        Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap(),
    );
    let msg = reshaped.restore_model(&ps).unwrap_err().to_string();
    assert!(msg.contains("has shape [3, 2], expected [2, 3]"), "{msg}");
}
