//! What the single-file converters (LTX-Video's `ltx::single_file`, LTX-2's
//! `ltx2::single_file`) share: diffusers' renaming loop reproduced exactly,
//! and writing a component's tensors straight from the memory-mapped source.
//!
//! diffusers' converters rename with `for key in list(d): new = key; for a, b
//! in table: new = new.replace(a, b); d[new] = d.pop(key)` over a Python
//! dict, so the order of the names and of the tables matters when two names
//! collide; [`PyDict`] keeps that order, so even colliding names end as they
//! do in diffusers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use safetensors::tensor::TensorView;

/// One component's renaming: (original name, diffusers name), in the order
/// of the converted dict.
pub type Renames = Vec<(String, String)>;

/// Python's `dict.update` on an ordered table: a key already there keeps
/// its position and takes the new value; a new key goes at the end.
pub(crate) fn py_update<'a>(
    table: &mut Vec<(&'a str, &'a str)>,
    entries: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
) {
    for &(key, value) in entries {
        match table.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = value,
            None => table.push((key, value)),
        }
    }
}

/// A Python dict from current name to original name: insertion-ordered,
/// an existing key keeps its slot when assigned, a popped key's slot empties.
pub(crate) struct PyDict {
    slots: Vec<Option<(String, String)>>,
    index: HashMap<String, usize>,
}

impl PyDict {
    /// Each name mapped to itself, in the given order.
    pub(crate) fn from_names<'a>(names: impl Iterator<Item = &'a &'a str>) -> Self {
        Self::from_pairs(names.map(|name| (name.to_string(), name.to_string())))
    }

    /// (current name, original name) pairs, in the given order.
    pub(crate) fn from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Self {
        let mut dict = Self {
            slots: Vec::new(),
            index: HashMap::new(),
        };
        for (key, original) in pairs {
            dict.insert(key, original);
        }
        dict
    }

    pub(crate) fn keys(&self) -> Vec<String> {
        self.slots
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub(crate) fn insert(&mut self, key: String, value: String) {
        match self.index.get(&key) {
            Some(&slot) => self.slots[slot] = Some((key, value)),
            None => {
                self.index.insert(key.clone(), self.slots.len());
                self.slots.push(Some((key, value)));
            }
        }
    }

    pub(crate) fn pop(&mut self, key: &str) -> Option<String> {
        let slot = self.index.remove(key)?;
        self.slots[slot].take().map(|(_, value)| value)
    }

    /// `for key in list(d): new = key; for a, b in table: new = new.replace(a, b);
    /// d[new] = d.pop(key)`.
    pub(crate) fn rename_all(&mut self, table: &[(&str, &str)]) {
        for key in self.keys() {
            let new = table
                .iter()
                .fold(key.clone(), |name, (from, to)| name.replace(from, to));
            if let Some(value) = self.pop(&key) {
                self.insert(new, value);
            }
        }
    }

    /// (original name, diffusers name) in the dict's order.
    pub(crate) fn into_renames(self) -> Renames {
        self.slots
            .into_iter()
            .flatten()
            .map(|(name, original)| (original, name))
            .collect()
    }
}

/// A single file memory-mapped: its tensors are written out from the map,
/// so a 40 GB checkpoint never sits in memory.
pub(crate) struct Source {
    file: MmapedSafetensors,
}

impl Source {
    pub(crate) fn open(path: &Path) -> candle_core::Result<Self> {
        // SAFETY: the map is read-only; the file is ours (a finished
        // download) and nothing truncates it while we read.
        let file = unsafe { MmapedSafetensors::new(path) }?;
        Ok(Self { file })
    }

    /// Every tensor by name (sorted: the order safetensors' `load_file`
    /// yields them to diffusers).
    pub(crate) fn views(&self) -> BTreeMap<String, TensorView<'_>> {
        self.file.tensors().into_iter().collect()
    }
}

/// The names and shapes of `views`.
pub(crate) fn shapes(views: &BTreeMap<String, TensorView<'_>>) -> BTreeMap<String, Vec<usize>> {
    views
        .iter()
        .map(|(name, view)| (name.clone(), view.shape().to_vec()))
        .collect()
}

/// Writes the tensors `renames` names, under their diffusers names, to
/// `target` (its folder created); the bytes and dtype are the source's.
pub(crate) fn write_renamed(
    views: &BTreeMap<String, TensorView<'_>>,
    renames: &Renames,
    target: &Path,
) -> Result<PathBuf, String> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let tensors = renames.iter().filter_map(|(original, name)| {
        views.get(original).map(|view| (name.clone(), view.clone()))
    });
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(tensors, Some(metadata), target).map_err(|e| e.to_string())?;
    Ok(target.to_path_buf())
}
