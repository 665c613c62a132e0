// The learner's page half of talklab.views.microphone.BrowserMicrophone (an anywidget ES
// module): on a click, getUserMedia; an AudioWorklet taps the microphone at the context's own
// rate, 20 ms frames go to the kernel as binary buffers of custom messages (never in traits: a
// saved notebook keeps no voice); what the kernel sends back ("play") is played with Web Audio
// and measured here (level, dominant frequency), and the measures are reported to the kernel.
// For the two legs of latency (talklab.browser.latency) the page stamps each frame it sends with
// its clock, keeps the loudness of each frame it plays with the time it will be heard, and asks
// the kernel the time now and then (the kernel works out the two clocks' offset).

// an AudioWorklet's code must be a module of its own: anywidget loads this file from a Blob
// URL, so the worklet is inlined and loaded from a Blob URL too
const TAP = `
class TalklabTap extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage({ samples: channel.slice(0), at: currentFrame });
    return true;
  }
}
registerProcessor("talklab-tap", TalklabTap);
`;

const LEAD = 0.08; // s of playback scheduled ahead: the page's own small jitter buffer
const AHEAD = 0.25; // s scheduled ahead at most: past it a frame is dropped (catching up)
const BEHIND = 100; // frames sent and not yet acknowledged (2 s): past this, the kernel is busy

function dominant(analyser, rate) {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[best]) best = i;
  const [a, b, c] = [bins[best - 1], bins[best], bins[best + 1]];
  const shift = (a - c) / (2 * (a - 2 * b + c)) || 0; // parabolic interpolation
  return { hz: ((best + shift) * rate) / analyser.fftSize, peak: b };
}

function levelDb(analyser) {
  const samples = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  return rms > 0 ? 20 * Math.log10(rms) : -120;
}

