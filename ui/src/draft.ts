// The draft: image pairs waiting to be queued, the batch-wide defaults and
// each pair's overrides. Every function here is pure and returns a new
// draft. `draftReducer` exposes them to React's useReducer.

import type {
  Aspect,
  Fit,
  ImageItem,
  ImportResult,
  JobRequest,
  PairingRule,
  Resolution,
  Settings,
  TransitionKind,
} from "./types";

export const LOCAL_PROVIDER = "local";
export const LOCAL_MODEL = "segue-local-v1";

/** Settings of one clip. Batch defaults and overrides use the same fields. */
export interface PairSettings {
  type: TransitionKind;
  /** Clip length in seconds. */
  duration: number;
  prompt: string;
  provider: string;
  model: string;
  aspect: Aspect;
  resolution: Resolution;
  fps: number;
  fit: Fit;
}

/** Fields a pair sets for itself. The batch defaults fill the rest. */
export type PairOverrides = Partial<PairSettings>;

export interface DraftPairItem {
  /** Draft-local id, stable across reorders. */
  id: string;
  front: ImageItem;
  tail: ImageItem;
  overrides: PairOverrides;
}

export interface Draft {
  pairs: DraftPairItem[];
  /** Usable images the pairing rule left without a partner. */
  unpaired: ImageItem[];
  /** Files that cannot be used, each with its error, until dismissed. */
  rejected: ImageItem[];
  defaults: PairSettings;
  rule: PairingRule;
  /** Counter for new pair ids. */
  nextId: number;
}

export const FALLBACK_DEFAULTS: PairSettings = {
  type: "CALM",
  duration: 5,
  prompt: "",
  provider: LOCAL_PROVIDER,
  model: LOCAL_MODEL,
  aspect: "16:9",
  resolution: "1080p",
  fps: 30,
  fit: "cover",
};

export function emptyDraft(defaults: PairSettings = FALLBACK_DEFAULTS, rule: PairingRule = "chain"): Draft {
  return { pairs: [], unpaired: [], rejected: [], defaults, rule, nextId: 1 };
}

/** Builds batch defaults from the saved settings of new pairs. */
export function defaultsFromSettings(settings: Settings): PairSettings {
  const hosted = settings.provider !== LOCAL_PROVIDER;
  return {
    type: settings.kind,
    duration: settings.output.duration_s,
    prompt: settings.prompt,
    provider: settings.provider,
    model: hosted ? settings.fal_model : LOCAL_MODEL,
    aspect: settings.output.aspect,
    resolution: settings.output.resolution,
    fps: settings.output.fps,
    fit: settings.output.fit,
  };
}

function makePairs(draft: Draft, result: ImportResult): { pairs: DraftPairItem[]; nextId: number } {
  let nextId = draft.nextId;
  const pairs = result.pairs.map((pair) => ({
    id: `p${nextId++}`,
    front: pair.front,
    tail: pair.tail,
    overrides: {},
  }));
  return { pairs, nextId };
}

function mergeRejected(existing: ImageItem[], added: ImageItem[]): ImageItem[] {
  const known = new Set(existing.map((item) => item.path));
  return [...existing, ...added.filter((item) => !known.has(item.path))];
}

function uniqueByPath(items: ImageItem[]): ImageItem[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (seen.has(item.path)) {
      return false;
    }
    seen.add(item.path);
    return true;
  });
}

/** Appends the pairs, unpaired images and rejected files of an import. */
export function addImport(draft: Draft, result: ImportResult): Draft {
  const { pairs, nextId } = makePairs(draft, result);
  return {
    ...draft,
    pairs: [...draft.pairs, ...pairs],
    unpaired: uniqueByPath([...draft.unpaired, ...result.unpaired]),
    rejected: mergeRejected(draft.rejected, result.rejected),
    nextId,
  };
}

/**
 * Replaces the pairs with those of a re-pairing import. A new pair with the
 * same front and tail as an old one keeps the old pair's id and overrides.
 */
export function replacePairs(draft: Draft, result: ImportResult): Draft {
  const unused = [...draft.pairs];
  let nextId = draft.nextId;
  const pairs = result.pairs.map((pair) => {
    const index = unused.findIndex((old) => old.front.path === pair.front.path && old.tail.path === pair.tail.path);
    if (index >= 0) {
      const [old] = unused.splice(index, 1);
      return { ...old, front: pair.front, tail: pair.tail };
    }
    return { id: `p${nextId++}`, front: pair.front, tail: pair.tail, overrides: {} };
  });
  return {
    ...draft,
    pairs,
    unpaired: result.unpaired,
    rejected: mergeRejected(draft.rejected, result.rejected),
    nextId,
  };
}

/**
 * Returns the draft's image paths in order of first appearance (front, then
 * tail of each pair), followed by the unpaired images: the input of a
 * re-pairing import.
 */
