// End-to-end test of the desktop app: the real segue-app binary in a real
// WebKitGTK webview under Xvfb, driven through tauri-driver.
//
// It drops two photos (a folder name with spaces, file names with accents
// and CJK characters) onto the window with a real XDND drag, queues the
// pair with the local renderer, follows the job's progress, finds it in
// history, opens the player and checks the played clip's duration. It
// saves screenshots of each screen to SEGUE_E2E_SHOTS and prints the folder.
//
// run.sh starts Xvfb, a D-Bus session and tauri-driver, then this file.

import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { remote } from 'webdriverio';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const app = process.env.SEGUE_APP ?? join(repo, 'target/debug/segue-app');
const shots = resolve(process.env.SEGUE_E2E_SHOTS ?? join(repo, 'target/e2e-screenshots'));
const work = process.env.SEGUE_E2E_WORK;
const dataDir = join(work, 'data');
const outDir = join(work, 'clips');
const photos = join(work, 'Shot A café');

const results = [];
function step(name) {
  console.log(`# ${name}`);
  results.push(name);
}

/** Polls `probe` until it returns a truthy value or `ms` pass. */
async function until(what, probe, ms = 30000, every = 100) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

async function shot(browser, name) {
  // The webview paints after React commits; two animation frames and a
  // short wait make sure the screenshot shows the new screen.
  await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
  await new Promise((r) => setTimeout(r, 300));
  const path = join(shots, `${name}.png`);
  await browser.saveScreenshot(path);
  console.log(`# screenshot ${path}`);
}

