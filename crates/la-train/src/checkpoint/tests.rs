//! The commit protocol under injected failures: a save that fails, or dies, at any one of its
//! file operations leaves the old or the new checkpoint loadable, and the next save leaves
//! no temporary file.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::commit::{Disk, FileOps};
use super::*;

/// A checkpoint whose every value depends on `step`.
fn checkpoint(step: u64) -> Checkpoint {
    let dev = Device::Cpu;
    let run = RunInfo {
        epoch: step / 4,
        step_in_epoch: step % 4,
        global_step: step,
        seed: 5,
        config: serde_json::json!({ "lr": 0.03, "step": step }),
    };
    let mut c = Checkpoint::new(run);
    let w = Tensor::arange(0f32, 6., &dev)
        .unwrap()
        .reshape((2, 3))
        .unwrap();
    c.model
        .insert("w".into(), w.affine(1., step as f64).unwrap());
    c.optimizer
        .insert("w".into(), w.affine(0.5, -(step as f64)).unwrap());
    c.objective.insert(
        "memory_bank".into(),
        Tensor::new(&[[step as f32, 1.], [0., 2.]], &dev).unwrap(),
    );
    c
}

/// Every tensor by file name: its dimensions and values.
type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The tensors and the run: equal exactly when the checkpoints are.
fn contents(c: &Checkpoint) -> (Tensors, RunInfo) {
    let mut tensors: Vec<_> = c
        .named_tensors()
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let values = t.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
            (name, t.dims().to_vec(), values.to_vec1::<f32>().unwrap())
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    (tensors, c.run.clone())
}

fn load(dir: &Path) -> Result<Checkpoint> {
    Checkpoint::load(dir, NAME, &Device::Cpu)
}

const NAME: &str = "stage";

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Real file operations, except that operation `fail_at` (counting from 0) fails; with
/// `die`, so do all later ones (the process is gone: nothing cleans up), and a write that
/// fails leaves half its bytes behind, as a write cut short does.
struct Faulty {
    done: usize,
    fail_at: usize,
    die: bool,
}

impl Faulty {
    fn new(fail_at: usize, die: bool) -> Self {
        Faulty {
            done: 0,
            fail_at,
            die,
        }
    }

    /// Whether the next operation fails (counting it).
    fn fails(&mut self) -> bool {
        let i = self.done;
        self.done += 1;
        i == self.fail_at || (self.die && i > self.fail_at)
    }

    fn error(path: &Path) -> Error {
        Error::io(path)(std::io::Error::other("injected failure"))
    }
}

impl FileOps for Faulty {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        if self.fails() {
            if self.die {
                std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
            }
            return Err(Self::error(path));
        }
        Disk.write(path, bytes)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        if self.fails() {
            return Err(Self::error(to));
        }
        Disk.rename(from, to)
    }

    fn remove(&mut self, path: &Path) -> Result<()> {
        if self.fails() {
            return Err(Self::error(path));
        }
        Disk.remove(path)
    }

    fn sync_dir(&mut self, dir: &Path) -> Result<()> {
        if self.fails() {
            return Err(Self::error(dir));
        }
        Disk.sync_dir(dir)
    }
}

/// The directory states a save can start from, each holding checkpoint 1 as its committed
/// save (none for `Empty`).
#[derive(Debug, Clone, Copy)]
enum Start {
    Empty,
    /// Checkpoint 1 saved completely.
    Clean,
    /// Checkpoint 0 saved, then a save of checkpoint 1 that died after its commit (its
    /// tensors still in the temporary file).
    Pending,
    /// The earlier protocol's half-done save: checkpoint 1's tensors renamed, its sidecar
    /// still in the temporary file beside checkpoint 0's.
    Legacy,
    /// Checkpoint 1 saved, beside the complete temporary files of an uncommitted save of
    /// checkpoint 9.
    Stale,
}