export function draftImagePaths(draft: Draft): string[] {
  const seen = new Set<string>();
  const paths: string[] = [];
  const add = (path: string) => {
    if (!seen.has(path)) {
      seen.add(path);
      paths.push(path);
    }
  };
  for (const pair of draft.pairs) {
    add(pair.front.path);
    add(pair.tail.path);
  }
  for (const image of draft.unpaired) {
    add(image.path);
  }
  return paths;
}

function updatePair(draft: Draft, id: string, update: (pair: DraftPairItem) => DraftPairItem): Draft {
  if (!draft.pairs.some((pair) => pair.id === id)) {
    return draft;
  }
  return { ...draft, pairs: draft.pairs.map((pair) => (pair.id === id ? update(pair) : pair)) };
}

/** Exchanges the front and tail image of one pair. */
export function swapPair(draft: Draft, id: string): Draft {
  return updatePair(draft, id, (pair) => ({ ...pair, front: pair.tail, tail: pair.front }));
}

/** Moves the pair at `from` so that it ends up at index `to`. */
export function movePair(draft: Draft, from: number, to: number): Draft {
  const count = draft.pairs.length;
  if (from < 0 || from >= count || from === to) {
    return draft;
  }
  const target = Math.max(0, Math.min(count - 1, to));
  if (target === from) {
    return draft;
  }
  const pairs = [...draft.pairs];
  const [moved] = pairs.splice(from, 1);
  pairs.splice(target, 0, moved);
  return { ...draft, pairs };
}

export function removePair(draft: Draft, id: string): Draft {
  const pairs = draft.pairs.filter((pair) => pair.id !== id);
  return pairs.length === draft.pairs.length ? draft : { ...draft, pairs };
}

/**
 * Sets override fields of one pair. A field given as `undefined` is removed,
 * so the pair follows the batch default again.
 */
export function setOverrides(draft: Draft, id: string, patch: PairOverrides): Draft {
  return updatePair(draft, id, (pair) => {
    const overrides: PairOverrides = { ...pair.overrides };
    for (const [key, value] of Object.entries(patch) as [keyof PairSettings, unknown][]) {
      if (value === undefined) {
        delete overrides[key];
      } else {
        (overrides as Record<string, unknown>)[key] = value;
      }
    }
    return { ...pair, overrides };
  });
}

export function setDefaults(draft: Draft, patch: Partial<PairSettings>): Draft {
  return { ...draft, defaults: { ...draft.defaults, ...patch } };
}

export function setRule(draft: Draft, rule: PairingRule): Draft {
  return { ...draft, rule };
}

export function dismissRejected(draft: Draft, path: string): Draft {
  return { ...draft, rejected: draft.rejected.filter((item) => item.path !== path) };
}

/** Empties the pairs and unpaired images but keeps the defaults and rule. */
export function clearPairs(draft: Draft): Draft {
  return { ...draft, pairs: [], unpaired: [] };
}

/** Returns the settings a pair runs with: its overrides over the defaults. */
export function effectiveSettings(defaults: PairSettings, overrides: PairOverrides): PairSettings {
  return { ...defaults, ...overrides };
}

/** Builds the request for one pair. An empty prompt is left out. */
export function toRequest(pair: DraftPairItem, defaults: PairSettings): JobRequest {
  const settings = effectiveSettings(defaults, pair.overrides);
  const request: JobRequest = {
    front: pair.front.path,
    tail: pair.tail.path,
    type: settings.type,
    duration: settings.duration,
    provider: settings.provider,
    model: settings.model,
    aspect: settings.aspect,
    resolution: settings.resolution,
    fps: settings.fps,
    fit: settings.fit,
  };
  if (settings.prompt.trim() !== "") {
    request.prompt = settings.prompt;
  }
  return request;
}

/** Builds one request per pair, in draft order. */
export function toRequests(draft: Draft): JobRequest[] {
  return draft.pairs.map((pair) => toRequest(pair, draft.defaults));
}

export type DraftAction =
  | { type: "import"; result: ImportResult }
  | { type: "repair"; result: ImportResult }
  | { type: "swap"; id: string }
  | { type: "move"; from: number; to: number }
  | { type: "remove"; id: string }
  | { type: "override"; id: string; patch: PairOverrides }
  | { type: "defaults"; patch: Partial<PairSettings> }
  | { type: "rule"; rule: PairingRule }
  | { type: "dismissRejected"; path: string }
  | { type: "clearPairs" };

export function draftReducer(draft: Draft, action: DraftAction): Draft {
  switch (action.type) {
    case "import":
      return addImport(draft, action.result);
    case "repair":
      return replacePairs(draft, action.result);
    case "swap":
      return swapPair(draft, action.id);
    case "move":
      return movePair(draft, action.from, action.to);
    case "remove":
      return removePair(draft, action.id);
    case "override":
      return setOverrides(draft, action.id, action.patch);
    case "defaults":
      return setDefaults(draft, action.patch);
    case "rule":
      return setRule(draft, action.rule);
    case "dismissRejected":
      return dismissRejected(draft, action.path);
    case "clearPairs":
      return clearPairs(draft);
  }
}
