//! The batch loader: coverage, order, reproducibility, caching, bad files, tiling.

mod common;

use std::sync::Arc;

use candle_core::{Device, IndexOp, Tensor};
use la_data::{
    Augmentations, Batch, Dataset, Error, FolderSource, Grid, Loader, LoaderBuilder, Normalize,
    Pipeline, PipelineBuilder, Strictness, Verify,
};
use tempfile::TempDir;

use common::*;

fn sample() -> Arc<Dataset> {
    Arc::new(la_data::fashion_mnist_sample().unwrap())
}

fn eval(side: u32) -> Pipeline {
    PipelineBuilder::new().side(side).build().unwrap()
}

fn train(side: u32) -> Pipeline {
    PipelineBuilder::new()
        .side(side)
        .augment(&Augmentations {
            rotation: Some(10.0),
            ..Default::default()
        })
        .unwrap()
        .build()
        .unwrap()
}

fn collect(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(|b| b.unwrap()).collect()
}

fn concat(batches: &[Batch]) -> Tensor {
    let images: Vec<&Tensor> = batches.iter().map(|b| &b.images).collect();
    Tensor::cat(&images, 0).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn eval_epoch_is_every_item_in_order_normalised_from_the_raw_pixels() {
    let dataset = sample();
    let loader = LoaderBuilder::new()
        .batch_size(300)
        .build(dataset.clone(), eval(32))
        .unwrap();
    let batches = collect(&loader, 0);
    assert_eq!(batches.len(), 7);
    assert_eq!(loader.num_batches(), 7);
    assert_eq!(batches[6].len(), 200, "last batch kept, smaller");
    let indices: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(indices, (0..2000).collect::<Vec<_>>());
    let labels: Vec<Option<usize>> = batches.iter().flat_map(|b| b.labels.clone()).collect();
    assert_eq!(labels, dataset.labels());
    // Item 0, channel 1, pixel (x=14, y=16) is raw pixel (12, 14) of the 28x28 image, 98
    // (computed with numpy from the IDX file), normalised by hand.
    let v = batches[0]
        .images
        .i((0, 1, 16, 14))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((v - (98.0 / 255.0 - 0.456) / 0.224).abs() < 1e-6, "{v}");
    let border = batches[0]
        .images
        .i((0, 2, 0, 0))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((border - (0.0 - 0.406) / 0.225).abs() < 1e-6);
    let idx = batches[1]
        .indices_tensor(&Device::Cpu)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    assert_eq!(idx, (300..600).collect::<Vec<u32>>());
}

#[test]
fn shuffles_are_permutations_new_each_epoch_and_reproducible() {
    let mut builder = LoaderBuilder::new();
    builder.batch_size(64).shuffle(true).seed(11);
    let loader = builder.build(sample(), eval(32)).unwrap();
    let order = |e| -> Vec<usize> {
        collect(&loader, e)
            .iter()
            .flat_map(|b| b.indices.clone())
            .collect()
    };
    let (e0, e1) = (order(0), order(1));
    let mut sorted = e0.clone();
    sorted.sort();
    assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
    assert_ne!(e0, e1);
    assert_eq!(e0, order(0));
    assert_eq!(e0, loader.order(0));
    let other_seed = builder.seed(12).build(sample(), eval(32)).unwrap();
    assert_ne!(other_seed.order(0), e0);
}

#[test]
fn drop_last_leaves_out_the_incomplete_batch() {
    let loader = LoaderBuilder::new()
        .batch_size(300)
        .drop_last(true)
        .build(sample(), eval(32))
        .unwrap();
    let batches = collect(&loader, 0);
    assert_eq!((batches.len(), loader.num_batches()), (6, 6));
    assert!(batches.iter().all(|b| b.len() == 300));
}

#[test]
fn augmentations_reproduce_across_runs_threads_and_cache() {
    let dataset = sample();
    let run = |threads: usize, cache: bool, epoch: u64| {
        let loader = LoaderBuilder::new()
            .batch_size(100)
            .shuffle(true)
            .seed(5)
            .threads(threads)
            .cache(cache)
            .prefetch(1)
            .build(dataset.clone(), train(64))
            .unwrap();
        let batches: Vec<Batch> = loader.epoch(epoch).take(3).map(|b| b.unwrap()).collect();
        (concat(&batches), loader)
    };
    let (reference, loader) = run(1, false, 0);
    assert_eq!(reference.dims(), &[300, 3, 64, 64]);
    assert_eq!(
        max_diff(&reference, &run(3, false, 0).0),
        0.0,
        "thread count"
    );
    assert_eq!(max_diff(&reference, &run(2, true, 0).0), 0.0, "cache");
    assert!(
        max_diff(&reference, &run(2, false, 1).0) > 1.0,
        "a new epoch draws anew"
    );
    // The loader's image for an item is the pipeline's for the item's seed.
    let item = loader.order(0)[7];
    let image = loader
        .pipeline()
        .load(&dataset, item, loader.item_seed(0, item, 0))
        .unwrap();
    let expected = Normalize::IMAGENET
        .to_tensor(&[image], &Device::Cpu)
        .unwrap();
    assert_eq!(max_diff(&reference.i(7..8).unwrap(), &expected), 0.0);
}

#[test]
fn every_view_is_the_pipelines_image_for_its_own_seed() {
    let dataset = sample();
    let loader = LoaderBuilder::new()
        .batch_size(10)
        .views(2)
        .shuffle(true)
        .seed(9)
        .build(dataset.clone(), train(32))
        .unwrap();
    let batch = collect(&loader, 3).remove(0);
    assert_eq!((batch.len(), batch.views), (10, 2));
    assert_eq!(batch.images.dims(), &[20, 3, 32, 32]);
    assert_eq!(batch.indices, loader.order(3)[..10]);
    for (k, &item) in batch.indices.iter().enumerate() {
        for v in 0..2 {
            let image = loader
                .pipeline()
                .load(&dataset, item, loader.item_seed(3, item, v))
                .unwrap();
            let expected = Normalize::IMAGENET
                .to_tensor(&[image], &Device::Cpu)
                .unwrap();
            let got = batch.view(v).unwrap().i(k..k + 1).unwrap();
            assert_eq!(max_diff(&got, &expected), 0.0, "item {item}, view {v}");
        }
    }
    assert!(max_diff(&batch.view(0).unwrap(), &batch.view(1).unwrap()) > 1.0);
    // The first view is what a loader without views gives.
    let single = LoaderBuilder::new()
        .batch_size(10)
        .shuffle(true)
        .seed(9)
        .build(dataset, train(32))
        .unwrap();
    let first = collect(&single, 3).remove(0);
    assert_eq!(max_diff(&first.images, &batch.view(0).unwrap()), 0.0);
}

#[test]
fn train_images_differ_from_eval_images_but_keep_the_statistics_range() {
    let dataset = sample();
    let eval_batch = LoaderBuilder::new()
        .batch_size(256)
        .build(dataset.clone(), eval(32))
        .unwrap();
    let train_batch = LoaderBuilder::new()
        .batch_size(256)
        .build(dataset, train(32))
        .unwrap();
    let (e, t) = (
        collect(&eval_batch, 0).remove(0),
        collect(&train_batch, 0).remove(0),
    );
    assert_eq!(e.images.dims(), t.images.dims());
    assert!(max_diff(&e.images, &t.images) > 1.0);
    // Un-normalised, every value is a byte again.
    let images = Normalize::IMAGENET.to_images(&t.images).unwrap();
    assert_eq!(images.len(), 256);
    let back = Normalize::IMAGENET
        .to_tensor(&images, &Device::Cpu)
        .unwrap();
    assert!(max_diff(&back, &t.images) < 1e-5);
}

/// A folder of a truncated PNG (whose header is fine; item 0 in path order) and 5 good images.
fn folder_with_a_cut_png() -> (TempDir, Arc<Dataset>) {
    let dir = TempDir::new().unwrap();
    for k in 0..5 {
        write_png(dir.path(), &format!("ok{k}.png"), &gradient(48, 40, k));
    }
    let png = write_png(dir.path(), "cut.png", &gradient(64, 48, 9));
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    let dataset = FolderSource::new(dir.path())
        .verify(Verify::Header)
        .build()
        .unwrap();
    assert_eq!(
        dataset.len(),
        6,
        "the header check lets the cut PNG through"
    );
    (dir, Arc::new(dataset))
}

#[test]
fn lenient_loader_skips_a_bad_file_and_lists_it_once() {
    for views in [1, 2] {
        let (_dir, dataset) = folder_with_a_cut_png();
        let loader = LoaderBuilder::new()
            .batch_size(4)
            .views(views)
            .build(dataset, eval(32))
            .unwrap();
        for epoch in 0..2 {
            let batches = collect(&loader, epoch);
            let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
            assert_eq!(sizes, [3, 2], "epoch {epoch}");
            assert_eq!(batches[0].indices, [1, 2, 3]);
            // The good images moved up into the bad one's slot, each in its own place.
            let dataset = loader.dataset();
            let expected: Vec<_> = (1..4)
                .map(|i| loader.pipeline().load(dataset, i, 0).unwrap())
                .collect();
            let expected = Normalize::IMAGENET
                .to_tensor(&expected, &Device::Cpu)
                .unwrap();
            for v in 0..views {
                let got = batches[0].view(v).unwrap();
                assert_eq!(max_diff(&got, &expected), 0.0, "view {v} of {views}");
            }
        }
        let skipped = loader.skipped();
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].path.ends_with("cut.png"));
        assert!(!skipped[0].reason.is_empty());
    }
}

