// The demo page: one call against this emulator, made the way @orga-ai/core 1.0.0 makes it
// (same transceivers, same data channel, non-trickle offer, same /calls body), in plain JS so
// that there is nothing to build. The session config comes from the emulator's dev helper,
// standing in for an app's backend.
"use strict";

const $ = (id) => document.getElementById(id);
const CHANNEL_LABEL = "orga-realtime-client-events";
const GATHER_TIMEOUT_MS = 5000; // what the SDK waits for ICE gathering at most

let call = null; // {pc, channel, stream, audioContext, stop[]} while a call is up

function setState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
  const active = !["idle", "closed", "failed"].includes(state);
  $("start").disabled = active;
  $("end").disabled = !active;
  $("send-update").disabled = state !== "connected";
}

function showNote(text) {
  $("note").textContent = text;
  $("note").hidden = !text;
}

function logEvent(direction, event) {
  const li = document.createElement("li");
  const type = event.type || event.event || "?";
  li.dataset.type = type;
  li.dataset.direction = direction;
  const time = new Date().toISOString().slice(11, 23);
  for (const [cls, text] of [
    ["time", time],
    ["dir", direction === "in" ? "↓" : "↑"],
    ["type", type],
    ["body", JSON.stringify(event)],
  ]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  li.title = JSON.stringify(event, null, 2);
  $("events").prepend(li);
}

function addItem(sender, text) {
  const li = document.createElement("li");
  li.dataset.sender = sender;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = sender === "user" ? "You" : "AI";
  li.append(who, document.createTextNode(text));
  $("items").append(li);
}

function onServerEvent(event) {
  logEvent("in", event);
  switch (event.type) {
    case "session.created":
    case "session.updated": {
      const s = event.session || {};
      $("session-params").textContent =
        `voice ${s.voice}, model ${s.model}, temperature ${s.temperature}` +
        (s.instructions ? `, instructions "${s.instructions}"` : "");
      break;
    }
    case "conversation.item.input_audio_transcription.completed":
      addItem("user", event.transcript || event.text || event.message || "");
      break;
    case "response.output_item.done":
      addItem("assistant", event.text || event.message || "");
      break;
  }
}

function sendSessionUpdate() {
  if (!call || call.channel.readyState !== "open") return;
  const data = { voice: $("voice").value, modalities: ["audio"] };
  const instructions = $("instructions").value.trim();
  if (instructions) data.instructions = instructions;
  const message = { event: "session.update", data };
  call.channel.send(JSON.stringify(message));
  logEvent("out", message);
}

// A tone in short bursts, each burst one "turn", for a machine without a microphone (or a page
// that is not a secure context, where getUserMedia does not exist).
function toneStream(audioContext) {
  const oscillator = audioContext.createOscillator();
  const gain = audioContext.createGain();
  const destination = audioContext.createMediaStreamDestination();
  oscillator.frequency.value = 330;
  gain.gain.value = 0;
  const start = audioContext.currentTime + 0.3;
  for (let i = 0; i < 100; i++) {
    const t = start + i * 4; // 1.2 s of tone, then silence until the next turn
    gain.gain.setValueAtTime(0.3, t);
    gain.gain.setValueAtTime(0, t + 1.2);
  }
  oscillator.connect(gain).connect(destination);
  oscillator.start();
  return destination.stream;
}

async function inputStream(audioContext) {
  if ($("source").value === "mic") {
    if (!navigator.mediaDevices?.getUserMedia) {
      showNote("No microphone here: this page is not a secure context (use http://localhost or " +
        "--tls). Using the test tone instead.");
    } else {
      try {
        return await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
          video: false,
        });
      } catch (error) {
        showNote(`Microphone unavailable (${error.name}); using the test tone instead.`);
      }
    }
    $("source").value = "tone";
  }
  return toneStream(audioContext);
}

