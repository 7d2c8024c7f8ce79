// Sound: the melodies from the `melodies` query, played with the Web Audio API (an OscillatorNode
// per note through a short gain envelope, so the tones neither click nor need audio files).
//
// Browsers start an AudioContext only after the user has interacted with the page, so the context
// is made (or resumed) on the first click or key press. When a melody has finished playing, the
// page counts it on <body data-sounds-played data-last-melody>: what the browser tests check.

import { $, t } from "./core.js";

const melodies = new Map();
let audio = null;

export function setMelodies(list) {
  melodies.clear();
  for (const melody of list) melodies.set(melody.id, melody);
}

export function melodyList() {
  return [...melodies.values()];
}

function context() {
  if (!audio) audio = new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

for (const event of ["pointerdown", "keydown"]) {
  document.addEventListener(event, () => {
    context();
    $("sound-hint").hidden = true;
  }, { capture: true, passive: true });
}

// A melody asked for before the user has touched the page (after a reload) stays silent: say so.
function hintIfSilent(ctx) {
  if (ctx.state !== "suspended") return;
  $("sound-hint").textContent = t("sound-hint");
  $("sound-hint").hidden = false;
}

/** Play a melody by id (the default one for an unknown id); resolves when it has finished. */
export function play(id) {
  const melody = melodies.get(id) || melodies.get("default");
  if (!melody || melody.notes.length === 0) return Promise.resolve(false);
  const ctx = context();
  hintIfSilent(ctx);
  const start = ctx.currentTime + 0.03;
  const volume = ctx.createGain();
  volume.gain.value = 0.2;
  volume.connect(ctx.destination);
  let last = null;
  let lastEnd = -1;
  for (const note of melody.notes) {
    const begin = start + note.startMs / 1000;
    const end = begin + note.durationMs / 1000;
    const oscillator = ctx.createOscillator();
    oscillator.type = melody.waveform.toLowerCase();
    oscillator.frequency.value = note.frequencyHz;
    const envelope = ctx.createGain();
    envelope.gain.setValueAtTime(0, begin);
    envelope.gain.linearRampToValueAtTime(1, begin + 0.01);
    envelope.gain.setValueAtTime(1, Math.max(begin + 0.01, end - 0.03));
    envelope.gain.linearRampToValueAtTime(0, end);
    oscillator.connect(envelope).connect(volume);
    oscillator.start(begin);
    oscillator.stop(end);
    if (end > lastEnd) [last, lastEnd] = [oscillator, end];
  }
  return new Promise((resolve) => {
    last.addEventListener("ended", () => {
      volume.disconnect();
      const body = document.body.dataset;
      body.soundsPlayed = String(Number(body.soundsPlayed || 0) + 1);
      body.lastMelody = melody.id;
      resolve(true);
    });
  });
}