#[test]
fn strict_loader_stops_the_epoch_with_the_error() {
    let (_dir, dataset) = folder_with_a_cut_png();
    let loader = LoaderBuilder::new()
        .batch_size(4)
        .strictness(Strictness::Strict)
        .build(dataset, eval(32))
        .unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 1, "the error ends the epoch");
    let err = results[0].as_ref().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert!(err.to_string().contains("cut.png"), "{err}");
}

#[test]
fn grid_tiles_are_crops_of_the_prepared_image() {
    let grid = Grid::fit(64, 3, 32).unwrap();
    let tiled = Arc::new(la_data::fashion_mnist_sample().unwrap().with_grid(grid));
    assert_eq!(tiled.len(), 2000 * 9);
    let loader = LoaderBuilder::new()
        .batch_size(18)
        .build(tiled.clone(), eval(64))
        .unwrap();
    let batch = loader.epoch(0).next().unwrap().unwrap();
    assert_eq!(batch.images.dims(), &[18, 3, 32, 32]);
    let whole = LoaderBuilder::new()
        .batch_size(2)
        .build(sample(), eval(64))
        .unwrap()
        .epoch(0)
        .next()
        .unwrap()
        .unwrap();
    for item in [0usize, 4, 8, 13] {
        let (image, tile) = (item / 9, item % 9);
        let (x, y) = grid.origin(tile);
        let (x, y) = (x as usize, y as usize);
        let expected = whole.images.i((image, .., y..y + 32, x..x + 32)).unwrap();
        assert_eq!(
            max_diff(&batch.images.i(item).unwrap(), &expected),
            0.0,
            "item {item}"
        );
        assert_eq!(batch.labels[item], tiled.label(item));
    }
    let mismatch = LoaderBuilder::new().build(tiled, eval(96));
    assert!(matches!(
        mismatch,
        Err(Error::InvalidConfig {
            field: "image side",
            ..
        })
    ));
}

