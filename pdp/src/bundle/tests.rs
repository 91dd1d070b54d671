use std::io::Write;

use regorus::Value;

use super::*;

fn file(path: &str, text: &str) -> BundleFile {
    BundleFile {
        path: path.to_owned(),
        bytes: text.as_bytes().to_vec(),
    }
}

fn bundle(files: Vec<BundleFile>) -> Result<Bundle, BundleError> {
    Bundle::from_files(&BundleFiles::from_files(files))
}

fn json(text: &str) -> Value {
    Value::from_json_str(text).unwrap()
}

#[test]
fn data_files_are_placed_at_their_folder_path() {
    let b = bundle(vec![
        file("data.json", r#"{"top": 1}"#),
        file("roles/data.json", r#"{"admin": ["GET"]}"#),
        file("roles/extra/data.yaml", "viewer:\n  - HEAD\n"),
        file("policy.rego", "package a\nallow := true\n"),
    ])
    .unwrap();
    assert_eq!(
        b.data,
        json(r#"{"top": 1, "roles": {"admin": ["GET"], "extra": {"viewer": ["HEAD"]}}}"#)
    );
    assert_eq!(b.modules.len(), 1);
    assert_eq!(b.modules[0].version, RegoVersion::V1);
}

#[test]
fn conflicting_data_files_are_refused() {
    let err = bundle(vec![
        file("data.json", r#"{"roles": 1}"#),
        file("roles/data.json", r#"{"admin": true}"#),
    ])
    .unwrap_err();
    assert!(matches!(err, BundleError::DataConflict { .. }), "{err}");
}

#[test]
fn root_data_file_must_be_an_object() {
    let err = bundle(vec![file("data.json", "[1]")]).unwrap_err();
    assert!(matches!(err, BundleError::Data { .. }));
}

#[test]
fn manifest_sets_revision_roots_and_rego_version() {
    let b = bundle(vec![
        file(
            ".manifest",
            r#"{"revision": "r7", "roots": ["acme"], "rego_version": 0,
                "file_rego_versions": {"v1/*.rego": 1}, "metadata": {"decision_path": "x/y"}}"#,
        ),
        file("old.rego", "package acme\nallow { true }\n"),
        file("v1/new.rego", "package acme.v1\nallow if true\n"),
        file("acme/data.json", r#"{"k": 1}"#),
    ])
    .unwrap();
    assert_eq!(b.revision(), "r7");
    assert_eq!(b.manifest.roots, ["acme"]);
    assert_eq!(b.modules[0].version, RegoVersion::V0);
    assert_eq!(b.modules[1].version, RegoVersion::V1);
    assert_eq!(b.manifest.metadata["decision_path"], "x/y");
}

#[test]
fn data_outside_roots_is_refused() {
    let err = bundle(vec![
        file(".manifest", r#"{"roots": ["acme"]}"#),
        file("other/data.json", r#"{"k": 1}"#),
    ])
    .unwrap_err();
    assert!(matches!(err, BundleError::DataOutsideRoots { .. }), "{err}");

    // A root-level file may only hold keys leading into a root.
    let err = bundle(vec![
        file(".manifest", r#"{"roots": ["acme/x"]}"#),
        file("data.json", r#"{"acme": {"x": 1, "y": 2}}"#),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"manifest roots ["acme/x"] do not permit data at path `/acme/y`"#
    );
}

#[test]
fn bad_manifests_are_refused_with_a_reason() {
    for (manifest, reason) in [
        (r#"{"rego_version": 2}"#, "must be 0 or 1"),
        (r#"{"roots": ["a", "a/b"]}"#, "overlap"),
        (r#"{"wasm": [{"entrypoint": "x"}]}"#, "wasm"),
        (r#"{"revision": 5}"#, "must be a string"),
        ("not json", "expected"),
    ] {
        let err = bundle(vec![file(".manifest", manifest)]).unwrap_err();
        assert!(err.to_string().contains(reason), "{manifest}: {err}");
    }
}

#[test]
fn non_utf8_rego_is_refused() {
    let err = bundle(vec![BundleFile {
        path: "p.rego".into(),
        bytes: vec![0x70, 0xff, 0xfe],
    }])
    .unwrap_err();
    assert_eq!(err.to_string(), "file `p.rego` is not valid UTF-8");
}

#[test]
fn directory_reading_skips_hidden_entries_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/data.json"), "{}").unwrap();
    std::fs::write(dir.path().join("README.md"), "x").unwrap();
    std::fs::write(dir.path().join("p.rego"), "package p\n").unwrap();
    std::fs::write(dir.path().join(".manifest"), "{}").unwrap();
    let files = BundleFiles::read(dir.path(), &BundleLimits::default()).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, [".manifest", "p.rego"]);
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_bundle_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.rego"), "package s\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.rego"),
        dir.path().join("p.rego"),
    )
    .unwrap();
    let err = BundleFiles::read(dir.path(), &BundleLimits::default()).unwrap_err();
    assert!(err.to_string().contains("outside the bundle"), "{err}");

    // A link that stays inside is followed.
    let inside = tempfile::tempdir().unwrap();
    std::fs::write(inside.path().join("real.rego"), "package r\n").unwrap();
    std::os::unix::fs::symlink(
        inside.path().join("real.rego"),
        inside.path().join("link.rego"),
    )
    .unwrap();
    let files = BundleFiles::read(inside.path(), &BundleLimits::default()).unwrap();
    assert_eq!(files.len(), 2);
}

#[test]
fn size_and_count_limits_are_enforced_for_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.rego"), "x".repeat(100)).unwrap();
    std::fs::write(dir.path().join("b.rego"), "x".repeat(100)).unwrap();
    let small_file = BundleLimits {
        max_file_bytes: 50,
        ..BundleLimits::default()
    };
    assert!(matches!(
        BundleFiles::read(dir.path(), &small_file),
        Err(BundleError::FileTooLarge { .. })
    ));
    let small_bundle = BundleLimits {
        max_bundle_bytes: 150,
        ..BundleLimits::default()
    };
    assert!(matches!(
        BundleFiles::read(dir.path(), &small_bundle),
        Err(BundleError::BundleTooLarge { .. })
    ));
    let few_files = BundleLimits {
        max_files: 1,
        ..BundleLimits::default()
    };
    assert!(matches!(
        BundleFiles::read(dir.path(), &few_files),
        Err(BundleError::TooManyFiles { .. })
    ));
}

/// Builds a gzipped tarball from raw headers, so that hostile entries can be
/// written exactly as an attacker would.
fn tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        {
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
        }
        if kind.is_symlink() {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn tarballs_in_opa_layout_are_read() {
    let bytes = tarball(&[
        (
            "/.manifest",
            tar::EntryType::Regular,
            br#"{"revision": "t1"}"#,
        ),
        (
            "/policy.rego",
            tar::EntryType::Regular,
            b"package p\nallow := true\n",
        ),
        ("./roles/data.json", tar::EntryType::Regular, br#"{"a": 1}"#),
        ("roles/", tar::EntryType::Directory, b""),
    ]);
    let files = BundleFiles::read_tarball_from(&bytes[..], &BundleLimits::default()).unwrap();
    let b = Bundle::from_files(&files).unwrap();
    assert_eq!(b.revision(), "t1");
    assert_eq!(b.data, json(r#"{"roles": {"a": 1}}"#));
}

#[test]
fn hostile_tar_entries_are_refused() {
    let cases: [(&str, tar::EntryType, &str); 3] = [
        ("../escape.rego", tar::EntryType::Regular, "climbs out"),
        ("a/../../x.rego", tar::EntryType::Regular, "climbs out"),
        (
            "link.rego",
            tar::EntryType::Symlink,
            "links are not allowed",
        ),
    ];
    for (path, kind, reason) in cases {
        let bytes = tarball(&[(path, kind, b"package x\n")]);
        let err = BundleFiles::read_tarball_from(&bytes[..], &BundleLimits::default()).unwrap_err();
        assert!(err.to_string().contains(reason), "{path}: {err}");
    }
}

#[test]
fn tarball_limits_bound_decompressed_size() {
    let big = vec![b' '; 10_000];
    let bytes = tarball(&[("p.rego", tar::EntryType::Regular, &big)]);
    let limits = BundleLimits {
        max_file_bytes: 1_000,
        ..BundleLimits::default()
    };
    assert!(matches!(
        BundleFiles::read_tarball_from(&bytes[..], &limits),
        Err(BundleError::FileTooLarge { .. })
    ));
}

#[test]
fn corrupt_tarballs_are_refused() {
    let err =
        BundleFiles::read_tarball_from(&b"not gzip"[..], &BundleLimits::default()).unwrap_err();
    assert!(matches!(err, BundleError::Archive { .. }));
}
