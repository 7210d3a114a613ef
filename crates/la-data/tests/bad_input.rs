//! Every kind of bad input named in issue 4, each test creating its own file: the error names
//! the path, lenient mode counts and lists the skip, strict mode fails. (Unusual but valid
//! images, such as CMYK or 16-bit, are in `decode.rs`.)

mod common;

use std::path::Path;

use image::RgbImage;
use la_data::{CsvSource, Decoder, Error, FolderSource, IdxSource, Selection, Strictness, Verify};
use tempfile::TempDir;

use common::*;

fn decode(path: &Path) -> Result<RgbImage, Error> {
    Decoder::default().decode(path)
}

fn assert_names(err: &Error, path: &Path) {
    assert_eq!(err.path(), Some(path), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn zero_byte_file() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "empty.jpg", b"");
    let err = decode(&path).unwrap_err();
    assert!(matches!(err, Error::EmptyFile { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn truncated_jpeg() {
    let dir = TempDir::new().unwrap();
    let full = jpeg_bytes(&gradient(64, 48, 0));
    let path = write(dir.path(), "cut.jpg", &full[..full.len() / 2]);
    let err = decode(&path).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn truncated_png() {
    let dir = TempDir::new().unwrap();
    let png = write_png(dir.path(), "full.png", &gradient(64, 48, 1));
    let full = std::fs::read(&png).unwrap();
    let path = write(dir.path(), "cut.png", &full[..full.len() / 2]);
    let err = decode(&path).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn text_file_named_jpg() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "notes.jpg", b"this is not an image\n");
    let err = decode(&path).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert_names(&err, &path);
}

#[test]
fn one_by_one_image_is_too_small() {
    let dir = TempDir::new().unwrap();
    let path = write_png(dir.path(), "pixel.png", &RgbImage::new(1, 1));
    let err = decode(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooSmall {
                width: 1,
                height: 1,
                min_side: 16,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path);
    // The limit is a setting.
    let tolerant = Decoder {
        min_side: 1,
        ..Decoder::default()
    };
    assert_eq!(tolerant.decode(&path).unwrap().dimensions(), (1, 1));
}

#[test]
fn huge_header_is_refused_with_its_size() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "bomb.png", &png_claiming(100_000, 100_000));
    for err in [
        decode(&path).unwrap_err(),
        Decoder::default().probe(&path).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    width: 100_000,
                    height: 100_000,
                    ..
                }
            ),
            "{err}"
        );
        assert_names(&err, &path);
    }
}

/// A folder with one good image and one of each bad kind.
fn messy_folder() -> TempDir {
    let dir = TempDir::new().unwrap();
    write_png(dir.path(), "good.png", &gradient(40, 30, 2));
    write(dir.path(), "empty.jpg", b"");
    write(dir.path(), "notes.jpg", b"hello");
    write_png(dir.path(), "pixel.png", &RgbImage::new(1, 1));
    write(dir.path(), "bomb.png", &png_claiming(100_000, 100_000));
    let full = jpeg_bytes(&gradient(64, 48, 0));
    write(dir.path(), "cut.jpg", &full[..full.len() / 2]);
    let png = write_png(dir.path(), "full.png", &gradient(64, 48, 1));
    let full = std::fs::read(&png).unwrap();
    std::fs::remove_file(png).unwrap();
    write(dir.path(), "cut.png", &full[..full.len() / 2]);
    dir
}

#[test]
fn folder_lenient_lists_every_skip_with_its_reason() {
    let dir = messy_folder();
    let header = FolderSource::new(dir.path()).build().unwrap();
    // The truncated files have readable headers: only a full decode finds them.
    assert_eq!(header.len(), 3);
    assert_eq!(header.skipped().len(), 4);
    let full = FolderSource::new(dir.path())
        .verify(Verify::Decode)
        .build()
        .unwrap();
    assert_eq!(full.len(), 1);
    assert_eq!(full.name(0).as_deref(), Some("good.png"));
    let mut reasons: Vec<(String, String)> = full
        .skipped()
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    reasons.sort();
    let names: Vec<&str> = reasons.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "bomb.png",
            "cut.jpg",
            "cut.png",
            "empty.jpg",
            "notes.jpg",
            "pixel.png"
        ]
    );
    assert!(reasons[0].1.contains("100000x100000"), "{}", reasons[0].1);
    assert!(reasons[1].1.contains("truncated"), "{}", reasons[1].1);
    assert!(reasons[3].1.contains("empty"), "{}", reasons[3].1);
    assert!(reasons[5].1.contains("1x1"), "{}", reasons[5].1);
    for s in full.skipped() {
        let text = s.to_string();
        assert!(text.starts_with("skipped "), "{s}");
        let path = s.path.display().to_string();
        assert_eq!(text.matches(path.as_str()).count(), 1, "path once: {s}");
    }
}

