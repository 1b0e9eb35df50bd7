//! Reading the three layouts, and the errors for bad input. Fixtures are written here into
//! temp dirs: PNGs with the image crate, a truncated JPEG, IDX files assembled by hand.
use std::io::Write;
use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use task2vec_data::{DataError, Dataset, Format, LabelUse, OnBadImage};

fn write_png(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_pixel(4, 3, Luma([shade]))
        .save(path)
        .unwrap();
}

fn image_folder(root: &Path, classes: &[(&str, usize)]) {
    for (c, n) in classes {
        for k in 0..*n {
            write_png(&root.join(c).join(format!("{k:02}.png")), k as u8);
        }
    }
}

/// IDX bytes: magic `00 00 08 ndim`, big-endian u32 dims, data.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn image_folder_sorted_classes_and_nested_files() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path(), &[("zebra", 2), ("ant", 3)]);
    write_png(&dir.path().join("ant/deeper/x.png"), 9);
    std::fs::write(dir.path().join("ant/readme.txt"), "not an image").unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.format(), Format::ImageFolder);
    assert_eq!(ds.classes(), ["ant", "zebra"]);
    assert_eq!(ds.len(), 6);
    assert_eq!(
        ds.class_counts(),
        vec![("ant".to_string(), 4), ("zebra".to_string(), 2)]
    );
    assert_eq!(ds.labels(), vec![0, 0, 0, 0, 1, 1]);
    assert_eq!(ds.samples()[3].source.to_string(), "ant/deeper/x.png");
    let img = ds.load_image(4).unwrap();
    assert_eq!((img.width(), img.height()), (4, 3));
    ds.validate().unwrap();
}

#[test]
fn empty_class_folder_is_an_error_naming_the_class() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path(), &[("a", 2)]);
    std::fs::create_dir(dir.path().join("b")).unwrap();
    match Dataset::open(dir.path()) {
        Err(DataError::EmptyClass { class, .. }) => assert_eq!(class, "b"),
        other => panic!("expected EmptyClass, got {other:?}"),
    }
}

#[test]
fn single_class_fails_validation_but_serves_a_domain_embedding() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path(), &[("only", 3)]);
    let ds = Dataset::open(dir.path()).unwrap();
    assert!(matches!(
        ds.validate(),
        Err(DataError::TooFewClasses { found: 1, .. })
    ));
    ds.validate_for(LabelUse::Ignored).unwrap();
}

#[test]
fn flat_folder_needs_open_unlabeled() {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 1);
    write_png(&dir.path().join("b.png"), 2);
    let err = Dataset::open(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::NoClassFolders { .. }), "{err}");
    let ds = Dataset::open_unlabeled(dir.path()).unwrap();
    assert_eq!((ds.len(), ds.classes().len()), (2, 1));
    ds.validate_for(LabelUse::Ignored).unwrap();
    // A labelled dataset opened unlabeled keeps all images, one class.
    let labelled = tempfile::tempdir().unwrap();
    image_folder(labelled.path(), &[("a", 2), ("b", 1)]);
    let ds = Dataset::open_unlabeled(labelled.path()).unwrap();
    assert_eq!((ds.len(), ds.classes().len()), (3, 1));
}

#[test]
fn mixed_sizes_and_modes_decode_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rgb")).unwrap();
    std::fs::create_dir_all(dir.path().join("rgba")).unwrap();
    RgbImage::from_pixel(5, 7, Rgb([1, 2, 3]))
        .save(dir.path().join("rgb/a.jpg"))
        .unwrap();
    RgbaImage::from_pixel(2, 2, Rgba([1, 2, 3, 4]))
        .save(dir.path().join("rgba/b.png"))
        .unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    let a = ds.load_image(0).unwrap();
    let b = ds.load_image(1).unwrap();
    assert_eq!(
        (a.width(), a.height(), a.color()),
        (5, 7, image::ColorType::Rgb8)
    );
    assert_eq!(
        (b.width(), b.height(), b.color()),
        (2, 2, image::ColorType::Rgba8)
    );
}

#[test]
fn truncated_and_corrupt_images_fail_or_are_skipped_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path(), &[("a", 2), ("b", 2)]);
    // A real JPEG cut in half, and a file that is no image at all.
    let jpeg_path = dir.path().join("a/truncated.jpg");
    RgbImage::from_fn(64, 64, |x, y| Rgb([x as u8 * 4, y as u8 * 4, 7]))
        .save(&jpeg_path)
        .unwrap();
    let bytes = std::fs::read(&jpeg_path).unwrap();
    std::fs::write(&jpeg_path, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("b/garbage.png"), b"definitely not a png").unwrap();

    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.len(), 6);
    let bad_jpeg = (0..ds.len())
        .find(|&i| ds.sample_path(i).unwrap() == jpeg_path)
        .unwrap();
    match ds.load_image(bad_jpeg) {
        Err(DataError::BadImage { path, .. }) => assert_eq!(path, jpeg_path),
        other => panic!("expected BadImage, got {other:?}"),
    }
    let err = ds.scan_images(OnBadImage::Fail).unwrap_err();
    assert!(err.to_string().contains("truncated.jpg"), "{err}");

    let (clean, skipped) = ds.scan_images(OnBadImage::Skip).unwrap();
    assert_eq!(clean.len(), 4);
    let mut names: Vec<_> = skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["garbage.png", "truncated.jpg"]);
}

