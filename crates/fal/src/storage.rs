//! File transfers: uploading frames to fal's storage and downloading the
//! finished clip.
//!
//! Upload: `POST {rest}/storage/upload/initiate?storage_type=fal-cdn-v3` with
//! `{content_type, file_name}` returns `{upload_url, file_url}`. The bytes go
//! to `upload_url` with a `PUT` that carries no API key, because the URL is
//! signed. `file_url` is what a model input names.
//!
//! Download: the clip is streamed to a file, and the file is checked against
//! `Content-Length`, the size fal reported, and the MP4 box layout before
//! it is accepted.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::client::{FalClient, join};
use crate::error::{FalError, from_reqwest};

/// Storage type fal's own JavaScript client uploads to.
const STORAGE_TYPE: &str = "fal-cdn-v3";

#[derive(Deserialize)]
struct InitiateReply {
    upload_url: String,
    file_url: String,
}

impl FalClient {
    /// Uploads `bytes` to fal's storage and returns the file's URL.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<String, FalError> {
        let mut url = join(self.rest_base(), "storage/upload/initiate")?;
        url.query_pairs_mut().append_pair("storage_type", STORAGE_TYPE);
        let builder = self
            .authorized(Method::POST, &url)?
            .timeout(self.config().request_timeout)
            .json(&json!({ "content_type": content_type, "file_name": file_name }));
        let response = self.send(builder, &url).await?;
        let body = self.text(response, &url).await?;
        let reply: InitiateReply = serde_json::from_str(&body).map_err(|err| {
            FalError::InvalidResponse(format!(
                "the upload reply has no upload_url and file_url ({err})"
            ))
        })?;

        let upload_url = self.parse_url(&reply.upload_url)?;
        let content_type = HeaderValue::from_str(content_type)
            .map_err(|_| FalError::Config(format!("invalid content type {content_type:?}")))?;
        let builder = self
            .anonymous(Method::PUT, &upload_url)
            .header(CONTENT_TYPE, content_type)
            .timeout(self.config().request_timeout)
            .body(bytes);
        self.send(builder, &upload_url).await?;
        Ok(reply.file_url)
    }

    /// Downloads `url` to `path`, replacing it, and checks the file. Calls
    /// `on_progress(bytes so far, total when known)` as bytes arrive. Sends
    /// the API key only when `url` is on a configured fal host.
    pub async fn download(
        &self,
        url: &str,
        path: &Path,
        expected_size: Option<u64>,
        on_progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<u64, FalError> {
        let url = self.parse_url(url)?;
        let builder = if self.is_fal_host(&url) {
            self.authorized(Method::GET, &url)?
        } else {
            self.anonymous(Method::GET, &url)
        };
        let mut response = self.send(builder, &url).await?;
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<u64>().ok());
        let total = declared.or(expected_size);
        let io_error = |source| FalError::Io { path: path.to_path_buf(), source };
        let mut file = tokio::fs::File::create(path).await.map_err(io_error)?;
        let mut written = 0u64;
        loop {
            let chunk = tokio::time::timeout(self.config().idle_timeout, response.chunk()).await;
            let chunk = match chunk {
                Err(_) => return Err(stalled(self.config().idle_timeout, written, total)),
                Ok(Err(err)) => {
                    return Err(short_body(&from_reqwest(err, &url).to_string(), written, total));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            file.write_all(&chunk).await.map_err(io_error)?;
            written += chunk.len() as u64;
            on_progress(written, total);
        }
        file.flush().await.map_err(io_error)?;
        file.sync_all().await.map_err(io_error)?;
        drop(file);

        for (source, size) in
            [("Content-Length", declared), ("fal's reported file_size", expected_size)]
        {
            if let Some(size) = size.filter(|size| *size != written) {
                return Err(FalError::BadFile(format!(
                    "the download has {written} bytes but {source} is {size}"
                )));
            }
        }
        let checked = path.to_path_buf();
        tokio::task::spawn_blocking(move || check_mp4(&checked))
            .await
            .map_err(|err| FalError::BadFile(format!("checking the download failed: {err}")))??;
        Ok(written)
    }
}

fn stalled(idle: Duration, written: u64, total: Option<u64>) -> FalError {
    short_body(&format!("no data for {} s", idle.as_secs_f64()), written, total)
}

fn short_body(cause: &str, written: u64, total: Option<u64>) -> FalError {
    let of = total.map(|total| format!(" of {total}")).unwrap_or_default();
    FalError::BadFile(format!("the download broke off after {written}{of} bytes: {cause}"))
}

/// Checks that the file's top-level MP4 boxes cover it exactly, then parses
/// it with the engine's verifier. A body cut short, or padded, fails the
/// first check even when the `moov` box at the front is whole.
pub(crate) fn check_mp4(path: &Path) -> Result<(), FalError> {
    let bad = |reason: String| {
        FalError::BadFile(format!("the downloaded file is not a valid MP4: {reason}"))
    };
    let bytes =
        std::fs::read(path).map_err(|source| FalError::Io { path: path.to_path_buf(), source })?;
    let boxes = top_level_boxes(&bytes).map_err(bad)?;
    for required in ["ftyp", "moov", "mdat"] {
        if !boxes.iter().any(|name| name == required) {
            return Err(bad(format!("it has no {required} box")));
        }
    }
    segue_engine::output::verify_mp4(path).map_err(|err| bad(err.to_string()))?;
    Ok(())
}

/// Returns the types of the top-level boxes, or why the layout is broken.
fn top_level_boxes(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let header = bytes
            .get(offset..offset + 8)
            .ok_or_else(|| format!("{} stray bytes at the end", bytes.len() - offset))?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let kind = &header[4..8];
        if !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            return Err(format!("a box at byte {offset} has no valid type"));
        }
        let size = match size32 {
            0 => (bytes.len() - offset) as u64,
            1 => {
                let large = bytes
                    .get(offset + 8..offset + 16)
                    .ok_or_else(|| format!("the box at byte {offset} is cut off"))?;
                u64::from_be_bytes(large.try_into().expect("slice of 8 bytes"))
            }
            size => size,
        };
        let header_len = if size32 == 1 { 16 } else { 8 };
        if size < header_len {
            return Err(format!("the box at byte {offset} declares {size} bytes"));
        }
        let end = (offset as u64).saturating_add(size);
        if end > bytes.len() as u64 {
            return Err(format!(
                "the {} box needs {size} bytes but only {} remain",
                String::from_utf8_lossy(kind),
                bytes.len() - offset
            ));
        }
        names.push(String::from_utf8_lossy(kind).into_owned());
        offset = end as usize;
    }
    Ok(names)
}

