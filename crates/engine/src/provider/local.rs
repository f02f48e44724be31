//! The embedded local renderer as a [`Generator`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use segue_render::{RenderError, RenderJob, Threads};

use crate::job::{ErrorKind, LOCAL_PROVIDER, Stage};
use crate::provider::{AttemptContext, GenerateError, Generated, Generator};

/// Renders transitions on the CPU with `segue-render`.
#[derive(Debug)]
pub struct LocalGenerator {
    cores: usize,
}

impl LocalGenerator {
    /// Creates the renderer, sized for this machine's cores.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { cores }
    }
}

impl Default for LocalGenerator {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Generator for LocalGenerator {
    fn provider(&self) -> &str {
        LOCAL_PROVIDER
    }

    /// Rendering is CPU-bound: one job per core.
    fn default_concurrency(&self) -> usize {
        self.cores
    }

    /// More jobs than cores would only slow every job down.
    fn max_concurrency(&self) -> usize {
        self.cores
    }

    async fn generate(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError> {
        ctx.reporter.progress(Stage::Preparing, 0.0);
        let job = RenderJob {
            front: ctx.spec.front.clone(),
            tail: ctx.spec.tail.clone(),
            kind: ctx.spec.kind,
            settings: ctx.spec.output,
        };
        // A pipelined render keeps two cores busy, so it is used only when
        // the queue gives this attempt a second core of its own.
        let threads = if ctx.parallelism >= 2 { Threads::Pipelined } else { Threads::Single };
        let cancel = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn({
            let stop = ctx.stop.clone();
            let cancel = Arc::clone(&cancel);
            async move {
                stop.cancelled().await;
                cancel.store(true, Ordering::Relaxed);
            }
        });
        let reporter = ctx.reporter.clone();
        let output = ctx.output.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            segue_render::render(&job, &output, threads, &cancel, &mut |progress| {
                let fraction = f64::from(progress.frame) / f64::from(progress.frames.max(1));
                reporter.progress(Stage::Generating, fraction);
            })
        })
        .await;
        watcher.abort();
        match rendered {
            Ok(Ok(_)) => Ok(Generated::default()),
            Ok(Err(err)) => Err(classify(err)),
            Err(join) => Err(GenerateError::transient(
                ErrorKind::Transient,
                format!("the render thread stopped unexpectedly: {join}"),
            )),
        }
    }
}

fn classify(err: RenderError) -> GenerateError {
    match err {
        RenderError::Cancelled => GenerateError::stopped(),
        RenderError::Image(image) => {
            GenerateError::permanent(ErrorKind::InvalidInput, image.to_string())
        }
        RenderError::Settings(settings) => {
            GenerateError::permanent(ErrorKind::InvalidSettings, settings.to_string())
        }
        other => GenerateError::transient(ErrorKind::Transient, other.to_string()),
    }
}