#[test]
fn csv_manifest_with_header_relative_paths_and_numeric_labels() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["x.png", "sub/y.png", "z.png"].iter().enumerate() {
        write_png(&dir.path().join(name), i as u8);
    }
    let csv = dir.path().join("train.csv");
    std::fs::write(&csv, "path,label\nx.png,10\nsub/y.png,2\n\nz.png,10\n").unwrap();
    let ds = Dataset::open(&csv).unwrap();
    assert_eq!(ds.format(), Format::CsvManifest);
    // Integer labels sort numerically, not as strings.
    assert_eq!(ds.classes(), ["2", "10"]);
    assert_eq!(ds.labels(), vec![1, 0, 1]);
    ds.load_image(1).unwrap();
}

#[test]
fn csv_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("x.png"), 0);
    let csv = dir.path().join("m.csv");

    std::fs::write(&csv, "x.png,cat\nx.png\n").unwrap();
    match Dataset::open(&csv) {
        Err(DataError::MalformedCsv { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected MalformedCsv, got {other:?}"),
    }
    std::fs::write(&csv, "x.png,cat\nx.png,dog\nmissing.png,dog\n").unwrap();
    match Dataset::open(&csv) {
        Err(DataError::MissingFile { line, file, .. }) => {
            assert_eq!(line, 3);
            assert!(file.ends_with("missing.png"));
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    std::fs::write(&csv, "x.png,cat,extra\n").unwrap();
    assert!(matches!(
        Dataset::open(&csv),
        Err(DataError::MalformedCsv { line: 1, .. })
    ));
    std::fs::write(&csv, "\"x.png,cat\n").unwrap();
    assert!(Dataset::open(&csv).is_err());
    std::fs::write(&csv, "path,label\n").unwrap();
    assert!(matches!(
        Dataset::open(&csv),
        Err(DataError::NoSamples { .. })
    ));
}

#[test]
fn idx_pair_plain_and_gzipped_with_class_names() {
    let dir = tempfile::tempdir().unwrap();
    // Three 2x3 images; image n has pixel value 10*n + position.
    let pixels: Vec<u8> = (0..3)
        .flat_map(|n| (0..6).map(move |p| 10 * n + p))
        .collect();
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        gz(&idx_bytes(&[3, 2, 3], &pixels)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_bytes(&[3], &[1, 0, 1]),
    )
    .unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.format(), Format::Idx);
    assert_eq!(ds.classes(), ["0", "1"]);
    assert_eq!(ds.labels(), vec![1, 0, 1]);
    let img = ds.load_image(2).unwrap().to_luma8();
    assert_eq!((img.width(), img.height()), (3, 2));
    // Row-major: row 1, column 0 is position 3.
    assert_eq!(img.get_pixel(0, 1).0, [23]);

    std::fs::write(dir.path().join("classes.txt"), "shoe\nshirt\n").unwrap();
    let named = Dataset::open(&dir.path().join("train-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(named.classes(), ["shoe", "shirt"]);
    assert_eq!(named.samples()[2].source.to_string(), "idx:2");

    std::fs::write(dir.path().join("classes.txt"), "only-one\n").unwrap();
    assert!(matches!(
        Dataset::open(dir.path()),
        Err(DataError::LabelWithoutName { label: 1, .. })
    ));
}

#[test]
fn idx_header_and_length_mismatches_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("t10k-images-idx3-ubyte");
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    // 2 images declared, data for 2 images, but 3 labels.
    std::fs::write(&images, idx_bytes(&[2, 1, 2], &[0, 1, 2, 3])).unwrap();
    std::fs::write(&labels, idx_bytes(&[3], &[0, 1, 0])).unwrap();
    match Dataset::open(&images) {
        Err(DataError::IdxLengthMismatch {
            n_images, n_labels, ..
        }) => assert_eq!((n_images, n_labels), (2, 3)),
        other => panic!("expected IdxLengthMismatch, got {other:?}"),
    }
    // Declared dimensions need 4 bytes, the file holds 3.
    std::fs::write(&labels, idx_bytes(&[2], &[0, 1])).unwrap();
    std::fs::write(&images, idx_bytes(&[2, 1, 2], &[0, 1, 2])).unwrap();
    let err = Dataset::open(&images).unwrap_err();
    assert!(matches!(err, DataError::MalformedIdx { .. }), "{err}");
    assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
    // Wrong magic, and float data.
    std::fs::write(&images, [1, 2, 3, 4, 5]).unwrap();
    assert!(matches!(
        Dataset::open(&images),
        Err(DataError::MalformedIdx { .. })
    ));
    let mut float = idx_bytes(&[1, 1, 1], &[0, 0, 0, 0]);
    float[2] = 0x0d;
    std::fs::write(&images, float).unwrap();
    assert!(
        Dataset::open(&images)
            .unwrap_err()
            .to_string()
            .contains("0x0d")
    );
    // Labels file missing altogether.
    std::fs::remove_file(&labels).unwrap();
    std::fs::write(&images, idx_bytes(&[2, 1, 2], &[0, 1, 2, 3])).unwrap();
    assert!(
        Dataset::open(&images)
            .unwrap_err()
            .to_string()
            .contains("labels file")
    );
}

#[test]
fn unknown_layouts_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "hello").unwrap();
    assert!(matches!(
        Dataset::open(&f),
        Err(DataError::UnknownFormat { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Dataset::open(empty.path()),
        Err(DataError::UnknownFormat { .. })
    ));
    assert!(matches!(
        Dataset::open(&dir.path().join("nope")),
        Err(DataError::Io { .. })
    ));
}
