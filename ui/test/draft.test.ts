import { describe, expect, it } from "vitest";

import {
  addImport,
  defaultsFromSettings,
  draftImagePaths,
  draftReducer,
  emptyDraft,
  FALLBACK_DEFAULTS,
  movePair,
  removePair,
  replacePairs,
  setDefaults,
  setOverrides,
  swapPair,
  toRequests,
  type Draft,
} from "../src/draft";
import { KLING, makeImage, makeImport, makeSettingsView } from "./helpers";

function draftOf(paths: string[]): Draft {
  return addImport(emptyDraft(), makeImport(paths));
}

function order(draft: Draft): string[] {
  return draft.pairs.map((pair) => `${pair.front.name}>${pair.tail.name}`);
}

describe("draft", () => {
  it("addImport appends pairs with new ids", () => {
    const first = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    const second = addImport(first, makeImport(["/s/x.jpg", "/s/y.jpg"]));
    expect(order(second)).toEqual(["a.jpg>b.jpg", "b.jpg>c.jpg", "x.jpg>y.jpg"]);
    const ids = second.pairs.map((pair) => pair.id);
    expect(new Set(ids).size).toBe(3);
  });

  it("addImport keeps rejected files once each", () => {
    const rejected = { ...makeImage("/s/notes.txt"), error: "notes.txt is not an image" };
    const result = { ...makeImport([]), rejected: [rejected] };
    const draft = addImport(addImport(emptyDraft(), result), result);
    expect(draft.rejected).toHaveLength(1);
    expect(draft.rejected[0].error).toBe("notes.txt is not an image");
  });

  it("swapPair exchanges front and tail", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    const swapped = swapPair(draft, draft.pairs[0].id);
    expect(order(swapped)).toEqual(["b.jpg>a.jpg", "b.jpg>c.jpg"]);
    expect(order(draft)).toEqual(["a.jpg>b.jpg", "b.jpg>c.jpg"]);
  });

  it("movePair moves down and up", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg", "/s/d.jpg"]);
    expect(order(movePair(draft, 0, 2))).toEqual(["b.jpg>c.jpg", "c.jpg>d.jpg", "a.jpg>b.jpg"]);
    expect(order(movePair(draft, 2, 0))).toEqual(["c.jpg>d.jpg", "a.jpg>b.jpg", "b.jpg>c.jpg"]);
  });

  it("movePair clamps and ignores bad indexes", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    expect(order(movePair(draft, 0, 99))).toEqual(["b.jpg>c.jpg", "a.jpg>b.jpg"]);
    expect(movePair(draft, 5, 0)).toBe(draft);
    expect(movePair(draft, 1, 1)).toBe(draft);
  });

  it("removePair drops one pair", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    const removed = removePair(draft, draft.pairs[0].id);
    expect(order(removed)).toEqual(["b.jpg>c.jpg"]);
    expect(removePair(draft, "missing")).toBe(draft);
  });

  it("toRequests applies batch defaults", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg"]);
    expect(toRequests(draft)).toEqual([
      {
        front: "/s/a.jpg",
        tail: "/s/b.jpg",
        type: "CALM",
        duration: 5,
        provider: "local",
        model: "segue-local-v1",
        aspect: "16:9",
        resolution: "1080p",
        fps: 30,
        fit: "cover",
      },
    ]);
  });

  it("toRequests applies overrides over defaults", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    const id = draft.pairs[1].id;
    const overridden = setOverrides(draft, id, { type: "WHIP", provider: "fal", model: KLING, prompt: "slow pan" });
    const [first, second] = toRequests(overridden);
    expect(first.type).toBe("CALM");
    expect(first.provider).toBe("local");
    expect(first.prompt).toBeUndefined();
    expect(second.type).toBe("WHIP");
    expect(second.provider).toBe("fal");
    expect(second.model).toBe(KLING);
    expect(second.prompt).toBe("slow pan");
  });

  it("override survives a change of defaults", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]);
    const id = draft.pairs[0].id;
    const changed = setDefaults(setOverrides(draft, id, { duration: 10 }), { duration: 3, type: "ENERGETIC" });
    const [first, second] = toRequests(changed);
    expect(first.duration).toBe(10);
    expect(first.type).toBe("ENERGETIC");
    expect(second.duration).toBe(3);
  });

  it("setOverrides with undefined clears a field", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg"]);
    const id = draft.pairs[0].id;
    const set = setOverrides(draft, id, { fps: 24, fit: "letterbox" });
    const cleared = setOverrides(set, id, { fps: undefined });
    expect(cleared.pairs[0].overrides).toEqual({ fit: "letterbox" });
    expect(toRequests(cleared)[0].fps).toBe(30);
  });

  it("draftImagePaths lists images once, in order", () => {
    const draft = addImport(draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg"]), makeImport(["/s/d.jpg"], "pairs"));
    const withUnpaired = { ...draft, unpaired: [makeImage("/s/d.jpg")] };
    expect(draftImagePaths(withUnpaired)).toEqual(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg", "/s/d.jpg"]);
  });

  it("replacePairs keeps overrides of surviving pairs", () => {
    const draft = draftOf(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg", "/s/d.jpg"]);
    const keptId = draft.pairs[0].id;
    const withOverride = setOverrides(draft, keptId, { type: "WHIP" });
    const repaired = replacePairs(withOverride, makeImport(["/s/a.jpg", "/s/b.jpg", "/s/c.jpg", "/s/d.jpg"], "pairs"));
    expect(order(repaired)).toEqual(["a.jpg>b.jpg", "c.jpg>d.jpg"]);
    expect(repaired.pairs[0].id).toBe(keptId);
    expect(repaired.pairs[0].overrides).toEqual({ type: "WHIP" });
    expect(repaired.pairs[1].overrides).toEqual({});
  });

  it("defaultsFromSettings picks fal model", () => {
    const view = makeSettingsView();
    expect(defaultsFromSettings(view.settings).model).toBe("segue-local-v1");
    const fal = defaultsFromSettings({ ...view.settings, provider: "fal", kind: "SLIDE" });
    expect(fal.provider).toBe("fal");
    expect(fal.model).toBe(KLING);
    expect(fal.type).toBe("SLIDE");
  });

  it("draftReducer routes actions", () => {
    let draft = draftReducer(emptyDraft(FALLBACK_DEFAULTS, "pairs"), {
      type: "import",
      result: makeImport(["/s/a.jpg", "/s/b.jpg"]),
    });
    draft = draftReducer(draft, { type: "swap", id: draft.pairs[0].id });
    expect(order(draft)).toEqual(["b.jpg>a.jpg"]);
    draft = draftReducer(draft, { type: "rule", rule: "ab" });
    expect(draft.rule).toBe("ab");
    draft = draftReducer(draft, { type: "clearPairs" });
    expect(draft.pairs).toHaveLength(0);
  });
});
