//! An image `make image` built, unpacked the way a container runtime unpacks one (skopeo to an OCI
//! layout, umoci to a root filesystem and a runtime config), and its entrypoint run inside that
//! root filesystem as the image's user: nothing of the build machine is visible to it.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Unpacked {
    dir: tempfile::TempDir,
    /// The archive's manifest digest, as skopeo reads it.
    pub digest: String,
    /// The image configuration's labels.
    pub labels: BTreeMap<String, String>,
    /// The runtime configuration umoci wrote (config.json of the bundle).
    pub runtime: serde_json::Value,
}

/// The archive `make image` wrote for `name` (`extcluster-webhook`, `extcluster-controller`).
pub fn archive(name: &str) -> Result<PathBuf> {
    let path = crate::bins::target_dir()
        .join("image")
        .join(format!("{name}.oci.tar"));
    if !path.exists() {
        bail!(
            "{} does not exist: build the images first with `make image` (`make test` does)",
            path.display()
        );
    }
    Ok(path)
}

fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The devices every OCI runtime gives a container (runtime-spec, "Default Devices"), as runc
/// makes them: character devices open to everyone.
fn default_devices(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    std::fs::create_dir_all(&dev)?;
    let devices = [
        ("null", "1", "3"),
        ("zero", "1", "5"),
        ("full", "1", "7"),
        ("random", "1", "8"),
        ("urandom", "1", "9"),
        ("tty", "5", "0"),
    ];
    for (name, major, minor) in devices {
        let path = dev.join(name);
        run(
            "mknod",
            &["-m", "0666", crate::path_str(&path), "c", major, minor],
        )?;
    }
    Ok(())
}

impl Unpacked {
    pub fn new(name: &str) -> Result<Self> {
        let archive = format!("oci-archive:{}", crate::path_str(&archive(name)?));
        let dir = tempfile::Builder::new().prefix("extc-image-").tempdir()?;
        // The runtime reaches the root filesystem through the folders above it, as the image's
        // user: they must be open to everyone, as a runtime's own are.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let layout = format!("{}:image", crate::path_str(&dir.path().join("layout")));
        let digest = run("skopeo", &["inspect", "--format", "{{.Digest}}", &archive])?;
        run(
            "skopeo",
            &["copy", "--quiet", &archive, &format!("oci:{layout}")],
        )?;
        let config: serde_json::Value = serde_json::from_str(&run(
            "skopeo",
            &["inspect", "--config", &format!("oci:{layout}")],
        )?)?;
        let labels = serde_json::from_value(config["config"]["Labels"].clone())
            .context("the image's labels")?;
        let bundle = dir.path().join("bundle");
        run(
            "umoci",
            &["unpack", "--image", &layout, crate::path_str(&bundle)],
        )?;
        let runtime = serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json"))?)?;
        default_devices(&bundle.join("rootfs"))?;
        Ok(Unpacked {
            dir,
            digest: digest.trim().to_owned(),
            labels,
            runtime,
        })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("bundle/rootfs")
    }

    /// Every entry the image put in the root filesystem (not the runtime's /dev), as paths
    /// inside it, sorted.
    pub fn files(&self) -> Result<Vec<String>> {
        let root = self.rootfs();
        let mut found = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path == root.join("dev") {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path.clone());
                }
                found.push(format!("/{}", path.strip_prefix(&root)?.display()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The user the image runs as: (uid, gid).
    pub fn user(&self) -> (u64, u64) {
        let user = &self.runtime["process"]["user"];
        (
            user["uid"].as_u64().unwrap_or(0),
            user["gid"].as_u64().unwrap_or(0),
        )
    }

    /// What the image runs: its entrypoint and default arguments.
    pub fn process_args(&self) -> Vec<String> {
        serde_json::from_value(self.runtime["process"]["args"].clone()).unwrap_or_default()
    }

    /// The program and leading arguments that run the entrypoint with `args` inside the root
    /// filesystem, as the image's user.
    pub fn command(&self, args: &[String]) -> Result<(PathBuf, Vec<String>)> {
        let entrypoint = self
            .process_args()
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("the image runs nothing: {}", self.runtime["process"]))?;
        let (uid, gid) = self.user();
        let mut all = vec![
            format!("--userspec={uid}:{gid}"),
            crate::path_str(&self.rootfs()).to_owned(),
            entrypoint,
        ];
        all.extend(args.iter().cloned());
        Ok((PathBuf::from("chroot"), all))
    }

    /// Gives `path` (inside the root filesystem) to the image's user, as a volume's files are.
    pub fn hand_over(&self, path: &Path) -> Result<()> {
        let (uid, gid) = self.user();
        std::os::unix::fs::chown(path, Some(uid as u32), Some(gid as u32))
            .with_context(|| format!("chown {}", path.display()))
    }

    /// Where the process sees `path`, a path inside the root filesystem.
    pub fn inside(&self, path: &Path) -> Result<String> {
        let rel = path
            .strip_prefix(self.rootfs())
            .map_err(|_| anyhow!("{} is outside the image's root filesystem", path.display()))?;
        Ok(format!("/{}", rel.display()))
    }
}