/** Drags `files` from a GTK drag source at (1350, 300) into the window. */
async function realDrop(files, target) {
  const source = spawn('/usr/bin/python3', [join(here, 'drag_source.py'), '1350', '300', ...files], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await until('the drag source window', () => new Promise((r) => {
    source.stdout.once('data', (d) => r(String(d).includes('ready')));
  }), 10000);
  await new Promise((r) => setTimeout(r, 500));
  const xdo = (...args) => execFileSync('xdotool', args.map(String));
  xdo('mousemove', 1450, 380);
  xdo('mousedown', 1);
  for (let i = 1; i <= 20; i += 1) {
    const x = Math.round(1450 + ((target.x - 1450) * i) / 20);
    const y = Math.round(380 + ((target.y - 380) * i) / 20);
    xdo('mousemove', x, y);
    await new Promise((r) => setTimeout(r, 40));
  }
  await new Promise((r) => setTimeout(r, 300));
  xdo('mouseup', 1);
  await new Promise((r) => setTimeout(r, 500));
  source.kill();
}

function probeDuration(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  return Number(String(out).trim());
}

mkdirSync(shots, { recursive: true });
mkdirSync(dataDir, { recursive: true });
mkdirSync(outDir, { recursive: true });
mkdirSync(photos, { recursive: true });
const front = join(photos, '01 front été.jpg');
const tail = join(photos, '02 tail 写真.jpg');
copyFileSync(join(repo, 'samples/01-dandelions-1920x1080.jpg'), front);
copyFileSync(join(repo, 'samples/05-mountains-1600x1200.jpg'), tail);
// The settings file the app reads at start: clips go to this run's folder.
writeFileSync(join(dataDir, 'settings.json'), JSON.stringify({ output_dir: outDir, pairing: 'chain' }));

const browser = await remote({
  hostname: '127.0.0.1',
  port: 4444,
  logLevel: 'warn',
  capabilities: {
    'tauri:options': { application: app },
    'wdio:enforceWebDriverClassic': true,
  },
});

let failed = false;
try {
  step('the window shows the queue screen');
  const navQueue = await browser.$('[data-testid="nav-queue"]');
  await navQueue.waitForDisplayed({ timeout: 30000 });
  await shot(browser, '01-empty');

  step('a real drop of two photos forms one pair with the exact paths');
  const zone = await browser.$('[data-testid="drop-zone"]');
  await zone.waitForDisplayed({ timeout: 10000 });
  const loc = await zone.getLocation();
  const size = await zone.getSize();
  await realDrop([front, tail], { x: Math.round(loc.x + size.width / 2), y: Math.round(loc.y + size.height / 2) });
  const pair = await browser.$('[data-testid="draft-pair"]');
  await pair.waitForExist({ timeout: 20000 });
  assert.equal(await pair.getAttribute('data-front'), front);
  assert.equal(await pair.getAttribute('data-tail'), tail);
  assert.equal((await browser.$$('[data-testid="draft-pair"]')).length, 1);
  await until('thumbnails to load', () => browser.execute(() =>
    [...document.querySelectorAll('[data-testid="draft-pair"] img')].length >= 2 &&
    [...document.querySelectorAll('[data-testid="draft-pair"] img')].every((img) => img.complete && img.naturalWidth > 0)), 20000);
  await shot(browser, '02-draft');

  step('queueing the pair starts a local render with live progress');
  const queueButton = await browser.$('[data-testid="queue-draft"]');
  await until('the queue button to be enabled', () => queueButton.isEnabled(), 10000);
  await queueButton.click();
  const card = await browser.$('[data-testid="job-card"]');
  await card.waitForExist({ timeout: 10000 });
  const jobId = await card.getAttribute('data-job-id');
  assert.match(jobId, /^[0-9a-f-]{36}$/);
  const seen = new Set();
  let maxPercent = 0;
  let midShot = false;
  await until('the job to succeed', async () => {
    const state = await card.getAttribute('data-state');
    seen.add(state);
    const text = await (await card.$('[data-testid="job-percent"]')).getText().catch(() => '');
    const percent = Number((text.match(/(\d+)%/) ?? [])[1] ?? 0);
    maxPercent = Math.max(maxPercent, percent);
    if (!midShot && state === 'running' && percent > 0) {
      midShot = true;
      await shot(browser, '03-queue-running');
    }
    if (state === 'failed') throw new Error(await card.getText());
    return state === 'succeeded';
  }, 180000, 150);
  assert.ok(seen.has('running'), `states seen: ${[...seen]}`);
  assert.ok(maxPercent > 0 && maxPercent <= 100, `largest percent shown: ${maxPercent}`);
  await shot(browser, '04-queue-done');

  step('the job is in history as succeeded');
  await (await browser.$('[data-testid="nav-history"]')).click();
  const row = await browser.$(`[data-testid="history-row"][data-job-id="${jobId}"]`);
  await row.waitForExist({ timeout: 10000 });
  assert.equal(await row.getAttribute('data-state'), 'succeeded');
  await shot(browser, '05-history');

  step('the player plays the clip with its real duration');
  await navQueue.click();
  await (await browser.$(`[data-testid="job-card"][data-job-id="${jobId}"] [data-testid="job-preview"]`)).click();
  const video = await browser.$('[data-testid="player-video"]');
  await video.waitForExist({ timeout: 10000 });
  const duration = await until('video metadata', () => browser.execute(() => {
    const v = document.querySelector('[data-testid="player-video"]');
    return v && v.readyState >= 1 && Number.isFinite(v.duration) ? v.duration : 0;
  }), 30000);
  assert.ok(Math.abs(duration - 5) < 0.1, `video duration ${duration}`);
  await browser.execute(() => {
    const v = document.querySelector('[data-testid="player-video"]');
    v.muted = true;
    return v.play();
  });
  const played = await until('playback to advance', () => browser.execute(() => {
    const v = document.querySelector('[data-testid="player-video"]');
    return v.currentTime > 0.5 ? v.currentTime : 0;
  }), 20000);
  assert.ok(played > 0.5);
  const error = await browser.execute(() => document.querySelector('[data-testid="player-video"]').error?.code ?? 0);
  assert.equal(error, 0);
  await shot(browser, '06-player');

  step('the settings screen shows the saved output folder and the key status');
  await browser.keys('Escape');
  await (await browser.$('[data-testid="nav-settings"]')).click();
  const form = await browser.$('[data-testid="settings-form"]');
  await form.waitForDisplayed({ timeout: 10000 });
  const showsFolder = await browser.execute((dir) =>
    [...document.querySelectorAll('[data-testid="settings-form"] input')].some((input) => input.value === dir), outDir);
  assert.ok(showsFolder, `no settings field shows ${outDir}`);
  assert.ok(await (await browser.$('[data-testid="fal-key-status"]')).isExisting());
  await shot(browser, '07-settings');

  step('a second launch hands its files to the running window and exits');
  await navQueue.click();
  const second = spawn(app, [front, tail], { stdio: 'ignore' });
  const code = await new Promise((r) => {
    const timer = setTimeout(() => r('still running'), 20000);
    second.on('exit', (c) => { clearTimeout(timer); r(c); });
  });
  if (code === 'still running') second.kill();
  assert.equal(code, 0, `the second instance did not exit at once: ${code}`);
  await until('the handed-over pair in the draft', async () =>
    (await browser.$$('[data-testid="draft-pair"]')).length === 1, 20000);
  const handed = await browser.$('[data-testid="draft-pair"]');
  assert.equal(await handed.getAttribute('data-front'), front);

  step('the clip on disk lasts 5 s');
  const clips = execFileSync('find', [outDir, '-name', '*.mp4']).toString().trim().split('\n').filter(Boolean);
  assert.equal(clips.length, 1, `clips: ${clips}`);
  assert.ok(existsSync(clips[0]));
  assert.ok(Math.abs(probeDuration(clips[0]) - 5) < 0.05);
} catch (err) {
  failed = true;
  console.error(`not ok: ${results.at(-1)}: ${err.stack ?? err}`);
  await shot(browser, 'failure').catch(() => {});
} finally {
  await browser.deleteSession().catch(() => {});
}
console.log(`# screenshots in ${shots}`);
if (failed) process.exit(1);
console.log(`ok: ${results.length} steps passed`);
