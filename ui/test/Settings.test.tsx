import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../src/api";
import { SettingsPanel } from "../src/components/SettingsPanel";
import type { KeyStatus, SettingsView } from "../src/types";
import { installApiDefaults, makeInfo, makeSettingsView } from "./helpers";

vi.mock("../src/api", async (importOriginal) => (await import("./helpers")).apiModuleMock(await importOriginal()));

function renderSettings(view: SettingsView = makeSettingsView()) {
  const onSaved = vi.fn();
  const onKeyStatus = vi.fn();
  const result = render(<SettingsPanel info={makeInfo()} view={view} onSaved={onSaved} onKeyStatus={onKeyStatus} />);
  return { ...result, onSaved, onKeyStatus };
}

describe("Settings", () => {
  beforeEach(() => {
    installApiDefaults(api);
  });

  it("save sends minutes as seconds", async () => {
    const user = userEvent.setup();
    const { onSaved } = renderSettings();
    const hard = screen.getByTestId("limit-local_hard_limit_s");
    expect(hard).toHaveValue(15);
    await user.clear(hard);
    await user.type(hard, "20");
    await user.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(api.saveSettings).toHaveBeenCalledTimes(1));
    const [settings] = vi.mocked(api.saveSettings).mock.calls[0];
    expect(settings.local_hard_limit_s).toBe(1200);
    expect(settings.local_soft_limit_s).toBe(600);
    expect(onSaved).toHaveBeenCalled();
  });

  it("save error shows at field", async () => {
    vi.mocked(api.saveSettings).mockRejectedValue({
      kind: "bad_input",
      message: 'Output folder "clips" is not an absolute path; choose a folder',
    });
    const user = userEvent.setup();
    renderSettings();
    await user.click(screen.getByTestId("settings-save"));
    const error = await screen.findByTestId("settings-field-error");
    expect(error).toHaveTextContent("is not an absolute path");
    const row = screen.getByLabelText("Output folder").closest(".settings-row") as HTMLElement;
    expect(within(row).getByTestId("settings-field-error")).toBe(error);
  });

  it("unplaced save error shows at form", async () => {
    vi.mocked(api.saveSettings).mockRejectedValue({ kind: "io", message: "writing settings.json failed: disk full" });
    const user = userEvent.setup();
    renderSettings();
    await user.click(screen.getByTestId("settings-save"));
    expect(await screen.findByTestId("settings-error")).toHaveTextContent("disk full");
  });

  it("saved key is never shown again", async () => {
    const saved: KeyStatus = { present: true, source: "keychain", masked: "••••9z8y", keychain_error: null };
    vi.mocked(api.setFalKey).mockResolvedValue(saved);
    const user = userEvent.setup();
    const { onKeyStatus, rerender } = renderSettings();
    const input = screen.getByTestId("fal-key-input");
    expect(input).toHaveAttribute("type", "password");
    await user.type(input, "secret-key-9z8y");
    await user.click(screen.getByTestId("fal-key-save"));
    expect(api.setFalKey).toHaveBeenCalledWith("secret-key-9z8y");
    await waitFor(() => expect(onKeyStatus).toHaveBeenCalledWith(saved));
    rerender(
      <SettingsPanel
        info={makeInfo()}
        view={{ ...makeSettingsView(), fal_key: saved }}
        onSaved={vi.fn()}
        onKeyStatus={onKeyStatus}
      />,
    );
    expect(screen.getByTestId("fal-key-input")).toHaveValue("");
    expect(screen.getByTestId("fal-key-status")).toHaveTextContent("••••9z8y");
    expect(document.body.textContent).not.toContain("secret-key-9z8y");
  });

  it("remove clears the saved key", async () => {
    const user = userEvent.setup();
    const view = { ...makeSettingsView(), fal_key: { present: true, source: "keychain", masked: "••••1a2b", keychain_error: null } };
    const { onKeyStatus } = renderSettings(view);
    await user.click(within(screen.getByTestId("fal-key-status")).getByRole("button", { name: "Remove" }));
    expect(api.clearFalKey).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(onKeyStatus).toHaveBeenCalledWith(expect.objectContaining({ present: false })));
  });

  it("folder picker fills the output folder", async () => {
    vi.mocked(api.pickFolder).mockResolvedValue("/media/clips");
    const user = userEvent.setup();
    renderSettings();
    const row = screen.getByLabelText("Output folder").closest(".settings-row") as HTMLElement;
    await user.click(within(row).getByRole("button", { name: "Choose…" }));
    await waitFor(() => expect(screen.getByLabelText("Output folder")).toHaveValue("/media/clips"));
  });
});