function gatherCandidates(pc) {
  return new Promise((resolve) => {
    const candidates = [];
    const done = () => {
      pc.removeEventListener("icecandidate", onCandidate);
      clearTimeout(timer);
      resolve(candidates);
    };
    const onCandidate = (event) => {
      if (event.candidate) {
        const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
        candidates.push({ candidate, sdpMid, sdpMLineIndex });
      } else {
        done();
      }
    };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body?.error?.message || body?.detail?.[0]?.msg || response.statusText;
    throw new Error(`${options?.method || "GET"} ${url}: ${response.status} ${message}`);
  }
  return body;
}

function watchLevel(audioContext, stream) {
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  audioContext.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const rms = Math.sqrt(sum / samples.length);
    $("level").value = Math.min(1, rms * 4);
    // The loudest the AI has been this call: what the browser suite checks it heard.
    $("level").dataset.peak = Math.max(Number($("level").dataset.peak || 0), rms);
  }, 100);
  return () => clearInterval(timer);
}

async function startCall() {
  showNote("");
  $("items").replaceChildren();
  $("conversation-id").textContent = "—";
  $("session-params").textContent = "—";
  $("level").dataset.peak = 0;
  setState("connecting");
  const audioContext = new AudioContext();
  const stop = [];
  try {
    const config = await fetchJson("/_emulator/dev/session-config", { method: "POST" });
    const pc = new RTCPeerConnection({ iceServers: config.iceServers });
    call = { pc, channel: null, audioContext, stop };
    const audio = pc.addTransceiver("audio", { direction: "sendrecv" });
    pc.addTransceiver("video", { direction: "sendonly" });
    const channel = pc.createDataChannel(CHANNEL_LABEL);
    call.channel = channel;
    channel.addEventListener("message", (message) => {
      try {
        onServerEvent(JSON.parse(message.data));
      } catch (error) {
        logEvent("in", { type: "(unparsable)", data: String(message.data) });
      }
    });
    channel.addEventListener("open", () => setState(pc.connectionState));
    pc.addEventListener("track", (event) => {
      $("ai-audio").srcObject = event.streams[0];
      stop.push(watchLevel(audioContext, event.streams[0]));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (call?.pc === pc) setState(pc.connectionState);
    });

    const stream = await inputStream(audioContext);
    call.stream = stream;
    await audio.sender.replaceTrack(stream.getAudioTracks()[0]);

    await pc.setLocalDescription(await pc.createOffer());
    const candidates = await gatherCandidates(pc);
    const instructions = $("instructions").value.trim() || null;
    const result = await fetchJson("/v1/realtime/calls", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${config.ephemeralToken}`,
      },
      body: JSON.stringify({
        offer: { sdp: pc.localDescription.sdp, type: pc.localDescription.type, candidates },
        params: {
          voice: $("voice").value,
          model: "orga-1-beta",
          temperature: 0.5,
          return_transcription: true,
          instructions,
          modalities: ["audio"],
          history: true,
        },
      }),
    });
    $("conversation-id").textContent = result.conversation_id;
    await pc.setRemoteDescription(result.answer);
  } catch (error) {
    showNote(String(error.message || error));
    endCall("failed");
  }
}

function endCall(finalState = "closed") {
  if (!call) return setState(finalState);
  const { pc, stream, audioContext, stop } = call;
  call = null;
  stop.forEach((fn) => fn());
  stream?.getTracks().forEach((track) => track.stop());
  pc.close();
  audioContext.close();
  $("ai-audio").srcObject = null;
  $("level").value = 0;
  setState(finalState);
}

// The voice list is the emulator's catalogue: current voices by language, then the 1.0.x names;
// the current SDKs' default is selected.
async function loadVoices() {
  const catalogue = await fetchJson("/_emulator/demo/voices.json");
  const select = $("voice");
  const groups = new Map();
  for (const voice of catalogue.voices) {
    const label = voice.legacy ? "1.0.x SDK names" : voice.language;
    if (!groups.has(label)) {
      const group = document.createElement("optgroup");
      group.label = label;
      groups.set(label, group);
    }
    const option = new Option(voice.name, voice.name, false, voice.name === catalogue.default);
    option.title = `${voice.description} (${voice.gender}, ${voice.language})`;
    groups.get(label).append(option);
  }
  select.replaceChildren(...groups.values());
  select.value = catalogue.default;
}

loadVoices().catch((error) => showNote(`Cannot load the voices: ${error.message || error}`));
$("start").addEventListener("click", startCall);
$("end").addEventListener("click", () => endCall());
$("send-update").addEventListener("click", sendSessionUpdate);
$("voice").addEventListener("change", sendSessionUpdate);
setState("idle");