fn prepare(dir: &Path, start: Start) {
    let files = commit::Files::new(dir, NAME);
    match start {
        Start::Empty => {}
        Start::Clean => checkpoint(1).save(dir, NAME).unwrap(),
        Start::Pending => {
            checkpoint(0).save(dir, NAME).unwrap();
            // Operations 0-4: two removals, two writes, the commit; it dies at the sync after.
            let err = checkpoint(1).save_with(dir, NAME, &mut Faulty::new(5, true));
            assert!(err.is_err());
            assert!(files.tensors_tmp.exists());
        }
        Start::Legacy => {
            let other = dir.join("other");
            std::fs::create_dir(&other).unwrap();
            checkpoint(0).save(dir, NAME).unwrap();
            checkpoint(1).save(&other, NAME).unwrap();
            let theirs = commit::Files::new(&other, NAME);
            std::fs::rename(&theirs.tensors, &files.tensors).unwrap();
            std::fs::rename(&theirs.sidecar, &files.sidecar_tmp).unwrap();
            std::fs::remove_dir(&other).unwrap();
        }
        Start::Stale => {
            checkpoint(1).save(dir, NAME).unwrap();
            let other = dir.join("other");
            std::fs::create_dir(&other).unwrap();
            checkpoint(9).save(&other, NAME).unwrap();
            let theirs = commit::Files::new(&other, NAME);
            std::fs::rename(&theirs.tensors, &files.tensors_tmp).unwrap();
            std::fs::rename(&theirs.sidecar, &files.sidecar_tmp).unwrap();
            std::fs::remove_dir(&other).unwrap();
        }
    }
    let loaded = load(dir);
    match start {
        Start::Empty => assert!(loaded.is_err()),
        _ => assert_eq!(contents(&loaded.unwrap()), contents(&checkpoint(1))),
    }
}

/// For every starting state and every operation of a save of checkpoint 2: the save fails
/// there (or the process dies there); the old or the new checkpoint loads, exactly; after a
/// failure (not a death) no temporary file is left; a later save of checkpoint 3 succeeds,
/// loads, and leaves only the two files.
fn fail_everywhere(die: bool) {
    let (old, new) = (contents(&checkpoint(1)), contents(&checkpoint(2)));
    for start in [
        Start::Empty,
        Start::Clean,
        Start::Pending,
        Start::Legacy,
        Start::Stale,
    ] {
        let (mut olds, mut news) = (0, 0);
        for fail_at in 0.. {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            prepare(dir, start);
            let case = format!("{start:?}, operation {fail_at} fails (die: {die})");
            if checkpoint(2)
                .save_with(dir, NAME, &mut Faulty::new(fail_at, die))
                .is_ok()
            {
                // Past the last operation: nothing failed.
                assert_eq!(contents(&load(dir).unwrap()), new, "{case}");
                assert!(fail_at >= 8, "{case}: a save has at least 8 operations");
                break;
            }
            match load(dir) {
                Ok(c) if contents(&c) == new => news += 1,
                Ok(c) if contents(&c) == old => olds += 1,
                Ok(c) => panic!("{case}: loaded neither: {:?}", c.run),
                Err(e) => {
                    assert!(matches!(start, Start::Empty), "{case}: {e}");
                    assert!(!dir.join(format!("{NAME}.json")).exists(), "{case}");
                    olds += 1;
                }
            }
            if !die {
                let names = listing(dir);
                assert!(
                    names.iter().all(|n| !n.ends_with(".tmp")),
                    "{case}: {names:?}"
                );
            }
            checkpoint(3).save(dir, NAME).unwrap();
            assert_eq!(
                contents(&load(dir).unwrap()),
                contents(&checkpoint(3)),
                "{case}"
            );
            assert_eq!(
                listing(dir),
                [format!("{NAME}.json"), format!("{NAME}.safetensors")],
                "{case}"
            );
        }
        assert!(olds > 0 && news > 0, "{start:?}: old {olds}, new {news}");
    }
}

#[test]
fn a_save_failing_at_any_operation_leaves_the_old_or_the_new_checkpoint() {
    fail_everywhere(false);
}

#[test]
fn a_save_dying_at_any_operation_leaves_the_old_or_the_new_checkpoint() {
    fail_everywhere(true);
}

#[test]
fn loading_changes_nothing_and_the_next_save_settles() {
    for start in [Start::Pending, Start::Legacy, Start::Stale] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        prepare(dir, start);
        let before: Vec<(String, Vec<u8>)> = listing(dir)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        load(dir).unwrap();
        let after: Vec<(String, Vec<u8>)> = listing(dir)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        assert!(before == after, "{start:?}: loading changed the directory");

        commit::settle(&commit::Files::new(dir, NAME), &mut Disk).unwrap();
        assert_eq!(
            listing(dir),
            [format!("{NAME}.json"), format!("{NAME}.safetensors")],
            "{start:?}"
        );
        assert_eq!(
            commit::committed(&commit::Files::new(dir, NAME)),
            commit::Committed::Complete
        );
        assert_eq!(contents(&load(dir).unwrap()), contents(&checkpoint(1)));
    }
}
