import type { ReactNode } from "react";

import { LOCAL_PROVIDER, type PairSettings } from "../draft";
import type { AppInfo, Aspect, Fit, ModelChoice, Resolution, TransitionKind } from "../types";

const ASPECTS: Aspect[] = ["16:9", "9:16", "1:1", "auto"];
const RESOLUTIONS: Resolution[] = ["720p", "1080p"];
const FRAME_RATES = [24, 25, 30];
const FITS: { fit: Fit; label: string }[] = [
  { fit: "cover", label: "Cover (crop)" },
  { fit: "letterbox", label: "Letterbox" },
];
const FALLBACK_KINDS: TransitionKind[] = ["CALM", "ENERGETIC", "SLIDE", "FADE_BLACK", "WHIP", "BLUR_DISSOLVE"];
const FALLBACK_DURATIONS = [5, 10];

/** Separator of provider and model id in the model select's option values. Provider names (local, fal) do not contain it. */
const MODEL_KEY_SEPARATOR = "|";

export function modelKey(provider: string, model: string): string {
  return `${provider}${MODEL_KEY_SEPARATOR}${model}`;
}

export function findModel(info: AppInfo | null, provider: string, model: string): ModelChoice | undefined {
  return info?.models.find((choice) => choice.provider === provider && choice.id === model);
}

export function modelLabel(info: AppInfo | null, provider: string, model: string): string {
  const choice = findModel(info, provider, model);
  if (choice) {
    return choice.name;
  }
  return provider === LOCAL_PROVIDER ? "Local renderer" : model;
}

function providerLabel(provider: string): string {
  if (provider === LOCAL_PROVIDER) {
    return "Local (this computer)";
  }
  if (provider === "fal") {
    return "fal.ai (hosted)";
  }
  return provider;
}

interface PairSettingsFieldsProps {
  info: AppInfo | null;
  values: PairSettings;
  onChange: (patch: Partial<PairSettings>) => void;
  /** Fields set on this pair. When given, each of them gets a reset button. */
  overridden?: ReadonlySet<keyof PairSettings>;
  onReset?: (keys: (keyof PairSettings)[]) => void;
  /** Prefix of the element ids, unique per form on the page. */
  idPrefix: string;
}

/** Edits the clip settings of one pair or of the whole batch. */
export function PairSettingsFields({ info, values, onChange, overridden, onReset, idPrefix }: PairSettingsFieldsProps) {
  const kinds = info?.types.map((type) => type.kind) ?? FALLBACK_KINDS;
  const model = findModel(info, values.provider, values.model);
  const durations = [...(model?.durations.length ? model.durations : FALLBACK_DURATIONS)];
  if (!durations.includes(values.duration)) {
    durations.push(values.duration);
    durations.sort((a, b) => a - b);
  }
  const providers = [...new Set((info?.models ?? []).map((choice) => choice.provider))];
  const knownModel = model !== undefined;
  const usesPrompt = model?.uses_prompt ?? values.provider !== LOCAL_PROVIDER;

  const field = (key: keyof PairSettings | (keyof PairSettings)[], label: string, control: ReactNode) => {
    const keys = Array.isArray(key) ? key : [key];
    const isOverridden = overridden !== undefined && keys.some((k) => overridden.has(k));
    return (
      <div className={`field ${isOverridden ? "field-overridden" : ""}`}>
        <label htmlFor={`${idPrefix}-${keys[0]}`}>{label}</label>
        <div className="field-control">
          {control}
          {isOverridden && onReset ? (
            <button
              type="button"
              className="icon-button"
              title="Use the batch default"
              aria-label={`Use the batch default ${label.toLowerCase()}`}
              onClick={() => onReset(keys)}
            >
              ↺
            </button>
          ) : null}
        </div>
      </div>
    );
  };

  return (
    <div className="settings-fields">
      {field(
        "type",
        "Type",
        <select
          id={`${idPrefix}-type`}
          value={values.type}
          title={info?.types.find((type) => type.kind === values.type)?.description}
          onChange={(event) => onChange({ type: event.target.value as TransitionKind })}
        >
          {kinds.map((kind) => (
            <option key={kind} value={kind} title={info?.types.find((type) => type.kind === kind)?.description}>
              {kind}
            </option>
          ))}
        </select>,
      )}
      {field(
        "duration",
        "Duration",
        <select
          id={`${idPrefix}-duration`}
          value={values.duration}
          onChange={(event) => onChange({ duration: Number(event.target.value) })}
        >
          {durations.map((seconds) => (
            <option key={seconds} value={seconds}>
              {seconds} s
            </option>
          ))}
        </select>,
      )}
      {field(
        ["provider", "model"],
        "Model",
        <select
          id={`${idPrefix}-provider`}
          value={modelKey(values.provider, values.model)}
          onChange={(event) => {
            const value = event.target.value;
            const split = value.indexOf(MODEL_KEY_SEPARATOR);
            onChange({ provider: value.slice(0, split), model: value.slice(split + 1) });
          }}
        >
          {knownModel ? null : (
            <option value={modelKey(values.provider, values.model)}>
              {modelLabel(info, values.provider, values.model)}
            </option>
          )}
          {providers.map((provider) => (
            <optgroup key={provider} label={providerLabel(provider)}>
              {info?.models
                .filter((choice) => choice.provider === provider)
                .map((choice) => (
                  <option key={choice.id} value={modelKey(choice.provider, choice.id)}>
                    {choice.name}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>,
      )}
      {field(
        "prompt",
        "Prompt",
        <input
          id={`${idPrefix}-prompt`}
          type="text"
          value={values.prompt}
          placeholder={usesPrompt ? "Describe the motion" : "Stored with the job, but this model ignores it"}
          onChange={(event) => onChange({ prompt: event.target.value })}
        />,
      )}
      {field(
        "aspect",
        "Aspect",
        <select
          id={`${idPrefix}-aspect`}
          value={values.aspect}
          onChange={(event) => onChange({ aspect: event.target.value as Aspect })}
        >
          {ASPECTS.map((aspect) => (
            <option key={aspect} value={aspect}>
              {aspect === "auto" ? "Auto (front image)" : aspect}
            </option>
          ))}
        </select>,
      )}
      {field(
        "resolution",
        "Resolution",
        <select
          id={`${idPrefix}-resolution`}
          value={values.resolution}
          onChange={(event) => onChange({ resolution: event.target.value as Resolution })}
        >
          {RESOLUTIONS.map((resolution) => (
            <option key={resolution} value={resolution}>
              {resolution}
            </option>
          ))}
        </select>,
      )}
      {field(
        "fps",
        "Frame rate",
        <select
          id={`${idPrefix}-fps`}
          value={values.fps}
          onChange={(event) => onChange({ fps: Number(event.target.value) })}
        >
          {FRAME_RATES.map((fps) => (
            <option key={fps} value={fps}>
              {fps} fps
            </option>
          ))}
        </select>,
      )}
      {field(
        "fit",
        "Fit",
        <select id={`${idPrefix}-fit`} value={values.fit} onChange={(event) => onChange({ fit: event.target.value as Fit })}>
          {FITS.map(({ fit, label }) => (
            <option key={fit} value={fit}>
              {label}
            </option>
          ))}
        </select>,
      )}
    </div>
  );
}
