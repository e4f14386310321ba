// What both test apps (the published SDK's, tests/js/browser/sdk_app.jsx, and the current one's,
// tests/js/current/app.jsx) observe in the page, with browser APIs only: the SDK's code is not
// touched. Bundled into each app by esbuild.

// RTCPeerConnection is subclassed to keep every peer, its connection states and the server
// events of the channel it creates, in `test.peers`, `test.peerStates` and `test.events`.
export function watchPeerConnections(test) {
  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeerConnection {
    constructor(...args) {
      super(...args);
      test.peers.push(this);
      this.addEventListener("connectionstatechange", () => test.peerStates.push(this.connectionState));
    }

    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      channel.addEventListener("message", (message) => {
        try {
          test.events.push(JSON.parse(message.data));
        } catch {
          test.events.push({ type: "(unparsable)", raw: String(message.data) });
        }
      });
      return channel;
    }
  };
}

// ?mic=wav: the microphone plays the speech fixture once, then silence, as Chromium's
// --use-file-for-fake-audio-capture does; for Firefox, whose fake microphone is an endless tone.
// Only getUserMedia is replaced; the SDK asks for the mic as usual.
export function speechMicrophone(fetchFile = window.fetch.bind(window)) {
  const devices = navigator.mediaDevices;
  const nativeGetUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    if (!constraints?.audio || constraints.video) return nativeGetUserMedia(constraints);
    const context = new AudioContext();
    const wav = await (await fetchFile("/speech.wav")).arrayBuffer();
    const source = context.createBufferSource();
    source.buffer = await context.decodeAudioData(wav);
    const destination = context.createMediaStreamDestination();
    source.connect(destination);
    source.start();
    return destination.stream;
  };
}

// RMS of the AI's audio every 50 ms into `test.energy`: `peak` (with `peakAt`) is the loudest
// seen since the last reset, and `loudAt` the first time it went over `threshold` (if set).
// Returns the function that stops measuring.
export function measureEnergy(test, stream) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const energy = test.energy;
  energy.measuring = true;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const rms = Math.sqrt(sum / samples.length);
    if (energy.threshold !== undefined && rms > energy.threshold && energy.loudAt == null) {
      energy.loudAt = performance.now();
    }
    if (rms > energy.peak) {
      energy.peak = rms;
      energy.peakAt = Date.now();
    }
  }, 50);
  return () => {
    clearInterval(timer);
    energy.measuring = false;
    context.close();
  };
}
