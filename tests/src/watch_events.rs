//! Every event of a watch, as real kubectl reports them: what a test counts to show what never
//! happened (a delete, a write) while something else did.

use crate::ControlPlane;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `kubectl get -w --output-watch-events -o json`, every event written to a file.
pub struct Watching {
    child: Child,
    pub file: std::path::PathBuf,
}

impl Watching {
    pub fn start(hub: &ControlPlane, dir: &Path, what: &[&str]) -> Self {
        let file = dir.join(format!("{}.json", what.join("-")));
        let out = std::fs::File::create(&file).unwrap();
        let kubeconfig = hub.kubeconfig();
        let child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "-w", "--output-watch-events", "-o", "json"])
            .args(what)
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, file }
    }

    /// Every event so far: (type, object). What kubectl is still writing (an object cut short at
    /// the end) is left for later; anything else that does not parse fails the test.
    pub fn events(&self) -> Vec<(String, Value)> {
        let text = std::fs::read_to_string(&self.file).unwrap();
        let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
        let mut events = Vec::new();
        for next in stream.by_ref() {
            match next {
                Ok(e) => {
                    let kind = e["type"].as_str().unwrap_or("").to_owned();
                    // kubectl prints a chunked initial list (500 a page) as one event per page,
                    // the page a List: each item is an object of its own.
                    match e["object"]["items"].as_array() {
                        Some(items) => {
                            events.extend(items.iter().map(|o| (kind.clone(), o.clone())))
                        }
                        None => events.push((kind, e["object"].clone())),
                    }
                }
                Err(e) if e.is_eof() => break,
                Err(e) => {
                    let at = stream.byte_offset();
                    let context = &text[at.saturating_sub(200)..(at + 200).min(text.len())];
                    panic!(
                        "{}: {e} after {} events, near: {context}",
                        self.file.display(),
                        events.len()
                    );
                }
            }
        }
        events
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
