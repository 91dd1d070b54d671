//! Reading real repositories made with the `git` command line (set-up
//! only; the code under test reads them with gix).

use std::{path::Path, process::Command};

use super::*;
use crate::bundle::{BundleError, BundleFiles};

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@pdp.invalid"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn write(&self, path: &str, text: &str) {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    fn commit(&self) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", "change"]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn source(&self, subdir: Option<&str>) -> GitSource {
        let config = GitSourceConfig {
            name: "repo".to_owned(),
            url: self.dir.path().display().to_string(),
            branch: None,
            tag: None,
            commit: None,
            subdir: subdir.map(str::to_owned),
            webhook: None,
            poll_interval_secs: 0,
            test_gate: false,
            signing: None,
        };
        GitSource::new(&config, Path::new("/nonexistent-cache")).unwrap()
    }
}

fn read(source: &mut GitSource, limits: &BundleLimits) -> Option<SourceRead> {
    source.read(limits, &AtomicBool::new(false)).unwrap()
}

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).unwrap()
}

fn paths(files: &Result<BundleFiles, BundleError>) -> Vec<String> {
    files
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| f.path.clone())
        .collect()
}

#[test]
fn reads_the_layout_and_then_only_what_changed() {
    let repo = Repo::new();
    repo.write("p/system/s.rego", "package multi_tenant.policy\n");
    repo.write("p/tenants/acme/a.rego", "package envoy.authz\n");
    repo.write("p/tenants/acme/README.md", "not read\n");
    repo.write("p/tenants/globex/g.rego", "package envoy.authz\n");
    repo.write("p/tenants/Not_A_Tenant/x.rego", "package x\n");
    let first = repo.commit();
    let mut source = repo.source(Some("p"));
    let limits = BundleLimits::default();

    let all = read(&mut source, &limits).unwrap();
    assert_eq!(all.commit.as_deref(), Some(first.as_str()));
    assert!(all.system_present && all.system.is_some());
    assert_eq!(all.updates.len(), 2);
    assert_eq!(paths(&all.updates[&tenant("acme")]), ["a.rego"]);
    assert_eq!(all.skipped.len(), 1, "{:?}", all.skipped);
    assert!(
        read(&mut source, &limits).is_none(),
        "same commit, nothing to do"
    );

    repo.write(
        "p/tenants/globex/g.rego",
        "package envoy.authz\nallow := true\n",
    );
    repo.write("elsewhere.txt", "outside the subdir\n");
    repo.commit();
    let next = read(&mut source, &limits).unwrap();
    assert!(
        next.system_present && next.system.is_none(),
        "system unchanged"
    );
    assert_eq!(next.present.len(), 2);
    assert_eq!(next.updates.keys().collect::<Vec<_>>(), [&tenant("globex")]);
}

#[test]
fn a_symlink_inside_the_bundle_is_followed_and_one_leaving_it_is_refused() {
    let repo = Repo::new();
    repo.write("system/s.rego", "package multi_tenant.policy\n");
    repo.write("tenants/acme/real/policy.rego", "package envoy.authz\n");
    repo.write("tenants/globex/g.rego", "package envoy.authz\n");
    std::os::unix::fs::symlink(
        "real/policy.rego",
        repo.dir.path().join("tenants/acme/link.rego"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../globex/g.rego",
        repo.dir.path().join("tenants/acme/real/escape.rego"),
    )
    .unwrap();
    repo.commit();

    let read = read(&mut repo.source(None), &BundleLimits::default()).unwrap();
    let err = read.updates[&tenant("acme")].as_ref().unwrap_err();
    assert!(
        err.to_string()
            .contains("symbolic link points outside the bundle"),
        "{err}"
    );

    std::fs::remove_file(repo.dir.path().join("tenants/acme/real/escape.rego")).unwrap();
    repo.commit();
    let mut source = repo.source(None);
    let read = super::tests::read(&mut source, &BundleLimits::default()).unwrap();
    let files = read.updates[&tenant("acme")].as_ref().unwrap();
    let link = files.iter().find(|f| f.path == "link.rego").unwrap();
    assert_eq!(link.bytes, b"package envoy.authz\n");
}

#[test]
fn submodules_in_a_bundle_are_refused() {
    let repo = Repo::new();
    repo.write("system/s.rego", "package multi_tenant.policy\n");
    repo.write("tenants/acme/a.rego", "package envoy.authz\n");
    let commit = repo.commit();
    let gitlink = format!("160000,{commit},tenants/acme/vendored");
    repo.git(&["update-index", "--add", "--cacheinfo", &gitlink]);
    repo.git(&["commit", "--quiet", "-m", "submodule"]);

    let read = read(&mut repo.source(None), &BundleLimits::default()).unwrap();
    let err = read.updates[&tenant("acme")].as_ref().unwrap_err();
    assert!(err.to_string().contains("submodules"), "{err}");
}

#[test]
fn limits_apply_to_git_trees() {
    let repo = Repo::new();
    repo.write("system/s.rego", "package multi_tenant.policy\n");
    repo.write("tenants/acme/big.rego", &"#".repeat(2000));
    for i in 0..5 {
        repo.write(&format!("tenants/many/f{i}.rego"), "package p\n");
    }
    repo.commit();
    let limits = BundleLimits {
        max_file_bytes: 1000,
        max_files: 3,
        ..BundleLimits::default()
    };
    let read = read(&mut repo.source(None), &limits).unwrap();
    assert!(matches!(
        read.updates[&tenant("acme")],
        Err(BundleError::FileTooLarge { .. })
    ));
    assert!(matches!(
        read.updates[&tenant("many")],
        Err(BundleError::TooManyFiles { .. })
    ));
}

#[test]
fn missing_refs_and_folders_are_source_errors() {
    let repo = Repo::new();
    repo.write("system/s.rego", "package multi_tenant.policy\n");
    repo.commit();
    let cancel = AtomicBool::new(false);
    let limits = BundleLimits::default();

    let err = repo
        .source(Some("no/such/folder"))
        .read(&limits, &cancel)
        .unwrap_err();
    assert!(matches!(err, GitError::NoSubdir { .. }), "{err}");

    let mut config = GitSourceConfig {
        name: "repo".to_owned(),
        url: repo.dir.path().display().to_string(),
        branch: None,
        tag: Some("v9".to_owned()),
        commit: None,
        subdir: None,
        webhook: None,
        poll_interval_secs: 0,
        test_gate: false,
        signing: None,
    };
    let err = GitSource::new(&config, Path::new("/x"))
        .unwrap()
        .read(&limits, &cancel)
        .unwrap_err();
    assert!(err.to_string().contains("tag `v9`"), "{err}");

    config.tag = None;
    config.url = "/nonexistent/repository".to_owned();
    let err = GitSource::new(&config, Path::new("/x"))
        .unwrap()
        .read(&limits, &cancel)
        .unwrap_err();
    assert!(matches!(err, GitError::Open { .. }), "{err}");
}