function render({ model, el }) {
  el.classList.add("talklab-microphone");
  el.innerHTML = `
    <div style="display:flex;gap:.6em;align-items:center;flex-wrap:wrap">
      <button class="jupyter-button talklab-join">Join with your microphone</button>
      <span class="talklab-state"></span>
    </div>
    <div style="display:flex;gap:1.2em;align-items:center;font-size:90%;margin-top:.3em">
      <span>your voice, going up <meter class="talklab-up" min="-60" max="0" low="-45"
        value="-60" style="width:8em"></meter></span>
      <span class="talklab-down-meter" style="display:none">what you hear, coming down
        <meter class="talklab-down" min="-60" max="0" low="-45" value="-60" style="width:8em">
        </meter></span>
      <span>use headphones: your speakers would feed the room back into your microphone</span>
    </div>
    <div class="talklab-latency" style="font-size:85%;margin-top:.2em"></div>`;
  const button = el.querySelector(".talklab-join");
  const stateText = el.querySelector(".talklab-state");
  const up = el.querySelector(".talklab-up");
  const down = el.querySelector(".talklab-down");
  const latency = el.querySelector(".talklab-latency");
  const now = () => performance.timeOrigin + performance.now(); // ms, this page's clock
  // the audio clock's time (s) on this page's clock (ms): the context renders "now", give or
  // take a block of 128 samples (the main thread's messages arrive in bursts; this clock does not)
  const onPageClock = (contextTime) => now() - 1000 * (ctx.currentTime - contextTime);
  let heard = []; // [ms when it will be heard, dBFS] of each frame played since the last report
  let ticks = 0;

  let stream = null, ctx = null, tap = null, inMeter = null, outMeter = null, outGain = null;
  let sent = 0, acked = 0, pending = [], pendingSize = 0, nextPlay = 0, timer = null;
  let closed = false;

  // every message to the kernel goes through here: once the kernel is gone (restarted,
  // shut down) its connection refuses to send, and the microphone is let go
  let kernelGone = false;
  const tell = (content, buffers) => {
    if (kernelGone) return;
    try {
      model.send(content, undefined, buffers);
    } catch (e) {
      kernelGone = true;
      stop("");
      show(); // (the kernel can no longer say so: this page does)
    }
  };
  const say = (state, detail = "") => tell({ type: "state", state, detail });
  const rates = () => `${ctx.sampleRate} Hz in your browser, 48 kHz in the kernel`;
  let busy = false; // said here: a busy kernel would hear of it only after its cell
  const show = () => {
    const detail = model.get("detail");
    // (the kernel says "no browser" until this page tells it it is here: a moment)
    const label = model.get("state") === "no browser" ? "shown in your browser: telling the kernel"
      : model.get("label");
    stateText.textContent = kernelGone ? "closed: the kernel this microphone belonged to " +
      "has gone (restarted or shut down), and your microphone is released. Run the cell " +
      "that makes it again, then click its new button"
      : busy ? model.get("paused_label") : label + (detail ? ` (${detail})` : "");
    button.disabled = kernelGone || ["streaming", "paused"].includes(model.get("state"));
    if (kernelGone) { up.value = down.value = -60; latency.textContent = ""; }
  };
  model.on("change:label", show);
  model.on("change:detail", show);
  model.on("change:state", show);
  show();
  say("attached", `${window.isSecureContext ? "secure" : "not secure"} ` +
      `${location.protocol}//${location.host}`);

  async function start() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      say("insecure", `${location.protocol}//${location.host}`);
      return;
    }
    const processing = model.get("processing");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: {
        echoCancellation: processing, noiseSuppression: processing,
        autoGainControl: processing } });
    } catch (e) {
      say("refused", `${e.name}: ${e.message}`);
      return;
    }
    ctx = new AudioContext();
    const url = URL.createObjectURL(new Blob([TAP], { type: "text/javascript" }));
    await ctx.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    const source = ctx.createMediaStreamSource(stream);
    tap = new AudioWorkletNode(ctx, "talklab-tap");
    inMeter = ctx.createAnalyser();
    inMeter.fftSize = 2048;
    const mute = ctx.createGain(); // the tap is pulled by the graph, and nothing is heard
    mute.gain.value = 0;
    source.connect(tap).connect(mute).connect(ctx.destination);
    source.connect(inMeter);
    outGain = ctx.createGain();
    outMeter = ctx.createAnalyser();
    outMeter.fftSize = 8192;
    outGain.connect(outMeter);
    outGain.connect(ctx.destination);
    const frame = Math.round(ctx.sampleRate / 50); // 20 ms at the context's own rate
    let pendingAt = 0; // the audio clock's frame number of pending's first sample
    tap.port.onmessage = ({ data }) => {
      if (!ctx) return; // (a last message from the worklet, after the microphone closed)
      if (!pendingSize) pendingAt = data.at;
      pending.push(data.samples);
      pendingSize += data.samples.length;
      while (pendingSize >= frame) {
        const out = new Float32Array(frame);
        let filled = 0;
        while (filled < frame) {
          const head = pending[0];
          const n = Math.min(head.length, frame - filled);
          out.set(head.subarray(0, n), filled);
          filled += n;
          if (n === head.length) pending.shift(); else pending[0] = head.subarray(n);
        }
        pendingSize -= frame;
        pendingAt += frame;
        if (sent - acked > BEHIND) continue; // the kernel is busy: these 20 ms are dropped
        sent += 1;
        const t = onPageClock(pendingAt / ctx.sampleRate); // when its last sample came
        tell({ type: "pcm", rate: ctx.sampleRate, t }, [out.buffer]);
      }
    };
    timer = setInterval(report, 250);
    say("streaming", rates());
  }

  function report() {
    if (!ctx) return;
    up.value = Math.max(-60, levelDb(inMeter));
    const level = levelDb(outMeter);
    down.value = Math.max(-60, level);
    const { hz } = dominant(outMeter, ctx.sampleRate);
    const wasBusy = busy;
    busy = sent - acked > BEHIND;
    if (busy !== wasBusy) { show(); say(busy ? "paused" : "streaming", rates()); }
    if (busy && !wasBusy) el.dataset.paused = String(+(el.dataset.paused || 0) + 1);
    if (busy) tell({ type: "ping" }); // answered once the kernel reads messages again
    if (!ctx) return;
    if (ticks++ % 8 === 0) tell({ type: "clock", t0: now() }); // every 2 s: the kernel's time?
    const input = stream.getAudioTracks()[0]?.getSettings().latency;
    tell({ type: "playback", level_dbfs: level, hz: level > -60 ? hz : null,
                 queued: Math.max(0, nextPlay - ctx.currentTime), sent, acked,
                 tracks: stream.getTracks().map(t => t.readyState),
                 heard: heard.splice(0), input_latency: input ?? null });
  }

  function play(buffers, rate) {
    if (!ctx) return;
    if (nextPlay - ctx.currentTime > AHEAD) { el.dataset.dropped = +(el.dataset.dropped || 0) + 1; return; }
    const view = buffers[0];
    const ints = new Int16Array(view.buffer, view.byteOffset, view.byteLength / 2);
    const audio = ctx.createBuffer(1, ints.length, rate);
    const floats = audio.getChannelData(0);
    for (let i = 0; i < ints.length; i++) floats[i] = ints[i] / 32768;
    const node = ctx.createBufferSource();
    node.buffer = audio;
    node.connect(outGain);
    const at = ctx.currentTime;
    if (nextPlay < at + 0.01) nextPlay = at + LEAD; // ran dry: wait LEAD again
    node.start(nextPlay);
    // when this frame reaches the speakers, on this page's clock: when the context plays it,
    // plus what the output adds after the context
    const when = onPageClock(nextPlay) + 1000 * (ctx.outputLatency || 0);
    let sum = 0;
    for (const f of floats) sum += f * f;
    const rms = Math.sqrt(sum / floats.length);
    if (heard.length < 100) heard.push([when, rms > 0 ? 20 * Math.log10(rms) : -120]);
    nextPlay += audio.duration;
  }

  function stop(why) {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    if (stream) stream.getTracks().forEach(t => t.stop()); // the microphone is released
    const tracks = stream ? stream.getTracks().map(t => t.readyState) : [];
    if (ctx) ctx.close();
    ctx = null;
    el.dataset.tracks = tracks.join(",");
    if (why) tell({ type: "state", state: "closed", detail: why, tracks });
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "ack") acked = msg.received;
    else if (msg.type === "clock") tell({ type: "clock", t0: msg.t0, t1: now(), tk: msg.tk });
    else if (msg.type === "latency") latency.textContent = msg.text;
    else if (msg.type === "play") {  // (the meter shows once there is something to hear)
      el.querySelector(".talklab-down-meter").style.display = "";
      play(buffers, msg.rate);
    }
    else if (msg.type === "close") stop(msg.why || "closed");
  });
  button.addEventListener("click", () => { closed = false; start(); });
  // the view goes (cell cleared, notebook closed, the kernel restarted and its widgets with
  // it): let the microphone go, and, if the kernel had not closed it, say that it has gone
  return () => {
    if (!closed) { kernelGone = true; stop(""); show(); }
  };
}

export default { render };
