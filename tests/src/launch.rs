//! Where a workspace binary runs from: as `make build` left it in `target/debug`, or as the
//! entrypoint of an image `make image` built, inside the image's root filesystem as its user.

use crate::bins::workspace_bin;
use crate::image::Unpacked;
use crate::process::Supervised;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Default)]
pub enum Launch {
    #[default]
    Built,
    Image(Arc<Unpacked>),
}

impl Launch {
    /// A folder for the process's files (certificates, kubeconfig, log) that it can read.
    pub fn tempdir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        let builder = tempfile::Builder::new().prefix(prefix).clone();
        match self {
            Launch::Built => Ok(builder.tempdir()?),
            Launch::Image(image) => {
                let dir = builder.tempdir_in(image.rootfs())?;
                image.hand_over(dir.path())?;
                Ok(dir)
            }
        }
    }

    /// `path` as the process sees it.
    pub fn path_arg(&self, path: &Path) -> Result<String> {
        match self {
            Launch::Built => Ok(crate::path_str(path).to_owned()),
            Launch::Image(image) => image.inside(path),
        }
    }

    /// Makes a file the test wrote readable by the process.
    pub fn hand_over(&self, path: &Path) -> Result<()> {
        match self {
            Launch::Built => Ok(()),
            Launch::Image(image) => image.hand_over(path),
        }
    }

    /// The program and arguments that run binary `name` with `args`.
    pub fn command(&self, name: &str, args: &[String]) -> Result<(PathBuf, Vec<String>)> {
        match self {
            Launch::Built => Ok((workspace_bin(name)?, args.to_vec())),
            Launch::Image(image) => image.command(args),
        }
    }

    /// Starts binary `name` with `args` and `env` in the background, its output to `log`.
    pub fn spawn(
        &self,
        name: &str,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Supervised> {
        let (program, args) = self.command(name, args)?;
        Supervised::spawn_with_env(name, &program, &args, env, log)
    }

    /// Runs binary `name` with `args` to its end.
    pub fn output(&self, name: &str, args: &[String]) -> Result<std::process::Output> {
        let (program, args) = self.command(name, args)?;
        Ok(std::process::Command::new(program).args(args).output()?)
    }
}