#[test]
fn dropping_an_epoch_early_stops_its_thread_and_configs_are_checked() {
    let loader = LoaderBuilder::new()
        .batch_size(10)
        .prefetch(0)
        .build(sample(), eval(32))
        .unwrap();
    let mut epoch = loader.epoch(0);
    assert_eq!(epoch.next().unwrap().unwrap().len(), 10);
    drop(epoch); // joins the worker; a hang here would time the test out
    assert!(
        LoaderBuilder::new()
            .batch_size(0)
            .build(sample(), eval(32))
            .is_err()
    );
    assert!(PipelineBuilder::new().side(100).build().is_err());
    assert!(PipelineBuilder::new().side(0).build().is_err());
}

/// A transform that breaks the size contract.
#[derive(Debug)]
struct Shrink;

impl la_data::Transform for Shrink {
    fn apply(
        &self,
        image: la_data::image::RgbImage,
        _: &mut dyn rand::RngCore,
    ) -> la_data::Result<la_data::image::RgbImage> {
        Ok(la_data::image::imageops::crop_imm(&image, 0, 0, 8, 8).to_image())
    }
}

#[test]
fn a_transform_that_changes_the_size_is_an_error_naming_the_sizes() {
    let pipeline = PipelineBuilder::new()
        .side(32)
        .transform(Arc::new(Shrink))
        .build()
        .unwrap();
    let loader = LoaderBuilder::new()
        .batch_size(4)
        .strictness(Strictness::Strict)
        .build(sample(), pipeline)
        .unwrap();
    let err = loader.epoch(0).next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImageSize {
                width: 8,
                height: 8,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("32x32"), "{err}");
}
