import { useState, type Dispatch, type PointerEvent } from "react";

import { effectiveSettings, type DraftAction, type DraftPairItem, type PairSettings } from "../draft";
import { formatPrice } from "../format";
import type { AppInfo, PairCheck } from "../types";
import { ErrorText, Thumb } from "./common";
import { modelLabel, PairSettingsFields } from "./PairSettingsFields";

/** Pointer handlers of a row's drag handle, supplied by the list that reorders. */
export interface ReorderHandlers {
  onPointerDown: (event: PointerEvent<HTMLElement>) => void;
  onPointerMove: (event: PointerEvent<HTMLElement>) => void;
  onPointerUp: (event: PointerEvent<HTMLElement>) => void;
  onPointerCancel: (event: PointerEvent<HTMLElement>) => void;
}

interface DraftPairRowProps {
  pair: DraftPairItem;
  index: number;
  defaults: PairSettings;
  info: AppInfo | null;
  /** Result of the last check of this pair, or undefined before the first one arrives. */
  check: PairCheck | undefined;
  selected: boolean;
  onSelect: () => void;
  dispatch: Dispatch<DraftAction>;
  reorder: ReorderHandlers;
  /** Extra classes while the list is being reordered. */
  dragClass: string;
}

export function DraftPairRow(props: DraftPairRowProps) {
  const { pair, index, defaults, info, check, selected, onSelect, dispatch, reorder, dragClass } = props;
  const [expanded, setExpanded] = useState(false);
  const settings = effectiveSettings(defaults, pair.overrides);
  const overridden = new Set(Object.keys(pair.overrides) as (keyof PairSettings)[]);
  // Provider and model change together, so they count as one setting.
  const overrideCount = overridden.size - (overridden.has("provider") && overridden.has("model") ? 1 : 0);
  const errors = check?.errors ?? [];
  const price = check ? formatPrice(check.price_usd) : "…";
  const highlight = (key: keyof PairSettings) => (overridden.has(key) ? "summary-part overridden" : "summary-part");

  return (
    <div
      className={`draft-pair ${selected ? "selected" : ""} ${errors.length ? "invalid" : ""} ${dragClass}`}
      data-testid="draft-pair"
      data-front={pair.front.path}
      data-tail={pair.tail.path}
      data-pair-id={pair.id}
      aria-selected={selected}
      tabIndex={0}
      onPointerDown={onSelect}
      onFocus={onSelect}
    >
      <div className="draft-pair-main">
        <span
          className="drag-handle"
          data-testid="pair-handle"
          title="Drag to reorder (or Alt+↑/↓)"
          aria-label={`Reorder pair ${index + 1}`}
          role="button"
          {...reorder}
        >
          ⠿
        </span>
        <span className="pair-index">{index + 1}</span>
        <Thumb url={pair.front.thumb_url} label={pair.front.name} />
        <span className="pair-arrow" aria-hidden="true">
          →
        </span>
        <Thumb url={pair.tail.thumb_url} label={pair.tail.name} />
        <div className="pair-text">
          <div className="pair-names" title={`${pair.front.path} → ${pair.tail.path}`}>
            <span data-testid="pair-front-name">{pair.front.name}</span>
            <span className="muted"> → </span>
            <span data-testid="pair-tail-name">{pair.tail.name}</span>
          </div>
          <div className="pair-summary">
            <span className={highlight("type")}>{settings.type}</span>
            <span className={highlight("duration")}>{settings.duration} s</span>
            <span className={overridden.has("model") || overridden.has("provider") ? "summary-part overridden" : "summary-part"}>
              {modelLabel(info, settings.provider, settings.model)}
            </span>
            <span className={highlight("resolution")}>{settings.resolution}</span>
            <span className={highlight("aspect")}>{settings.aspect}</span>
            <span className={highlight("fps")}>{settings.fps} fps</span>
            {overrideCount ? <span className="summary-note">{overrideCount} set on this pair</span> : null}
          </div>
        </div>
        <span className="pair-price" data-testid="pair-price" title="Estimated price">
          {price}
        </span>
        <div className="row-actions">
          <button
            type="button"
            className="icon-button"
            data-testid="pair-swap"
            title="Swap front and tail"
            aria-label={`Swap front and tail of pair ${index + 1}`}
            onClick={() => dispatch({ type: "swap", id: pair.id })}
          >
            ⇄
          </button>
          <button
            type="button"
            className={`icon-button ${expanded ? "active" : ""}`}
            data-testid="pair-settings-toggle"
            title="Settings of this pair"
            aria-expanded={expanded}
            aria-label={`Settings of pair ${index + 1}`}
            onClick={() => setExpanded(!expanded)}
          >
            ⚙
          </button>
          <button
            type="button"
            className="icon-button danger"
            data-testid="pair-remove"
            title="Remove (Delete)"
            aria-label={`Remove pair ${index + 1}`}
            onClick={() => dispatch({ type: "remove", id: pair.id })}
          >
            ✕
          </button>
        </div>
      </div>
      {errors.length ? (
        <ErrorText testId="pair-errors">
          {errors.map((error) => (
            <div key={error}>{error}</div>
          ))}
        </ErrorText>
      ) : null}
      {expanded ? (
        <div className="pair-overrides" data-testid="pair-overrides">
          <PairSettingsFields
            info={info}
            idPrefix={`pair-${pair.id}`}
            values={settings}
            overridden={overridden}
            onChange={(patch) => dispatch({ type: "override", id: pair.id, patch })}
            onReset={(keys) =>
              dispatch({ type: "override", id: pair.id, patch: Object.fromEntries(keys.map((key) => [key, undefined])) })
            }
          />
        </div>
      ) : null}
    </div>
  );
}
