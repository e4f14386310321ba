// A React app on the published @orga-ai/react (and @orga-ai/core), unmodified, bundled by
// esbuild. The test drives it through window.orgaTest:
//   hook      the value of useOrgaAI() at the last render (startSession, enableMic, ...)
//   events    every server event of the data channel, as received
//   callbacks what the SDK's callbacks were called with
//   energy    the AI audio's RMS, measured with WebAudio on hook.aiAudioStream
//   stats()   inbound audio RTP from the peer connection's getStats()
// Only browser APIs are observed (RTCPeerConnection is subclassed to keep a reference and read
// the channel); the SDK's code is not touched.
import React, { useEffect } from "react";
import { createRoot } from "react-dom/client";
import { OrgaAI, OrgaAIProvider, OrgaAudio, useOrgaAI } from "@orga-ai/react";
import { measureEnergy, speechMicrophone, watchPeerConnections } from "./page_probe.js";

const query = new URLSearchParams(location.search);
const test = {
  hook: null,
  events: [],
  callbacks: { sessionCreated: [], conversationCreated: [], messages: [], errors: [] },
  peers: [],
  peerStates: [],
  energy: { peak: 0, peakAt: null, measuring: false },
};
window.orgaTest = test;

watchPeerConnections(test);
if (query.get("mic") === "wav") speechMicrophone();

test.stats = async () => {
  const pc = test.peers.at(-1);
  if (!pc) return null;
  const report = await pc.getStats();
  const out = { inboundAudio: null, selectedPair: null };
  report.forEach((entry) => {
    if (entry.type === "inbound-rtp" && entry.kind === "audio") {
      out.inboundAudio = { packetsReceived: entry.packetsReceived, bytesReceived: entry.bytesReceived };
    }
  });
  return out;
};


function Session() {
  const orga = useOrgaAI();
  test.hook = orga;
  useEffect(() => {
    if (!orga.aiAudioStream) return undefined;
    return measureEnergy(test, orga.aiAudioStream);
  }, [orga.aiAudioStream]);
  return (
    <main>
      <h1>@orga-ai/react against orga-emulator</h1>
      <p id="state">{orga.connectionState}</p>
      <p id="conversation">{orga.conversationId}</p>
      <ol id="items">
        {orga.conversationItems.map((item, i) => (
          <li key={i} data-sender={item.sender}>
            <b>{item.sender}:</b> {item.content.message}
          </li>
        ))}
      </ol>
      {/* Chrome plays a remote stream into WebAudio only while a media element plays it too. */}
      <OrgaAudio stream={orga.aiAudioStream} />
    </main>
  );
}

OrgaAI.init({
  sessionConfigEndpoint: "/api/session-config",
  model: "orga-1-beta",
  voice: query.get("voice") || "coral",
  temperature: Number(query.get("temperature") || "0.3"),
  enableTranscriptions: query.get("transcriptions") !== "false",
  logLevel: query.get("log") || "warn",
});

createRoot(document.getElementById("root")).render(
  <OrgaAIProvider
    callbacks={{
      onSessionCreated: (event) => test.callbacks.sessionCreated.push(event),
      onConversationCreated: (event) => test.callbacks.conversationCreated.push(event),
      onConversationMessageCreated: (item) => test.callbacks.messages.push(item),
      onError: (error) => test.callbacks.errors.push(String(error?.message || error)),
    }}
  >
    <Session />
  </OrgaAIProvider>,
);
