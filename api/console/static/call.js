// A call's page: the stereo recording as two waveforms (callee left, robot right) with one
// region per transcript turn; clicking a turn seeks the audio, playing highlights the turn.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("waveform");
  const turns = [...document.querySelectorAll("#turns .turn")];
  const play = document.getElementById("play");
  const clock = document.getElementById("audio-time");
  let current = null;

  function highlight(seconds) {
    let found = null;
    for (const turn of turns) {
      const start = Number(turn.dataset.start);
      const end = Number(turn.dataset.end);
      if (seconds >= start && seconds < end) found = turn;
    }
    if (found === current) return;
    if (current) current.classList.remove("current");
    if (current) current.removeAttribute("aria-current");
    current = found;
    if (current) {
      current.classList.add("current");
      current.setAttribute("aria-current", "true");
    }
  }

  if (!container || !window.CallrobotWaveSurfer) return;
  const { WaveSurfer, RegionsPlugin } = window.CallrobotWaveSurfer;
  const regions = RegionsPlugin.create();
  const wave = WaveSurfer.create({
    container,
    url: container.dataset.url,
    height: 70,
    normalize: true,
    interact: true,
    dragToSeek: true,
    splitChannels: [
      { waveColor: "#5f9f62", progressColor: "#2e7d32" },
      { waveColor: "#6f93cf", progressColor: "#1f5fbf" },
    ],
    plugins: [regions],
  });
  window.callrobotWave = wave;

  wave.on("decode", () => {
    turns.forEach((turn) => {
      const robot = turn.dataset.who === "robot";
      regions.addRegion({
        id: "region-" + turn.dataset.index,
        start: Number(turn.dataset.start),
        end: Number(turn.dataset.end),
        color: robot ? "rgba(31, 95, 191, 0.14)" : "rgba(46, 125, 50, 0.16)",
        content: turn.dataset.index,
        drag: false,
        resize: false,
      });
    });
    container.dataset.regions = String(regions.getRegions().length);
    if (play) play.disabled = false;
  });
  wave.on("timeupdate", (seconds) => {
    highlight(seconds);
    if (clock) clock.textContent = seconds.toFixed(1) + " s";
  });
  wave.on("play", () => { if (play) play.textContent = "Pause"; });
  wave.on("pause", () => { if (play) play.textContent = "Play"; });
  wave.on("error", (error) => {
    container.dataset.error = String(error);
  });
  regions.on("region-clicked", (region, event) => {
    event.stopPropagation();
    wave.setTime(region.start);
  });
  if (play) play.addEventListener("click", () => wave.playPause());

  turns.forEach((turn) => {
    const button = turn.querySelector("button.seek");
    if (!button) return;
    button.addEventListener("click", () => {
      wave.setTime(Number(turn.dataset.start));
      highlight(Number(turn.dataset.start));
    });
  });
});
