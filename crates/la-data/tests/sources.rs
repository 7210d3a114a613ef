//! Data set sources: folder tree, CSV table of contents, IDX files, the bundled sample.

mod common;

use std::io::Write;

use la_data::{
    CsvSource, Decoder, FASHION_MNIST_CLASSES, FUNGI_COLUMNS, FolderSource, IdxSource, Selection,
};
use tempfile::TempDir;

use common::*;

#[test]
fn folder_tree_is_walked_recursively_in_path_order_with_first_level_labels() {
    let dir = TempDir::new().unwrap();
    write_png(dir.path(), "boletus/b2.png", &gradient(20, 20, 0));
    write_jpeg(dir.path(), "boletus/deep/er/b1.JPG", &gradient(30, 20, 1));
    write_png(dir.path(), "amanita/a1.png", &gradient(20, 24, 2));
    write_png(dir.path(), "loose.png", &gradient(20, 20, 3));
    write_png(dir.path(), ".hidden/x.png", &gradient(20, 20, 4));
    write_png(dir.path(), "amanita/.x.png", &gradient(20, 20, 4));
    write(dir.path(), "amanita/readme.txt", b"not an image");
    let dataset = FolderSource::new(dir.path()).build().unwrap();
    let names: Vec<String> = (0..dataset.len())
        .map(|i| dataset.name(i).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "amanita/a1.png",
            "boletus/b2.png",
            "boletus/deep/er/b1.JPG",
            "loose.png"
        ]
    );
    assert_eq!(dataset.class_names(), ["amanita", "boletus"]);
    assert_eq!(dataset.labels(), [Some(0), Some(1), Some(1), None]);
    assert!(!dataset.is_labelled());
    assert_eq!(
        dataset.path(2).unwrap(),
        dir.path().join("boletus/deep/er/b1.JPG")
    );
    assert!(dataset.skipped().is_empty());

    let unlabelled = FolderSource::new(dir.path()).labels(false).build().unwrap();
    assert!(unlabelled.class_names().is_empty());
    assert!(unlabelled.labels().iter().all(Option::is_none));
    let png_only = FolderSource::new(dir.path())
        .extensions(&["PNG"])
        .build()
        .unwrap();
    assert_eq!(png_only.len(), 3);
}

#[test]
fn folder_errors_name_the_folder() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nope");
    let err = FolderSource::new(&missing).build().unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let err = FolderSource::new(dir.path()).build().unwrap_err();
    assert!(matches!(err, la_data::Error::NoImages { .. }), "{err}");
}

/// Writes images and a fungi-layout CSV listing them; returns the CSV path.
fn fungi(dir: &std::path::Path) -> std::path::PathBuf {
    let rows = [
        ("Amanitaceae", "Amanita", "muscaria", "img/a1.png"),
        ("Boletaceae", "Boletus", "edulis", "img/b1.png"),
        ("Russulaceae", "Russula", "emetica", "img/r1.png"),
        ("Amanitaceae", "Amanita", "phalloides", "img/a2.png"),
        ("Boletaceae", "Leccinum", "scabrum", "img/l1.png"),
    ];
    let mut csv = FUNGI_COLUMNS.join(",") + "\n";
    for (k, (family, genus, species, image)) in rows.iter().enumerate() {
        write_png(dir, image, &gradient(24, 20, k as u32));
        csv += &format!(
            "Fungi,Basidiomycota,Agaricomycotina,Agaricomycetes,Agaricales,{family},{genus},{species},{k},{image}\n"
        );
    }
    write(dir, "toc.csv", csv.as_bytes())
}

#[test]
fn csv_fungi_layout_with_selection_and_label_column() {
    let dir = TempDir::new().unwrap();
    let csv = fungi(dir.path());
    let all = CsvSource::new(&csv).build().unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.class_names().is_empty());
    let dataset = CsvSource::new(&csv)
        .select(Selection::parse("Family=Amanitaceae,Boletaceae").unwrap())
        .label_column("Genus")
        .build()
        .unwrap();
    let names: Vec<String> = (0..dataset.len())
        .map(|i| dataset.name(i).unwrap())
        .collect();
    assert_eq!(
        names,
        ["img/a1.png", "img/b1.png", "img/a2.png", "img/l1.png"],
        "row order"
    );
    assert_eq!(dataset.class_names(), ["Amanita", "Boletus", "Leccinum"]);
    assert_eq!(dataset.labels(), [Some(0), Some(1), Some(0), Some(2)]);
    assert!(dataset.is_labelled());
    // Two selections must both match.
    let both = CsvSource::new(&csv)
        .select(Selection::parse("Family=Amanitaceae,Boletaceae").unwrap())
        .select(Selection::parse("Genus=Amanita,Russula").unwrap())
        .build()
        .unwrap();
    assert_eq!(both.len(), 2);
}

