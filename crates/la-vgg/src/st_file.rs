//! A safetensors file opened for selective reading: the header is parsed and checked, then
//! only the tensors asked for are read (the 500 MB classifier of a VGG checkpoint never is).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};

use crate::Error;

/// Length of the little-endian u64 that starts every safetensors file.
const LEN_BYTES: u64 = 8;
/// The largest header accepted, as the safetensors crate (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// An open safetensors file whose header has been validated.
pub(crate) struct SafetensorsFile {
    path: PathBuf,
    file: File,
    metadata: Metadata,
    data_start: u64,
}

impl SafetensorsFile {
    /// Opens `path` and checks its header: valid JSON, tensors that tile the data section
    /// exactly, and a data section that ends where the file does.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let io = Error::io(path);
        let invalid = |reason: String| Error::NotSafetensors {
            path: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(&io)?;
        let file_len = file.metadata().map_err(&io)?.len();
        if file_len < LEN_BYTES {
            return Err(invalid(format!(
                "the file has {file_len} bytes, fewer than the 8 of the header length"
            )));
        }
        let mut len_bytes = [0u8; LEN_BYTES as usize];
        file.read_exact(&mut len_bytes).map_err(&io)?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > MAX_HEADER || header_len > file_len - LEN_BYTES {
            return Err(invalid(format!(
                "the header length field says {header_len} bytes, but the file has {file_len} bytes"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header).map_err(&io)?;
        let metadata: Metadata = serde_json::from_slice(&header)
            .map_err(|e| invalid(format!("the header is not valid safetensors JSON: {e}")))?;
        let data_start = LEN_BYTES + header_len;
        // Checked: each tensor's size is validated, but their offsets may add up to nearly
        // u64::MAX, past which the header and data together cannot be counted.
        let expected_len = data_start.checked_add(metadata.data_len() as u64);
        if expected_len != Some(file_len) {
            let described = expected_len.map_or("more than 2^64".into(), |n| n.to_string());
            return Err(invalid(format!(
                "the header describes {described} bytes, but the file has {file_len} (truncated or padded)"
            )));
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            file,
            metadata,
            data_start,
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor's name and description, in no particular order.
    pub(crate) fn tensors(&self) -> impl Iterator<Item = (String, &TensorInfo)> {
        self.metadata.tensors().into_iter()
    }

    /// The description of one tensor.
    pub(crate) fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.metadata.info(name)
    }

    /// The raw little-endian bytes of a tensor the header describes.
    pub(crate) fn read(&mut self, info: &TensorInfo) -> Result<Vec<u8>, Error> {
        let io = Error::io(&self.path);
        let (start, end) = info.data_offsets;
        let mut bytes = vec![0u8; end - start];
        self.file
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(&io)?;
        self.file.read_exact(&mut bytes).map_err(&io)?;
        Ok(bytes)
    }
}
