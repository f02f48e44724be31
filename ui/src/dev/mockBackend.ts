// A stand-in backend for `npm run dev` in a plain browser. It returns
// made-up data for every command and plays job events on a timer, so the UI
// can be worked on without the Rust side. main.tsx loads it only in dev
// builds outside Tauri. It renders no clips: the player shows a video only
// when the page URL names one (see `?clip=` below).

import { emit } from "@tauri-apps/api/event";
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";

import { LOCAL_MODEL } from "../draft";
import type {
  AppInfo,
  BatchCheck,
  HistoryQuery,
  ImageItem,
  ImportResult,
  JobEvent,
  JobRequest,
  JobRow,
  JobState,
  Overview,
  PairingRule,
  Settings,
  SettingsView,
  TransitionKind,
} from "../types";

const KINDS: TransitionKind[] = ["CALM", "ENERGETIC", "SLIDE", "FADE_BLACK", "WHIP", "BLUR_DISSOLVE"];
const HISTORY_SIZE = 10_000;
const TICK_MS = 400;

function thumb(name: string): string {
  let hash = 0;
  for (const char of name) {
    hash = (hash * 31 + char.charCodeAt(0)) % 360;
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90">` +
    `<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="hsl(${hash},45%,35%)"/>` +
    `<stop offset="1" stop-color="hsl(${(hash + 60) % 360},45%,20%)"/></linearGradient></defs>` +
    `<rect width="160" height="90" fill="url(#g)"/>` +
    `<text x="8" y="82" font-family="sans-serif" font-size="12" fill="#fff">${name}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

function image(path: string): ImageItem {
  const name = path.split("/").pop() ?? path;
  const usable = /\.(jpe?g|png|webp|tiff?|bmp|gif|heic|heif|avif)$/i.test(name);
  return {
    path,
    name,
    width: usable ? 1920 : null,
    height: usable ? 1080 : null,
    format: usable ? "JPEG" : null,
    thumb_url: usable ? thumb(name) : null,
    error: usable ? null : `${name} is not an image Segue can read; use JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC or AVIF`,
  };
}

function pair(images: ImageItem[], rule: PairingRule): ImportResult {
  const usable = images.filter((item) => item.error === null);
  const rejected = images.filter((item) => item.error !== null);
  const pairs: ImportResult["pairs"] = [];
  const unpaired: ImageItem[] = [];
  if (rule === "chain") {
    for (let i = 0; i + 1 < usable.length; i += 1) {
      pairs.push({ front: usable[i], tail: usable[i + 1] });
    }
    if (usable.length === 1) unpaired.push(usable[0]);
  } else if (rule === "pairs") {
    for (let i = 0; i + 1 < usable.length; i += 2) {
      pairs.push({ front: usable[i], tail: usable[i + 1] });
    }
    if (usable.length % 2) unpaired.push(usable[usable.length - 1]);
  } else {
    const byStem = new Map<string, { a?: ImageItem; b?: ImageItem }>();
    for (const item of usable) {
      const match = /^(.*)_([ab])\.[^.]+$/i.exec(item.name);
      if (!match) {
        unpaired.push(item);
        continue;
      }
      const entry = byStem.get(match[1]) ?? {};
      entry[match[2].toLowerCase() as "a" | "b"] = item;
      byStem.set(match[1], entry);
    }
    for (const entry of byStem.values()) {
      if (entry.a && entry.b) pairs.push({ front: entry.a, tail: entry.b });
      else unpaired.push((entry.a ?? entry.b) as ImageItem);
    }
  }
  return { images: usable, pairs, unpaired, rejected };
}

function row(index: number, state: JobState, overrides: Partial<JobRow> = {}): JobRow {
  const id = `${(0x10000000 + index * 7919).toString(16).padStart(8, "0")}-4a1b-4c2d-8e3f-${String(index).padStart(12, "0")}`;
  const front = `/home/editor/shoot/shot${index + 1}.jpg`;
  const tail = `/home/editor/shoot/shot${index + 2}.jpg`;
  const hosted = index % 3 === 0;
  return {
    id,
    short_id: id.slice(0, 8),
    name: `shot${index + 1}-to-shot${index + 2}`,
    state,
    stage: null,
    progress: 0,
    attempt: state === "queued" ? 0 : 1,
    max_attempts: 3,
    provider: hosted ? "fal" : "local",
    model: hosted ? "fal-ai/kling-video/v2.5-turbo/pro/image-to-video" : LOCAL_MODEL,
    kind: KINDS[index % KINDS.length],
    duration_s: 5,
    prompt: "",
    front,
    tail,
    front_thumb: thumb(`shot${index + 1}.jpg`),
    tail_thumb: thumb(`shot${index + 2}.jpg`),
    created_at: Date.now() - index * 600_000,
    started_at: state === "queued" ? null : Date.now() - index * 600_000 + 1000,
    finished_at: state === "succeeded" || state === "failed" ? Date.now() - index * 600_000 + 60_000 : null,
    error_kind: state === "failed" ? "permanent" : null,
    error_message:
      state === "failed" ? `fal.ai rejected the request: image ${tail} is smaller than 300×300 pixels; use a larger image` : null,
    provider_request_id: hosted ? `req-${id.slice(0, 8)}` : null,
    price_usd: hosted ? 0.35 : 0,
    output_path: `/home/editor/Videos/Segue/shot${index + 1}-to-shot${index + 2}.mp4`,
    output:
      state === "succeeded"
        ? {
            path: `/home/editor/Videos/Segue/shot${index + 1}-to-shot${index + 2}.mp4`,
            bytes: 4_200_000,
            duration_s: 5,
            width: 1920,
            height: 1080,
            fps: 30,
            frames: 150,
            sha256: "0".repeat(64),
          }
        : null,
    clip_url: null,
    ...overrides,
  };
}

const HISTORY_STATES: JobState[] = ["succeeded", "succeeded", "succeeded", "failed", "cancelled", "timed_out"];

export function installMockBackend(): void {
  mockWindows("main");
  let paused = false;
  const limits: Record<string, number> = { local: 2, fal: 10 };
  let settings: Settings = {
    output_dir: "/home/editor/Videos/Segue",
    file_name_template: "{name}",
    provider: "local",
    fal_model: "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
    kind: "CALM",
    prompt: "",
    output: { aspect: "16:9", resolution: "1080p", fps: 30, fit: "cover", duration_s: 5 },
    pairing: "chain",
    local_concurrency: 2,
    fal_concurrency: 10,
    max_attempts: 3,
    local_soft_limit_s: 600,
    local_hard_limit_s: 900,
    fal_soft_limit_s: 2400,
    fal_hard_limit_s: 3600,
    watch_dir: null,
    watch_pairing: "pairs",
    notify_on_finish: true,
  };
  let falKey = { present: false, source: null as string | null, masked: null as string | null, keychain_error: null };
  let nextIndex = 1000;
  // ?clip=URL&front=URL&tail=URL give the finished job a real clip and thumbnails.
  const params = new URLSearchParams(window.location.search);
  const clip = params.get("clip");
  const first = row(0, "succeeded");
  if (clip && first.output) {
    first.clip_url = clip;
    first.front_thumb = params.get("front") ?? first.front_thumb;
    first.tail_thumb = params.get("tail") ?? first.tail_thumb;
    first.output = { ...first.output, fps: 25, duration_s: 4, frames: 100, width: 1280, height: 720 };
  }
  const session: JobRow[] = [
    first,
    row(1, "running", { stage: "generating", progress: 0.4, started_at: Date.now() - 12_000 }),
    row(2, "failed"),
    row(3, "queued"),
  ];

  const overview = (): Overview => {
    const count = (state: JobState) => session.filter((job) => job.state === state).length;
    return {
      paused,
      slots: Object.entries(limits).map(([provider, limit]) => ({
        provider,
        limit,
        in_use: session.filter((job) => job.provider === provider && job.state === "running").length,
        queued: session.filter((job) => job.provider === provider && job.state === "queued").length,
      })),
      counts: {
        queued: count("queued"),
        running: count("running"),
        retrying: count("retrying"),
        succeeded: 8000 + count("succeeded"),
        failed: 1200,
        cancelled: 400,
        timed_out: 20,
        needs_action: 0,
      },
      failures_24h: 3,
    };
  };

  const send = (event: JobEvent) => void emit("segue://job", event);

  // Advances one running job per provider slot a step each tick.
  setInterval(() => {
    if (!paused) {
      for (const job of session.filter((candidate) => candidate.state === "queued")) {
        const running = session.filter((other) => other.provider === job.provider && other.state === "running");
        if (running.length < limits[job.provider]) {
          Object.assign(job, { state: "running", attempt: 1, started_at: Date.now(), stage: "preparing", progress: 0 });
          send({ event: "started", job_id: job.id, attempt: 1, max_attempts: 3 });
        }
      }
    }
    for (const job of session.filter((candidate) => candidate.state === "running")) {
      const progress = Math.min(1, job.progress + 0.08);
      if (job.stage === "generating" && progress >= 1) {
        Object.assign(job, { state: "succeeded", stage: null, progress: 1, output: row(0, "succeeded").output });
        send({ event: "succeeded", job_id: job.id, output: job.output! });
      } else {
        Object.assign(job, { stage: "generating", progress });
        send({ event: "progress", job_id: job.id, stage: "generating", fraction: progress });
      }
    }
    void emit("segue://overview", overview());
  }, TICK_MS);

  const appInfo: AppInfo = {
    version: "0.1.0-dev",
    types: KINDS.map((kind) => ({ kind, description: `${kind.toLowerCase()} transition` })),
    models: [
      { provider: "local", id: LOCAL_MODEL, name: "Local renderer", durations: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], price_5s_usd: 0, uses_prompt: false },
      { provider: "fal", id: "fal-ai/kling-video/v2.5-turbo/pro/image-to-video", name: "Kling 2.5 Turbo Pro", durations: [5, 10], price_5s_usd: 0.35, uses_prompt: true },
      { provider: "fal", id: "fal-ai/vidu/q1/start-end-to-video", name: "Vidu Q1", durations: [5], price_5s_usd: null, uses_prompt: true },
    ],
    clip_origin: "http://127.0.0.1:47110",
    resumed: 0,
  };

  const check = (requests: JobRequest[]): BatchCheck => {
    const pairs = requests.map((request) => {
      const errors: string[] = [];
      if (request.provider === "fal" && request.duration !== 5 && request.duration !== 10) {
        errors.push(`duration ${request.duration} s: the model makes 5 or 10 s clips`);
      }
      if (request.front === request.tail) {
        errors.push("the front and tail image are the same file; pick two images");
      }
      const price = request.provider === "fal" ? (0.35 * (request.duration ?? 5)) / 5 : 0;
      return { errors, price_usd: price, provider: request.provider ?? "local", model: request.model ?? LOCAL_MODEL };
    });
    return {
      pairs,
      total_usd: pairs.reduce((sum, entry) => sum + (entry.price_usd ?? 0), 0),
      unpriced: 0,
      ok: pairs.every((entry) => entry.errors.length === 0),
    };
  };

  const history = (query: HistoryQuery) => {
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 100;
    const search = query.search?.toLowerCase();
    const total = search ? Math.floor(HISTORY_SIZE / 10) : HISTORY_SIZE;
    const rows: JobRow[] = [];
    for (let index = offset; index < Math.min(total, offset + limit); index += 1) {
      rows.push(row(index + 10, HISTORY_STATES[index % HISTORY_STATES.length]));
    }
    return { rows, total, offset };
  };

  const view = (): SettingsView => ({
    settings,
    fal_key: falKey,
    data_dir: "/home/editor/.local/share/segue",
    log_dir: "/home/editor/.local/share/segue/logs",
  });

  mockIPC(
    (command, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      switch (command) {
        case "app_info":
          return appInfo;
        case "import_paths": {
          const paths = args.paths as string[];
          return pair(paths.map(image), args.rule as PairingRule);
        }
        case "check_requests":
          return check(args.requests as JobRequest[]);
        case "queue_requests": {
          const ids = (args.requests as JobRequest[]).map((request) => {
            const job = row(nextIndex++, "queued", {
              front: request.front,
              tail: request.tail,
              front_thumb: thumb(request.front.split("/").pop() ?? ""),
              tail_thumb: thumb(request.tail.split("/").pop() ?? ""),
              provider: request.provider ?? "local",
              kind: (request.type as TransitionKind) ?? "CALM",
              created_at: Date.now(),
            });
            session.push(job);
            send({ event: "queued", job_id: job.id, name: job.name, provider: job.provider });
            return job.id;
          });
          return ids;
        }
        case "queue_jobs":
          return session.map((job) => ({ ...job }));
        case "list_jobs":
          return history(args.query as HistoryQuery);
        case "job_detail": {
          const job = session.find((candidate) => candidate.id === args.id);
          if (!job) throw { kind: "not_found", message: `job ${String(args.id)} not found` };
          return { row: { ...job }, spec: {}, attempts: [] };
        }
        case "cancel_job": {
          const job = session.find((candidate) => candidate.id === args.id);
          if (job) {
            job.state = "cancelled";
            send({ event: "cancelled", job_id: job.id });
          }
          return null;
        }
        case "retry_job": {
          const job = session.find((candidate) => candidate.id === args.id);
          if (job) {
            Object.assign(job, { state: "queued", error_message: null, stage: null, progress: 0 });
            send({ event: "queued", job_id: job.id, name: job.name, provider: job.provider });
          }
          return null;
        }
        case "run_next":
        case "reveal_job":
        case "drag_out":
        case "open_log_dir":
          return null;
        case "rerun_job":
          return `${String(args.id).slice(0, 8)}-rerun`;
        case "delete_jobs":
          return (args.ids as string[]).length;
        case "pause_queue":
          paused = true;
          return overview();
        case "resume_queue":
          paused = false;
          return overview();
        case "overview":
          return overview();
        case "set_concurrency":
          limits[args.provider as string] = args.limit as number;
          return overview();
        case "get_settings":
          return view();
        case "save_settings": {
          const next = args.settings as Settings;
          if (!next.output_dir.startsWith("/")) {
            throw { kind: "bad_input", message: `Output folder "${next.output_dir}" is not an absolute path; choose a folder` };
          }
          settings = next;
          return view();
        }
        case "set_fal_key": {
          const key = String(args.key);
          falKey = { present: true, source: "keychain", masked: `••••${key.slice(-4)}`, keychain_error: null };
          return falKey;
        }
        case "clear_fal_key":
          falKey = { present: false, source: null, masked: null, keychain_error: null };
          return falKey;
        default:
          throw { kind: "internal", message: `the mock backend has no command ${command}` };
      }
    },
    { shouldMockEvents: true },
  );

  // Lets a browser console or a screenshot script simulate a native file
  // drop: window.segueMockDrop(["/a/1.jpg", "/a/2.jpg"]).
  (window as unknown as { segueMockDrop: (paths: string[]) => void }).segueMockDrop = (paths) => {
    void emit("tauri://drag-drop", { paths, position: { x: 0, y: 0 } });
  };
}