#[test]
fn csv_root_and_custom_columns() {
    let dir = TempDir::new().unwrap();
    write_png(dir.path(), "pics/x.png", &gradient(20, 20, 0));
    write_png(dir.path(), "pics/y.png", &gradient(20, 20, 1));
    let csv = write(
        dir.path(),
        "meta/list.tsv",
        b"file\tkind\nx.png\tcap\ny.png\t\n",
    );
    let dataset = CsvSource::new(&csv)
        .root(dir.path().join("pics"))
        .path_column("file")
        .label_column("kind")
        .delimiter(b'\t')
        .build()
        .unwrap();
    assert_eq!(dataset.len(), 2);
    assert_eq!(
        dataset.labels(),
        [Some(0), None],
        "an empty cell is no label"
    );
    assert_eq!(dataset.class_names(), ["cap"]);
}

fn idx_bytes(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(values);
    v
}

#[test]
fn idx_files_raw_and_gzipped_with_labels() {
    let dir = TempDir::new().unwrap();
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 251) as u8).collect();
    let images = idx_bytes(0x803, &[3, 28, 28], &pixels);
    let raw = write(dir.path(), "images-idx3-ubyte", &images);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&images).unwrap();
    let gz = write(dir.path(), "images-idx3-ubyte.gz", &gz.finish().unwrap());
    let labels = write(
        dir.path(),
        "labels-idx1-ubyte",
        &idx_bytes(0x801, &[3], &[2, 0, 2]),
    );
    for path in [raw, gz] {
        let dataset = IdxSource::new(&path).labels(&labels).build().unwrap();
        assert_eq!(dataset.len(), 3);
        assert_eq!(dataset.class_names(), ["0", "1", "2"]);
        assert_eq!(dataset.labels(), [Some(2), Some(0), Some(2)]);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(dataset.name(1).unwrap(), format!("{file}#1"));
        // Item 1 decodes to 32x32 RGB, the 28x28 pixels 2 from each border.
        let image = dataset.decode(1, &Decoder::default()).unwrap();
        assert_eq!(image.dimensions(), (32, 32));
        let at = |x: usize, y: usize| pixels[784 + y * 28 + x];
        assert_eq!(image.get_pixel(2 + 5, 2 + 3).0, [at(5, 3); 3]);
        assert_eq!(image.get_pixel(1, 1).0, [0; 3]);
    }
    let named = IdxSource::new(dir.path().join("images-idx3-ubyte"))
        .labels(&labels)
        .class_names(&["a", "b"])
        .build();
    assert!(matches!(
        named,
        Err(la_data::Error::LabelOutOfRange {
            item: 0,
            label: 2,
            ..
        })
    ));
    let first = IdxSource::new(dir.path().join("images-idx3-ubyte"))
        .limit(2)
        .build()
        .unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.labels().iter().all(Option::is_none));
}

#[test]
fn bundled_sample_is_the_start_of_the_fashion_mnist_test_split() {
    let sample = la_data::fashion_mnist_sample().unwrap();
    assert_eq!(sample.len(), 2000);
    assert_eq!(sample.class_names(), FASHION_MNIST_CLASSES);
    // Values computed with numpy from data/fashion-mnist-sample (see data/README.md).
    let first: Vec<usize> = (0..10).map(|i| sample.label(i).unwrap()).collect();
    assert_eq!(first, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mut counts = [0usize; 10];
    for label in sample.labels() {
        counts[label.unwrap()] += 1;
    }
    assert_eq!(counts, [200, 203, 214, 190, 219, 195, 197, 200, 194, 188]);
    let image = sample.decode(0, &Decoder::default()).unwrap();
    let sum: u32 = image.pixels().map(|p| u32::from(p[0])).sum();
    assert_eq!(sum, 33456);
    let row: Vec<u8> = (10..18)
        .map(|x| image.get_pixel(x + 2, 14 + 2)[0])
        .collect();
    assert_eq!(row, [0, 0, 98, 136, 110, 109, 110, 162]);
    assert!(la_data::data_dir().join("fashion-mnist-sample").is_dir());
}
