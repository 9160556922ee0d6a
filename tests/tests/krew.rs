//! The krew manifest and archive, checked by krew's own rules (as validate-krew-manifest does),
//! then installed the way krew installs and found by the real kubectl's plugin discovery.

use extcluster_tests::{assert_contains, bins, repo_root};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn rendered(out: &Path) -> Value {
    let plugin = bins::workspace_bin("kubectl-extcluster").unwrap();
    let status = Command::new("bash")
        .arg(repo_root().join("hack/release.sh"))
        .arg("--bin")
        .arg(&plugin)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "hack/release.sh failed");
    let text = std::fs::read_to_string(out.join("extcluster.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn is_semver_with_v(v: &str) -> bool {
    v.strip_prefix('v')
        .is_some_and(|rest| semver::Version::parse(rest).is_ok())
}

/// krew's ValidatePlugin, for a manifest file named `extcluster.yaml`.
fn validate(m: &Value) -> Result<(), String> {
    let name = "extcluster";
    if m["apiVersion"] != "krew.googlecontainertools.github.com/v1alpha2" {
        return Err(format!("apiVersion {} is not supported", m["apiVersion"]));
    }
    if m["kind"] != "Plugin" {
        return Err("kind must be Plugin".into());
    }
    if m["metadata"]["name"] != name {
        return Err(format!(
            "plugin should be named {name:?}, not {}",
            m["metadata"]["name"]
        ));
    }
    let spec = &m["spec"];
    let short = spec["shortDescription"].as_str().unwrap_or_default();
    if short.is_empty() || short.contains(['\r', '\n']) {
        return Err("shortDescription must be one non-empty line".into());
    }
    if short.len() > 50 {
        return Err(format!(
            "shortDescription is {} characters; krew-index asks for at most 50",
            short.len()
        ));
    }
    if !spec["version"].as_str().is_some_and(is_semver_with_v) {
        return Err(format!(
            "version {} is not a v-prefixed semver",
            spec["version"]
        ));
    }
    if !spec["homepage"]
        .as_str()
        .is_some_and(|h| h.starts_with("https://"))
    {
        return Err("homepage must be https".into());
    }
    let platforms = spec["platforms"]
        .as_array()
        .filter(|p| !p.is_empty())
        .ok_or("no platforms")?;
    for p in platforms {
        if !p["uri"].as_str().is_some_and(|u| u.starts_with("https://")) {
            return Err(format!("uri {} is not https", p["uri"]));
        }
        let sha = p["sha256"].as_str().unwrap_or_default();
        if sha.len() != 64
            || !sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!("sha256 {sha:?} must match ^[a-f0-9]{{64}}$"));
        }
        if p["bin"].as_str().unwrap_or_default().is_empty() {
            return Err("bin has to be set".into());
        }
        if let Some(files) = p.get("files") {
            let files = files
                .as_array()
                .filter(|f| !f.is_empty())
                .ok_or("files must be unset or non-empty")?;
            if files.iter().any(|f| {
                f["from"].as_str().unwrap_or_default().is_empty()
                    || f["to"].as_str().unwrap_or_default().is_empty()
            }) {
                return Err("every file operation needs from and to".into());
            }
        }
        let labels = p["selector"]["matchLabels"]
            .as_object()
            .filter(|l| !l.is_empty())
            .ok_or("empty selector")?;
        if let Some(k) = labels.keys().find(|k| *k != "os" && *k != "arch") {
            return Err(format!("selector key {k:?} not supported"));
        }
    }
    // No two platforms may match the same os/arch (krew's overlap check).
    for os in ["linux", "darwin", "windows"] {
        for arch in ["amd64", "arm64", "386", "arm"] {
            let matching = platforms
                .iter()
                .filter(|p| {
                    let l = &p["selector"]["matchLabels"];
                    l.get("os").is_none_or(|v| v == os) && l.get("arch").is_none_or(|v| v == arch)
                })
                .count();
            if matching > 1 {
                return Err(format!("{matching} platforms match {os}/{arch}"));
            }
        }
    }
    Ok(())
}

#[test]
fn manifest_follows_krews_rules_and_the_archive_installs_and_runs_through_kubectl() {
    let dist = tempfile::tempdir().unwrap();
    let manifest = rendered(dist.path());
    validate(&manifest).unwrap_or_else(|e| panic!("krew would refuse the manifest: {e}"));
    let version = manifest["spec"]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        version,
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "the manifest's version is the crate's"
    );

    let platform = manifest["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["selector"]["matchLabels"]["os"] == "linux"
                && p["selector"]["matchLabels"]["arch"] == "amd64"
        })
        .expect("a linux/amd64 platform")
        .clone();
    let uri = platform["uri"].as_str().unwrap();
    let archive = dist.path().join(uri.rsplit('/').next().unwrap());
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains(&version),
        "archive named with the version"
    );
    let digest = Command::new("sha256sum").arg(&archive).output().unwrap();
    let digest = String::from_utf8(digest.stdout).unwrap();
    assert_eq!(
        digest.split_whitespace().next().unwrap(),
        platform["sha256"],
        "sha256 matches the archive"
    );

    // Install as krew does: unpack, apply `files`, link `bin` into a folder on PATH.
    let unpacked = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let install = tempfile::tempdir().unwrap();
    for f in platform["files"].as_array().unwrap() {
        let from = unpacked.path().join(f["from"].as_str().unwrap());
        let to = install
            .path()
            .join(f["to"].as_str().unwrap())
            .join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("file operation {f}: {e}"));
    }
    assert!(
        install.path().join("LICENSE").exists(),
        "LICENSE ships in the archive"
    );
    let bin = install.path().join(platform["bin"].as_str().unwrap());
    assert!(
        bin.exists(),
        "bin {} exists after the file operations",
        bin.display()
    );
    let path_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&bin, path_dir.path().join("kubectl-extcluster")).unwrap();

    let path = format!(
        "{}:{}",
        path_dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let run = |args: &[&str]| {
        let out = Command::new("kubectl")
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (_, listed) = run(&["plugin", "list"]);
    assert!(
        listed.contains(
            &path_dir
                .path()
                .join("kubectl-extcluster")
                .display()
                .to_string()
        ),
        "kubectl plugin list sees it:\n{listed}"
    );
    let (ok, version_out) = run(&["extcluster", "version"]);
    assert!(ok, "{version_out}");
    assert_contains(&version_out, env!("CARGO_PKG_VERSION"));
}

#[test]
fn the_rules_reject_what_krew_rejects() {
    let dist = tempfile::tempdir().unwrap();
    let good = rendered(dist.path());
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut m = good.clone();
        f(&mut m);
        validate(&m)
    };
    assert!(mutate(&|m| m["metadata"]["name"] = "other".into()).is_err());
    assert!(mutate(&|m| m["spec"]["version"] = "0.1.0".into()).is_err());
    assert!(mutate(&|m| m["spec"]["shortDescription"] = "two\nlines".into()).is_err());
    assert!(mutate(&|m| m["spec"]["platforms"][0]["sha256"] = "ABC".into()).is_err());
    assert!(
        mutate(&|m| m["spec"]["platforms"][0]["uri"] = "http://example.com/a.tar.gz".into())
            .is_err()
    );
    assert!(
        mutate(
            &|m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = "debian".into()
        )
        .is_err()
    );
    assert!(
        mutate(&|m| {
            let p = m["spec"]["platforms"][0].clone();
            m["spec"]["platforms"].as_array_mut().unwrap().push(p);
        })
        .is_err()
    );
    assert!(validate(&good).is_ok());
}