/// Returns `bytes` as a `data:` URI.
pub(crate) fn data_uri(content_type: &str, bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{content_type};base64,{encoded}")
}

/// Returns whether `url` parses and uses http or https.
pub(crate) fn is_http_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: usize) -> Vec<u8> {
        let mut bytes = ((payload + 8) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(kind);
        bytes.resize(payload + 8, 0);
        bytes
    }

    #[test]
    fn box_layout_accepts_exact_cover() {
        let file = [mp4_box(b"ftyp", 16), mp4_box(b"moov", 40), mp4_box(b"mdat", 100)].concat();
        assert_eq!(top_level_boxes(&file).unwrap(), ["ftyp", "moov", "mdat"]);
    }

    #[test]
    fn box_layout_rejects_cut_and_padding() {
        let file = [mp4_box(b"ftyp", 16), mp4_box(b"moov", 40), mp4_box(b"mdat", 100)].concat();
        let cut = &file[..file.len() - 30];
        assert!(top_level_boxes(cut).unwrap_err().contains("mdat"));
        let mut padded = file.clone();
        padded.extend_from_slice(&[0; 20]);
        assert!(top_level_boxes(&padded).is_err());
        let mut stray = file;
        stray.extend_from_slice(&[0; 3]);
        assert!(top_level_boxes(&stray).unwrap_err().contains("stray"));
    }

    #[test]
    fn data_uri_is_base64() {
        assert_eq!(data_uri("image/png", b"abc"), "data:image/png;base64,YWJj");
        assert!(is_http_url("https://v3.fal.media/files/x.png"));
        assert!(!is_http_url("data:image/png;base64,YWJj"));
    }
}
