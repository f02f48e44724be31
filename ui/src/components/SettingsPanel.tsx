import { useEffect, useState, type FormEvent, type ReactNode } from "react";

import * as api from "../api";
import { defaultsFromSettings, LOCAL_PROVIDER, type PairSettings } from "../draft";
import { PAIRING_RULES } from "../format";
import type { AppInfo, KeyStatus, PairingRule, Settings, SettingsView } from "../types";
import { ErrorText } from "./common";
import { PairSettingsFields } from "./PairSettingsFields";

/** Placeholders of the file name template, as the engine's template module defines them. */
export const FILE_NAME_PLACEHOLDERS: { name: string; meaning: string }[] = [
  { name: "{name}", meaning: "the transition name" },
  { name: "{front}", meaning: "file name of the front image without its extension" },
  { name: "{tail}", meaning: "file name of the tail image without its extension" },
  { name: "{type}", meaning: "transition type, as CALM" },
  { name: "{duration}", meaning: "clip length, as 5s" },
  { name: "{model}", meaning: "model id" },
  { name: "{provider}", meaning: "provider name" },
  { name: "{date}", meaning: "queueing date in UTC, YYYY-MM-DD" },
  { name: "{time}", meaning: "queueing time of day in UTC, HHMMSS" },
  { name: "{id}", meaning: "short job id, 8 hex digits" },
  { name: "{n}", meaning: "1-based position of the job in its batch" },
];

type FieldName =
  | "pairs"
  | "output_dir"
  | "file_name_template"
  | "local_concurrency"
  | "fal_concurrency"
  | "max_attempts"
  | "limits"
  | "watch_dir";

// save_settings reports one error at a time. Its message starts with the
// label of the field it names, so these prefixes place it next to that field.
const ERROR_PREFIXES: [string, FieldName][] = [
  ["Output folder", "output_dir"],
  ["File name template", "file_name_template"],
  ["Provider", "pairs"],
  ["Model", "pairs"],
  ["Output settings", "pairs"],
  ["Local renders at once", "local_concurrency"],
  ["fal requests at once", "fal_concurrency"],
  ["Attempts per job", "max_attempts"],
  ["Local time limits", "limits"],
  ["Local soft time limit", "limits"],
  ["fal time limits", "limits"],
  ["fal soft time limit", "limits"],
  ["Time limit", "limits"],
  ["Watch folder", "watch_dir"],
];

/** Returns the field a settings error message names, or null when it names none. */
export function fieldOfError(message: string): FieldName | null {
  const entry = ERROR_PREFIXES.find(([prefix]) => message.startsWith(prefix));
  return entry ? entry[1] : null;
}

type LimitKey = "local_soft_limit_s" | "local_hard_limit_s" | "fal_soft_limit_s" | "fal_hard_limit_s";
const LIMITS: { key: LimitKey; label: string }[] = [
  { key: "local_soft_limit_s", label: "Local, soft" },
  { key: "local_hard_limit_s", label: "Local, hard" },
  { key: "fal_soft_limit_s", label: "fal.ai, soft" },
  { key: "fal_hard_limit_s", label: "fal.ai, hard" },
];

function minutesText(seconds: number): string {
  return String(Math.round((seconds / 60) * 100) / 100);
}

/** Applies new-pair defaults, as the draft fields edit them, to the settings. */
function applyPairDefaults(settings: Settings, patch: Partial<PairSettings>): Settings {
  const next: Settings = { ...settings, output: { ...settings.output } };
  if (patch.type !== undefined) next.kind = patch.type;
  if (patch.duration !== undefined) next.output.duration_s = patch.duration;
  if (patch.prompt !== undefined) next.prompt = patch.prompt;
  if (patch.aspect !== undefined) next.output.aspect = patch.aspect;
  if (patch.resolution !== undefined) next.output.resolution = patch.resolution;
  if (patch.fps !== undefined) next.output.fps = patch.fps;
  if (patch.fit !== undefined) next.output.fit = patch.fit;
  if (patch.provider !== undefined) {
    next.provider = patch.provider;
    if (patch.provider !== LOCAL_PROVIDER && patch.model !== undefined) {
      next.fal_model = patch.model;
    }
  }
  return next;
}

