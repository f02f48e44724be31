// Payload types as they arrive at run time.
//
// The Rust side marks its 64-bit integer fields as `number` for ts-rs,
// because serde_json sends them as plain JSON numbers. `Wire<T>` turns any
// `bigint` a future binding still carries into `number`, since Tauri's IPC
// parses with JSON.parse and JSON.stringify throws on a BigInt. The rest of
// the UI imports its types from here.

import type { AppInfo as AppInfoBinding } from "./bindings/AppInfo";
import type { AttemptRecord as AttemptRecordBinding } from "./bindings/AttemptRecord";
import type { HistoryPage as HistoryPageBinding } from "./bindings/HistoryPage";
import type { HistoryQuery as HistoryQueryBinding } from "./bindings/HistoryQuery";
import type { JobDetail as JobDetailBinding } from "./bindings/JobDetail";
import type { JobEvent as JobEventBinding } from "./bindings/JobEvent";
import type { JobRequest as JobRequestBinding } from "./bindings/JobRequest";
import type { JobRow as JobRowBinding } from "./bindings/JobRow";
import type { OutputInfo as OutputInfoBinding } from "./bindings/OutputInfo";
import type { Overview as OverviewBinding } from "./bindings/Overview";
import type { Settings as SettingsBinding } from "./bindings/Settings";
import type { SettingsView as SettingsViewBinding } from "./bindings/SettingsView";

export type Wire<T> = T extends bigint
  ? number
  : T extends (infer Item)[]
    ? Wire<Item>[]
    : T extends object
      ? { [Key in keyof T]: Wire<T[Key]> }
      : T;

export type AppInfo = Wire<AppInfoBinding>;
export type AttemptRecord = Wire<AttemptRecordBinding>;
export type HistoryPage = Wire<HistoryPageBinding>;
export type HistoryQuery = Wire<HistoryQueryBinding>;
export type JobDetail = Wire<JobDetailBinding>;
export type JobEvent = Wire<JobEventBinding>;
export type JobRequest = Wire<JobRequestBinding>;
export type JobRow = Wire<JobRowBinding>;
export type OutputInfo = Wire<OutputInfoBinding>;
export type Overview = Wire<OverviewBinding>;
export type Settings = Wire<SettingsBinding>;
export type SettingsView = Wire<SettingsViewBinding>;

export type { Aspect } from "./bindings/Aspect";
export type { BatchCheck } from "./bindings/BatchCheck";
export type { BatchSummary } from "./bindings/BatchSummary";
export type { DraftPair } from "./bindings/DraftPair";
export type { Fit } from "./bindings/Fit";
export type { ImageItem } from "./bindings/ImageItem";
export type { ImportResult } from "./bindings/ImportResult";
export type { IpcError } from "./bindings/IpcError";
export type { IpcErrorKind } from "./bindings/IpcErrorKind";
export type { JobId } from "./bindings/JobId";
export type { JobState } from "./bindings/JobState";
export type { KeyStatus } from "./bindings/KeyStatus";
export type { ModelChoice } from "./bindings/ModelChoice";
export type { PairCheck } from "./bindings/PairCheck";
export type { PairingRule } from "./bindings/PairingRule";
export type { Resolution } from "./bindings/Resolution";
export type { SlotUse } from "./bindings/SlotUse";
export type { Stage } from "./bindings/Stage";
export type { TransitionKind } from "./bindings/TransitionKind";
export type { TypeInfo } from "./bindings/TypeInfo";
export type { WatchNotice } from "./bindings/WatchNotice";