#[test]
fn folder_strict_fails_on_the_first_bad_file_in_order() {
    let dir = messy_folder();
    let err = FolderSource::new(dir.path())
        .strictness(Strictness::Strict)
        .build()
        .unwrap_err();
    // Sorted order: bomb.png comes first.
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("bomb.png"), "{err}");
}

/// A fungi-layout CSV whose second row names a missing image.
fn csv_with_missing_image(dir: &Path) -> std::path::PathBuf {
    write_png(dir, "img/a.png", &gradient(32, 32, 0));
    let csv = "Kingdom,Division,Subdivision,Class,Order,Family,Genus,Species,InstanceIndex,ImageName\n\
               Fungi,Basidiomycota,Agaricomycotina,Agaricomycetes,Agaricales,Amanitaceae,Amanita,muscaria,0,img/a.png\n\
               Fungi,Basidiomycota,Agaricomycotina,Agaricomycetes,Boletales,Boletaceae,Boletus,edulis,1,img/gone.png\n";
    write(dir, "toc.csv", csv.as_bytes())
}

#[test]
fn csv_row_whose_image_is_missing() {
    let dir = TempDir::new().unwrap();
    let csv = csv_with_missing_image(dir.path());
    let err = CsvSource::new(&csv)
        .strictness(Strictness::Strict)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::MissingImage { row: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("toc.csv") && text.contains("row 3") && text.contains("gone.png"),
        "{text}"
    );
    let lenient = CsvSource::new(&csv).build().unwrap();
    assert_eq!(lenient.len(), 1);
    assert_eq!(lenient.skipped().len(), 1);
    assert_eq!(lenient.skipped()[0].row, Some(3));
    assert!(lenient.skipped()[0].path.ends_with("img/gone.png"));
}

#[test]
fn csv_without_the_path_column() {
    let dir = TempDir::new().unwrap();
    let csv = write(dir.path(), "toc.csv", b"Genus,File\nAmanita,a.png\n");
    let err = CsvSource::new(&csv).build().unwrap_err();
    assert!(
        matches!(err, Error::MissingColumn { ref column, .. } if column == "ImageName"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("toc.csv") && text.contains("Genus,File"),
        "{text}"
    );
}

#[test]
fn selection_that_matches_nothing() {
    let dir = TempDir::new().unwrap();
    let csv = csv_with_missing_image(dir.path());
    let err = CsvSource::new(&csv)
        .select(Selection::parse("Family=Russulaceae").unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::EmptySelection { rows: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Family=Russulaceae"), "{err}");
    // A selection on a column that does not exist is a missing column, not an empty match.
    let err = CsvSource::new(&csv)
        .select(Selection::parse("Familia=Amanitaceae").unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingColumn {
                role: "selection",
                ..
            }
        ),
        "{err}"
    );
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
fn idx_with_a_wrong_magic_number() {
    let dir = TempDir::new().unwrap();
    // A label file passed as the image file.
    let path = write(dir.path(), "labels-idx1", &idx_bytes(0x801, &[2], &[0, 1]));
    let err = IdxSource::new(&path).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &path);
}

#[test]
fn idx_with_a_wrong_length() {
    let dir = TempDir::new().unwrap();
    let images = write(
        dir.path(),
        "images-idx3",
        &idx_bytes(0x803, &[2, 28, 28], &vec![7; 2 * 784 - 1]),
    );
    let err = IdxSource::new(&images).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxLength {
                expected: 1584,
                found: 1583,
                ..
            }
        ),
        "{err}"
    );
    assert_names(&err, &images);
    // Labels that disagree with the images in count.
    let images = write(
        dir.path(),
        "ok-idx3",
        &idx_bytes(0x803, &[2, 28, 28], &vec![7; 2 * 784]),
    );
    let labels = write(
        dir.path(),
        "labels-idx1",
        &idx_bytes(0x801, &[3], &[0, 1, 2]),
    );
    let err = IdxSource::new(&images).labels(&labels).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxCountMismatch {
                n_images: 2,
                n_labels: 3,
                ..
            }
        ),
        "{err}"
    );
}