interface RowProps {
  label: string;
  htmlFor?: string;
  children: ReactNode;
  help?: ReactNode;
  /** Error of the last save that names this field. */
  error?: string | null;
}

function Row({ label, htmlFor, children, help, error }: RowProps) {
  return (
    <div className={`settings-row ${error ? "invalid" : ""}`}>
      <label htmlFor={htmlFor}>{label}</label>
      <div className="settings-control">
        {children}
        {help ? <div className="help">{help}</div> : null}
        {error ? <ErrorText testId="settings-field-error">{error}</ErrorText> : null}
      </div>
    </div>
  );
}

function FalKeySection({ status, onStatus }: { status: KeyStatus; onStatus: (status: KeyStatus) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async () => {
    if (key.trim() === "") {
      setError("Paste the key from fal.ai's dashboard first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onStatus(await api.setFalKey(key.trim()));
      setKey("");
    } catch (reason) {
      setError(api.errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      onStatus(await api.clearFalKey());
    } catch (reason) {
      setError(api.errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset className="settings-group">
      <legend>fal.ai key</legend>
      <div className="fal-key-status" data-testid="fal-key-status" data-present={status.present}>
        {status.present ? (
          <>
            <span className="masked-key">{status.masked ?? "saved"}</span>
            <span className="muted">
              {status.source === "environment" ? "from the FAL_KEY environment variable" : "saved in the OS keychain"}
            </span>
            {status.source === "keychain" ? (
              <button type="button" className="danger" disabled={busy} onClick={() => void remove()}>
                Remove
              </button>
            ) : null}
          </>
        ) : (
          <span className="muted">No key. Hosted models need one; the local renderer does not.</span>
        )}
      </div>
      {status.source !== "environment" ? (
        <div className="fal-key-entry">
          <input
            type="password"
            data-testid="fal-key-input"
            aria-label="fal.ai key"
            autoComplete="off"
            placeholder={status.present ? "Paste a new key to replace the saved one" : "Paste your fal.ai key"}
            value={key}
            onChange={(event) => setKey(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter") {
                event.preventDefault();
                void save();
              }
            }}
          />
          <button type="button" data-testid="fal-key-save" disabled={busy || key === ""} onClick={() => void save()}>
            Save key
          </button>
        </div>
      ) : (
        <p className="help">Unset FAL_KEY and restart Segue to use a key saved here instead.</p>
      )}
      {status.keychain_error ? <ErrorText>The keychain cannot be used: {status.keychain_error}</ErrorText> : null}
      {error ? <ErrorText testId="fal-key-error">{error}</ErrorText> : null}
    </fieldset>
  );
}

interface SettingsPanelProps {
  info: AppInfo | null;
  view: SettingsView | null;
  onSaved: (view: SettingsView) => void;
  onKeyStatus: (status: KeyStatus) => void;
}

/** Renders the Settings screen. Each field edits a copy, and Save sends the whole copy with save_settings. */
export function SettingsPanel({ info, view, onSaved, onKeyStatus }: SettingsPanelProps) {
  const [form, setForm] = useState<Settings | null>(view?.settings ?? null);
  const [minutes, setMinutes] = useState<Record<LimitKey, string> | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [savedAt, setSavedAt] = useState<number | null>(null);

  useEffect(() => {
    if (view) {
      setForm(view.settings);
      setMinutes({
        local_soft_limit_s: minutesText(view.settings.local_soft_limit_s),
        local_hard_limit_s: minutesText(view.settings.local_hard_limit_s),
        fal_soft_limit_s: minutesText(view.settings.fal_soft_limit_s),
        fal_hard_limit_s: minutesText(view.settings.fal_hard_limit_s),
      });
    }
  }, [view]);

  if (!view || !form || !minutes) {
    return (
      <section className="panel settings-panel" aria-label="Settings">
        <p className="muted">Loading the settings…</p>
      </section>
    );
  }

  const update = (patch: Partial<Settings>) => {
    setForm({ ...form, ...patch });
    setSavedAt(null);
  };

  const pickFolder = async (title: string, apply: (folder: string) => void) => {
    try {
      const folder = await api.pickFolder(title);
      if (folder) {
        apply(folder);
      }
    } catch (reason) {
      setSaveError(`The folder picker failed: ${api.errorMessage(reason)}`);
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const limits: Partial<Settings> = {};
    for (const { key, label } of LIMITS) {
      const value = Number(minutes[key]);
      if (!Number.isFinite(value) || value <= 0) {
        setSaveError(`Time limit "${label}" must be a number of minutes above 0.`);
        return;
      }
      limits[key] = Math.round(value * 60);
    }
    setSaving(true);
    setSaveError(null);
    try {
      const saved = await api.saveSettings({ ...form, ...limits });
      onSaved(saved);
      setSavedAt(Date.now());
    } catch (reason) {
      setSaveError(api.errorMessage(reason));
    } finally {
      setSaving(false);
    }
  };

  const errorField = saveError ? fieldOfError(saveError) : null;
  const fieldError = (field: FieldName) => (errorField === field ? saveError : null);
  const pairDefaults = defaultsFromSettings(form);
  const falModels = info?.models.filter((model) => model.provider !== LOCAL_PROVIDER) ?? [];

  const ruleSelect = (id: string, value: PairingRule, onChange: (rule: PairingRule) => void) => (
    <select id={id} value={value} onChange={(event) => onChange(event.target.value as PairingRule)}>
      {PAIRING_RULES.map((entry) => (
        <option key={entry.rule} value={entry.rule}>
          {entry.label}: {entry.explanation}
        </option>
      ))}
    </select>
  );

  return (
    <section className="panel settings-panel" aria-label="Settings">
      <FalKeySection status={view.fal_key} onStatus={onKeyStatus} />

      <form className="settings-form" data-testid="settings-form" noValidate onSubmit={(event) => void submit(event)}>
        <fieldset className="settings-group">
          <legend>New pairs</legend>
          {fieldError("pairs") ? <ErrorText testId="settings-field-error">{saveError}</ErrorText> : null}
          <PairSettingsFields
            info={info}
            idPrefix="settings"
            values={pairDefaults}
            onChange={(patch) => {
              setForm(applyPairDefaults(form, patch));
              setSavedAt(null);
            }}
          />
          <Row label="Hosted model for fal.ai pairs" htmlFor="settings-fal-model">
            <select
              id="settings-fal-model"
              value={form.fal_model}
              onChange={(event) => update({ fal_model: event.target.value })}
            >
              {falModels.some((model) => model.id === form.fal_model) ? null : (
                <option value={form.fal_model}>{form.fal_model}</option>
              )}
              {falModels.map((model) => (
                <option key={model.id} value={model.id}>
                  {model.name}
                </option>
              ))}
            </select>
          </Row>
          <Row label="Pairing of dropped images" htmlFor="settings-pairing">
            {ruleSelect("settings-pairing", form.pairing, (pairing) => update({ pairing }))}
          </Row>
        </fieldset>

        <fieldset className="settings-group">
          <legend>Output</legend>
          <Row label="Output folder" htmlFor="settings-output-dir" error={fieldError("output_dir")}>
            <div className="inline">
              <input
                id="settings-output-dir"
                type="text"
                value={form.output_dir}
                onChange={(event) => update({ output_dir: event.target.value })}
              />
              <button
                type="button"
                onClick={() => void pickFolder("Folder for finished clips", (output_dir) => update({ output_dir }))}
              >
                Choose…
              </button>
            </div>
          </Row>
          <Row
            label="File name template"
            htmlFor="settings-template" error={fieldError("file_name_template")}
            help={
              <div className="placeholders">
                {FILE_NAME_PLACEHOLDERS.map((placeholder) => (
                  <button
                    key={placeholder.name}
                    type="button"
                    className="chip"
                    title={`Insert ${placeholder.name}: ${placeholder.meaning}`}
                    onClick={() => update({ file_name_template: form.file_name_template + placeholder.name })}
                  >
                    {placeholder.name}
                  </button>
                ))}
                <span className="muted"> .mp4 is added; a taken name gets -2, -3, …</span>
              </div>
            }
          >
            <input
              id="settings-template"
              type="text"
              value={form.file_name_template}
              onChange={(event) => update({ file_name_template: event.target.value })}
            />
          </Row>
        </fieldset>

        <fieldset className="settings-group">
          <legend>Running</legend>
          <Row label="Local renders at once" htmlFor="settings-local-concurrency" error={fieldError("local_concurrency")}>
            <input
              id="settings-local-concurrency"
              type="number"
              min={1}
              value={form.local_concurrency}
              onChange={(event) => update({ local_concurrency: Number(event.target.value) })}
            />
          </Row>
          <Row label="fal.ai requests at once" htmlFor="settings-fal-concurrency" error={fieldError("fal_concurrency")}>
            <input
              id="settings-fal-concurrency"
              type="number"
              min={1}
              value={form.fal_concurrency}
              onChange={(event) => update({ fal_concurrency: Number(event.target.value) })}
            />
          </Row>
          <Row
            label="Attempts per job"
            htmlFor="settings-max-attempts" error={fieldError("max_attempts")}
            help="Transient errors are retried until this many attempts ran. A permanent error, such as a bad image, fails at once."
          >
            <input
              id="settings-max-attempts"
              type="number"
              min={1}
              value={form.max_attempts}
              onChange={(event) => update({ max_attempts: Number(event.target.value) })}
            />
          </Row>
          <Row
            label="Time limits per attempt (minutes)" error={fieldError("limits")}
            help="At the soft limit the generator is asked to stop. At the hard limit the attempt ends as timed out."
          >
            <div className="limits">
              {LIMITS.map(({ key, label }) => (
                <label key={key} className="limit">
                  <span>{label}</span>
                  <input
                    type="number"
                    min={0}
                    step="any"
                    data-testid={`limit-${key}`}
                    value={minutes[key]}
                    onChange={(event) => {
                      setMinutes({ ...minutes, [key]: event.target.value });
                      setSavedAt(null);
                    }}
                  />
                </label>
              ))}
            </div>
          </Row>
        </fieldset>

        <fieldset className="settings-group">
          <legend>Watch folder</legend>
          <Row
            label="Folder"
            htmlFor="settings-watch-dir" error={fieldError("watch_dir")}
            help="New images in this folder are paired and queued with the new-pair settings."
          >
            <div className="inline">
              <input
                id="settings-watch-dir"
                type="text"
                value={form.watch_dir ?? ""}
                placeholder="Not watching"
                onChange={(event) => update({ watch_dir: event.target.value === "" ? null : event.target.value })}
              />
              <button
                type="button"
                onClick={() => void pickFolder("Folder to watch for new images", (watch_dir) => update({ watch_dir }))}
              >
                Choose…
              </button>
              <button type="button" disabled={form.watch_dir === null} onClick={() => update({ watch_dir: null })}>
                Clear
              </button>
            </div>
          </Row>
          <Row label="Pairing in the watch folder" htmlFor="settings-watch-pairing">
            {ruleSelect("settings-watch-pairing", form.watch_pairing, (watch_pairing) => update({ watch_pairing }))}
          </Row>
          <Row label="Notify when the queue finishes" htmlFor="settings-notify">
            <input
              id="settings-notify"
              type="checkbox"
              checked={form.notify_on_finish}
              onChange={(event) => update({ notify_on_finish: event.target.checked })}
            />
          </Row>
        </fieldset>

        <div className="settings-actions">
          <button type="submit" className="primary" data-testid="settings-save" disabled={saving}>
            {saving ? "Saving…" : "Save"}
          </button>
          {savedAt !== null ? <span className="ok-text">Saved.</span> : null}
          {saveError && errorField === null ? <ErrorText testId="settings-error">{saveError}</ErrorText> : null}
          {saveError && errorField !== null ? <span className="error-text">Not saved; see the marked field.</span> : null}
        </div>
      </form>

      <fieldset className="settings-group">
        <legend>Folders</legend>
        <p>
          History and logs: <code className="selectable">{view.data_dir}</code>
        </p>
        <p>
          Log files: <code className="selectable">{view.log_dir}</code>{" "}
          <button
            type="button"
            onClick={() =>
              api.openLogDir().catch((reason: unknown) => setSaveError(`Opening the log folder failed: ${api.errorMessage(reason)}`))
            }
          >
            Open
          </button>
        </p>
      </fieldset>
    </section>
  );
}
