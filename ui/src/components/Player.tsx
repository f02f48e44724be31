import { forwardRef, useCallback, useEffect, useImperativeHandle, useRef, useState } from "react";

import * as api from "../api";
import { formatBytes, formatTimecode } from "../format";
import { useDragOut } from "../hooks/useDragOut";
import { isTypingTarget } from "../keyboard";
import type { JobRow } from "../types";
import { ErrorText } from "./common";

/** Frame rate assumed when a clip has no OutputInfo yet. */
const FALLBACK_FPS = 30;
const COPIED_MS = 1500;

export interface PlayerHandle {
  togglePlay: () => void;
}

interface PlayerProps {
  job: JobRow;
  onClose: () => void;
}

/** Non-modal clip player with frame stepping and an A/B view of the input images against the clip's ends. */
export const Player = forwardRef<PlayerHandle, PlayerProps>(function Player({ job, onClose }, ref) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const [playing, setPlaying] = useState(false);
  const [currentTime, setCurrentTime] = useState(0);
  const [mediaDuration, setMediaDuration] = useState<number | null>(null);
  const [loop, setLoop] = useState(true);
  const [abView, setAbView] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const dragOut = useDragOut(job.id, setError);

  const fps = job.output?.fps || FALLBACK_FPS;
  const frame = 1 / fps;
  const duration = mediaDuration ?? job.output?.duration_s ?? 0;
  // The last frame starts one frame before the end, so seeking half a frame
  // before the end lands inside it without rounding past the end of the stream.
  const lastFrameTime = Math.max(0, duration - 0.5 * frame);

  const togglePlay = useCallback(() => {
    const video = videoRef.current;
    if (!video) {
      return;
    }
    if (video.paused) {
      video.play().catch((reason: unknown) => setError(`Playing the clip failed: ${String(reason)}`));
    } else {
      video.pause();
    }
  }, []);

  const seek = useCallback((time: number) => {
    const video = videoRef.current;
    if (!video) {
      return;
    }
    video.currentTime = time;
    setCurrentTime(time);
  }, []);

  const step = useCallback(
    (frames: number) => {
      const video = videoRef.current;
      if (!video) {
        return;
      }
      video.pause();
      const target = Math.min(Math.max(0, video.currentTime + frames * frame), lastFrameTime);
      seek(target);
    },
    [frame, lastFrameTime, seek],
  );

  useImperativeHandle(ref, () => ({ togglePlay }), [togglePlay]);

  // The timecode follows playback every animation frame, because timeupdate
  // may fire as rarely as 4 times a second (MDN, HTMLMediaElement timeupdate).
  useEffect(() => {
    if (!playing) {
      return;
    }
    let handle = requestAnimationFrame(function tick() {
      const video = videoRef.current;
      if (video) {
        setCurrentTime(video.currentTime);
      }
      handle = requestAnimationFrame(tick);
    });
    return () => cancelAnimationFrame(handle);
  }, [playing]);

  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (isTypingTarget(event.target)) {
        return;
      }
      if (event.key === ",") {
        event.preventDefault();
        step(-1);
      } else if (event.key === ".") {
        event.preventDefault();
        step(1);
      } else if (event.key === "Escape") {
        onClose();
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [step, onClose]);

  const copyPath = async () => {
    const path = job.output?.path ?? job.output_path;
    try {
      await navigator.clipboard.writeText(path);
      setCopied(true);
      setTimeout(() => setCopied(false), COPIED_MS);
    } catch (reason) {
      setError(`Copying the path failed: ${api.errorMessage(reason)}`);
    }
  };

  const reveal = async () => {
    try {
      await api.revealJob(job.id);
    } catch (reason) {
      setError(`Revealing the clip failed: ${api.errorMessage(reason)}`);
    }
  };

  const clipUrl = job.clip_url;

  return (
    <aside
      className="player"
      data-testid="player"
      aria-label={`Preview of ${job.name}`}
      tabIndex={-1}
      onKeyDown={(event) => {
        if (event.key === " " && !isTypingTarget(event.target)) {
          event.preventDefault();
          event.stopPropagation();
          togglePlay();
        }
      }}
    >
      <header className="player-header">
        <span className="player-title" title={job.name}>
          {job.name}
        </span>
        {job.output ? (
          <span className="muted">
            {job.output.width}×{job.output.height} · {job.output.fps} fps · {job.output.frames} frames ·{" "}
            {formatBytes(job.output.bytes)}
          </span>
        ) : null}
        <button type="button" className="icon-button" aria-label="Close the preview" onClick={onClose}>
          ✕
        </button>
      </header>
      {clipUrl ? (
        <video
          ref={videoRef}
          className="player-video"
          data-testid="player-video"
          src={clipUrl}
          poster={job.front_thumb ?? undefined}
          loop={loop}
          preload="auto"
          playsInline
          onClick={togglePlay}
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => setPlaying(false)}
          onTimeUpdate={(event) => setCurrentTime(event.currentTarget.currentTime)}
          onLoadedMetadata={(event) => {
            const value = event.currentTarget.duration;
            if (Number.isFinite(value) && value > 0) {
              setMediaDuration(value);
            }
          }}
          onError={() => setError("The clip cannot be loaded from the clip server. Reveal it to open it directly.")}
        />
      ) : (
        <p className="empty">The clip is not available yet.</p>
      )}
      <div className="player-controls">
        <button type="button" aria-label="Previous frame (,)" title="Previous frame (,)" onClick={() => step(-1)}>
          ◀|
        </button>
        <button type="button" data-testid="player-play" onClick={togglePlay} aria-label={playing ? "Pause" : "Play"}>
          {playing ? "❚❚" : "▶"}
        </button>
        <button type="button" aria-label="Next frame (.)" title="Next frame (.)" onClick={() => step(1)}>
          |▶
        </button>
        <input
          type="range"
          className="scrubber"
          data-testid="player-scrubber"
          aria-label="Position"
          min={0}
          max={duration || 0}
          step={frame}
          value={Math.min(currentTime, duration || 0)}
          onChange={(event) => {
            videoRef.current?.pause();
            seek(Number(event.target.value));
          }}
        />
        <span className="timecode">
          <span data-testid="player-time">{formatTimecode(currentTime, fps)}</span>
          {" / "}
          <span data-testid="player-duration">{formatTimecode(duration, fps)}</span>
        </span>
        <label className="toggle">
          <input type="checkbox" checked={loop} onChange={(event) => setLoop(event.target.checked)} /> Loop
        </label>
        <button
          type="button"
          className={abView ? "active" : ""}
          aria-pressed={abView}
          data-testid="player-ab-toggle"
          onClick={() => setAbView(!abView)}
        >
          A/B
        </button>
      </div>
      <div className="player-actions">
        <button type="button" data-testid="player-reveal" onClick={() => void reveal()}>
          Reveal in file manager
        </button>
        <button type="button" data-testid="player-copy-path" onClick={() => void copyPath()}>
          {copied ? "Copied" : "Copy path"}
        </button>
        <span className="drag-out" data-testid="player-drag-out" title="Drag the clip into your editor" {...dragOut}>
          ⠿ Drag out
        </span>
      </div>
      {abView && clipUrl ? (
        <div className="ab-view" data-testid="ab-view">
          <figure>
            <figcaption>Front image</figcaption>
            {job.front_thumb ? <img src={job.front_thumb} alt="Front image" draggable={false} /> : <span>?</span>}
          </figure>
          <figure>
            <figcaption>First frame of the clip</figcaption>
            <video
              src={clipUrl}
              muted
              preload="auto"
              data-testid="ab-first-frame"
              onLoadedMetadata={(event) => {
                event.currentTarget.currentTime = 0;
              }}
            />
          </figure>
          <figure>
            <figcaption>Tail image</figcaption>
            {job.tail_thumb ? <img src={job.tail_thumb} alt="Tail image" draggable={false} /> : <span>?</span>}
          </figure>
          <figure>
            <figcaption>Last frame of the clip</figcaption>
            <video
              src={clipUrl}
              muted
              preload="auto"
              data-testid="ab-last-frame"
              onLoadedMetadata={(event) => {
                const video = event.currentTarget;
                const end = Number.isFinite(video.duration) ? video.duration : duration;
                video.currentTime = Math.max(0, end - 0.5 * frame);
              }}
            />
          </figure>
        </div>
      ) : null}
      {error ? <ErrorText>{error}</ErrorText> : null}
    </aside>
  );
});
